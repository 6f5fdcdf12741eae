"""The complaint clocks, pushed: a timer on the server raises each lapse as it happens.

The 30-minute report, 1-hour temporary-solution and 30-minute second-line clocks of a class-2
complaint (``sla.complaint_clocks``) used to be computed only when someone opened ``/alerts``.
The :class:`ComplaintClockTimer` component sleeps until the next clock is due (at most
``max_sleep_s``; a new complaint or a supervisor's step wakes it at once through
``BusinessService.on_complaint``), then raises every clock that lapsed and was not raised
yet on the ``wallboard`` and ``board`` topics::

    {"type": "alert", "alert": "complaint_clock", "clock": "report_supervisor",
     "complaint_id": 7, "task_number": "CP…", "due_at": "…"}

Raised lapses are remembered per process, for open complaints only (a restarted server
raises the still-lapsed ones once more: a supervisor would rather see it twice than never).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callcenter.business.service import BusinessService
from callcenter.business.sla import ClockName, complaint_clocks, lapsed, next_lapse
from callcenter.topics import BOARD_TOPIC, WALLBOARD_TOPIC

__all__ = ["ComplaintClockTimer"]

logger = logging.getLogger(__name__)

JUST_AFTER = timedelta(seconds=1)  # a clock is overdue just after its due time


@dataclass(slots=True)
class ComplaintClockTimer:
    service: BusinessService
    clock: Callable[[], datetime]
    max_sleep_s: float = 60.0
    name: str = "complaint-clocks"
    raised: set[tuple[int, ClockName]] = field(default_factory=set)
    wake_event: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self.wake_event.set()

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="complaint-clocks")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def tick(self) -> datetime | None:
        """Raise what lapsed by now; when the next clock is due (None: nothing running)."""
        now = self.clock()
        cases = {c.complaint.id: c for c in await self.service.repo.complaints(open_only=True)}
        clocks = [(cid, k) for cid, case in cases.items() for k in complaint_clocks(
            complaint_class=case.complaint.complaint_class,
            created_at=case.complaint.created_at, reported_at=case.complaint.reported_at,
            temporary_solution_at=case.complaint.temporary_solution_at,
            second_line_at=case.second_line_at, closed_at=case.complaint.closed_at, now=now)]
        self.raised &= {(cid, name) for cid, name in self.raised if cid in cases}
        for cid, k in lapsed(clocks, self.raised):
            self.raised.add((cid, k.name))
            alert = {"type": "alert", "alert": "complaint_clock", "clock": k.name.value,
                     "complaint_id": cid, "task_number": cases[cid].task_number,
                     "merchant_name": cases[cid].merchant_name,
                     "due_at": k.due_at.isoformat()}
            self.service.hub.publish(WALLBOARD_TOPIC, alert)
            self.service.hub.publish(BOARD_TOPIC, alert)
            logger.warning("complaint %s: %s clock lapsed at %s", cases[cid].task_number,
                           k.name.value, k.due_at.isoformat())
        return next_lapse(clocks)

    async def _run(self) -> None:
        while True:
            self.wake_event.clear()
            delay = self.max_sleep_s
            try:
                due = await self.tick()
                if due is not None:
                    delay = min(delay, max((due + JUST_AFTER - self.clock()).total_seconds(),
                                           0.0))
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round retries
                logger.exception("complaint clocks: round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake_event.wait(), delay)
