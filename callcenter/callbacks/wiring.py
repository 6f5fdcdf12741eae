"""How the callbacks join the running product (called from ``callcenter.app``).

``install(runtime, options)`` adds the web module (``/callbacks`` and ``/api/callbacks…``) and
the ``callbacks`` component: every minute it raises each pending callback whose 2-day clock
ran out on the ``wallboard`` topic (once per callback and process). It returns the
:class:`CallbackService`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from callcenter.callbacks.service import CallbackService
from callcenter.callbacks.web import web_module
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.runtime import RunOptions, Runtime

__all__ = ["CallbackClock", "install"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class CallbackClock:
    """The 2-day clock of pending callbacks, pushed: ``tick`` every ``every_s`` seconds."""

    service: CallbackService
    every_s: float = 60.0
    name: str = "callbacks"
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="callback-clock")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            try:
                raised = await self.service.tick(datetime.now(UTC))
                if raised:
                    logger.warning("callbacks: %d pending callbacks past the 2-day limit",
                                   raised)
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round retries
                logger.exception("callbacks: clock round failed")
            await asyncio.sleep(self.every_s)


def build_service(runtime: Runtime) -> CallbackService:
    return CallbackService(SqlCallbackStore(runtime.store), runtime.hub,
                           ZoneInfo(runtime.settings.locale.timezone))


async def install(runtime: Runtime, options: RunOptions) -> CallbackService:
    service = build_service(runtime)
    runtime.modules.append(web_module(service))
    runtime.components.append(CallbackClock(service))
    return service
