"""Which event loop runs ``callcenter serve``, and how its garbage collector is tuned. Adapter.

uvloop (libuv under asyncio's API) is the default where it is installed: the FastAGI server
does one socket write and one read per AGI command, and uvloop's C transports cut the
server's CPU per command by about a quarter and the p99 command turnaround at 1,000
concurrent calls from ~5 ms to ~1 ms (``bench/agi_load.py --loop asyncio|uvloop``). The
standard loop stays available (``server.event_loop = "asyncio"``) and is what runs where
uvloop cannot be installed (it does not support Windows).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def runner(kind: str) -> Callable[[Coroutine[Any, Any, T]], T]:
    """``asyncio.run`` or ``uvloop.run`` for ``kind`` (``"uvloop"``/``"asyncio"``).

    Asking for uvloop where it is not installed falls back to asyncio with a warning: the
    product works the same, only slower under load."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            logger.warning("server.event_loop = uvloop, but uvloop is not installed: "
                        "using the standard asyncio loop")
        else:
            return uvloop.run
    return asyncio.run


def loop_name() -> str:
    """What runs the current loop: ``uvloop`` or ``asyncio`` (for the start-up banner)."""
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


# The cyclic GC's first-generation threshold once the server is up (CPython's default: 700).
GEN0_THRESHOLD = 50_000


def settle_gc() -> None:
    """Call once everything is built: keep the cyclic garbage collector off the call path.

    A live call is a chain of suspended coroutines, futures and timer handles. With 1,000
    calls in the IVR, every gen-0 collection (CPython: each 700 net allocations) finds some
    30,000 such young objects alive and walks them all, 10-30 ms in which no caller's command
    is answered; and it frees nothing, because a FastAGI session leaves no reference cycles
    behind on uvloop (reference counting frees it). So: collect once, freeze what start-up
    built (it lives for the whole run), and collect the young generation 70 times less often.
    What cycles other parts make (aiohttp, SQLAlchemy) are still collected, just later.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
