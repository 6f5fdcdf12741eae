"""How the callbacks join the running product (called from ``callcenter.app``).

``install(runtime, options, cti)`` adds the web module (``/callbacks`` and ``/api/callbacks…``),
the ``callbacks`` component: every minute it raises each pending callback whose 2-day clock
ran out on the ``wallboard`` topic (once per callback and process); and, given the CTI, the
``queue-callbacks`` component: every second it offers keep-my-place call-backs to the agent
free in the caller's turn (``offers.py``); and ``callbacks-daily-plan``, which plans each
day's callbacks from 07:30 local time (``planning.py``). It returns the
:class:`CallbackService`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.callback_desks import CtiAgentDesks
from callcenter.callbacks.keep_place import Policy
from callcenter.callbacks.offers import QueueCallbackOffers
from callcenter.callbacks.planning import DailyPlanJob
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks.web import web_module
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.runtime import RunOptions, Runtime
from cti.service import CtiService

__all__ = ["CallbackClock", "QueueCallbackDesk", "install"]

from recording.periodic import PeriodicJob

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


class QueueCallbackDesk(PeriodicJob):
    """Keep-my-place call-backs offered in the caller's turn: ``tick`` every second (the
    recordings' job shape, ``recording.periodic.PeriodicJob``)."""

    name = "queue-callbacks"
    interval = 1.0

    def __init__(self, offers: QueueCallbackOffers) -> None:
        self.offers = offers

    async def run_once(self) -> None:
        await self.offers.tick(datetime.now(UTC))


def build_service(runtime: Runtime) -> CallbackService:
    return CallbackService(SqlCallbackStore(runtime.store), runtime.hub,
                           ZoneInfo(runtime.settings.locale.timezone))


async def install(runtime: Runtime, options: RunOptions, cti: CtiService | None = None
                  ) -> CallbackService:
    service = build_service(runtime)
    offers = None
    if cti is not None:
        configured = runtime.settings.callbacks
        offers = QueueCallbackOffers(service, CtiAgentDesks(cti, runtime.store),
                                     policy=Policy(configured.queue_callback_attempts,
                                                   timedelta(seconds=configured
                                                             .queue_callback_retry_s)))
        runtime.components.append(QueueCallbackDesk(offers))
    runtime.modules.append(web_module(service, offers))
    runtime.components.append(CallbackClock(service))
    runtime.components.append(DailyPlanJob(runtime.store, service))
    return service
