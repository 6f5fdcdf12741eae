"""How recordings join the running product (called from ``callcenter.app``).

``install(runtime, options)`` adds the recordings web module (the ``/recordings`` search page
and API, playback by opaque token: role-checked, audited, seekable, decrypted by range) to
``runtime.modules``; with ``recording.pipeline`` on and opus-tools installed it adds the storage
pipeline worker (compress → verify → seal → index → remove the original) and the retention
purge job as components, and the daily QA draw, and a
``recordings`` health probe with the count per stage. Returns the recordings index
(:class:`RecordingRepository`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.qa_directory import StoreQa
from callcenter.recording_directory import StorePipelineStore, StoreRetention
from callcenter.runtime import RunOptions, Runtime
from recording import codec
from recording.pipeline import StoragePipeline
from recording.purge import PurgeJob
from recording.qa_draw import QaDrawJob
from recording.repository import RecordingRepository
from recording.retention import RetentionPolicy
from recording.sealed import Keyring
from recording.web import MODULE

__all__ = ["install", "keyring_of"]

logger = logging.getLogger(__name__)


def keyring_of(spec: str) -> Keyring | None:
    """The keyring configured in ``recording.keys`` (None: encryption off)."""
    return Keyring.parse(spec)


def _now() -> datetime:
    return datetime.now(UTC)


async def install(runtime: Runtime, options: RunOptions) -> RecordingRepository:
    """Add the recordings module (and the pipeline worker) to ``runtime``; returns the index.
    Raises ``ValueError`` for malformed ``recording.keys`` or ``recording.retention_rules``."""
    settings = runtime.settings.recording
    keyring = keyring_of(settings.keys)
    runtime.modules.append(MODULE)
    ports = StorePipelineStore(runtime.store)
    pipeline_state: dict[str, Any] = {"ok": True, "encrypted": keyring is not None}
    policy = RetentionPolicy.parse(settings.retention_days, settings.retention_rules)
    if settings.pipeline and codec.available():
        runtime.components.append(StoragePipeline(
            ports, Path(settings.dir), keyring, _now, interval=settings.pipeline_interval))
        runtime.components.append(PurgeJob(StoreRetention(runtime.store), Path(settings.dir),
                                           policy, _now))
    elif settings.pipeline:
        logger.warning("recording pipeline off: opus-tools (opusenc, opusdec) not installed")
        pipeline_state.update(ok=False, error="opus-tools not installed")
    else:
        pipeline_state["pipeline"] = "off"
    runtime.components.append(QaDrawJob(
        StoreQa(runtime.store), ZoneInfo(runtime.settings.locale.timezone), _now,
        per_agent=settings.qa_per_agent, min_seconds=settings.qa_min_seconds))

    async def probe() -> dict[str, Any]:
        return {**pipeline_state, "stages": await ports.counts()}

    runtime.health["recordings"] = probe
    return RecordingRepository(runtime.store)
