"""How recordings join the running product (called from ``callcenter.app``).

``install(runtime, options)`` adds the playback web module (``/recordings/<token>``: by opaque
id, after a role check, seekable) to ``runtime.modules`` and returns the recordings index
(:class:`RecordingRepository`) on the runtime's store. Recordings need no component: Asterisk
(or the simulator) writes the files into ``recording.dir``.
"""

from __future__ import annotations

from callcenter.runtime import RunOptions, Runtime
from recording.repository import RecordingRepository
from recording.web import MODULE

__all__ = ["install"]


async def install(runtime: Runtime, options: RunOptions) -> RecordingRepository:
    """Add the playback module to ``runtime``; returns the recordings index."""
    runtime.modules.append(MODULE)
    return RecordingRepository(runtime.store)
