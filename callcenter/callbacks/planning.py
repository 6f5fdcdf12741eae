"""The day's service-quality callbacks (回访) planned every day, and from the command line.

``callcenter callbacks plan [--date YYYY-MM-DD]`` plans one day (default: today in
``locale.timezone``) with :meth:`CallbackService.plan_day`: the tasks closed and the low
satisfaction scores of the day before, plus the earlier unassigned callbacks due by then
(complaint follow-ups, uploads), spread over the active agents (``rules.py`` rule 1).
Planning is idempotent (every source has a ``source_ref``), so running it twice, or after the
daily job, plans nothing twice. It is audited (``callback.plan``, actor ``cli:<user>``).

:class:`DailyPlanJob` runs the same planning inside ``callcenter serve`` (a
``recording.periodic.PeriodicJob``, like the recordings' jobs): every ``interval`` seconds it
plans today once it is ``PLAN_AT`` local time or later (07:30, before the 08:00 shift band),
once per day and process; a restart later that day plans again, which adds nothing new.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, date, datetime, time
from typing import Any, Final
from zoneinfo import ZoneInfo

from callcenter.audit import AuditEntry
from callcenter.callbacks.service import CallbackService, PlanResult
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.db.engine import check_database, create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.errors import ValidationError
from callcenter.settings import Settings
from callcenter.web.hub import Hub
from recording.periodic import PeriodicJob

__all__ = ["PLAN_AT", "DailyPlanJob", "add_parsers", "plan", "run"]

PLAN_AT: Final = time(7, 30)


def add_parsers(sub: Any) -> None:
    """Add ``callbacks plan`` to the CLI's subparsers."""
    callbacks = sub.add_parser("callbacks", help="service-quality callbacks (回访)")
    callbacks_sub = callbacks.add_subparsers(dest="action", required=True)
    day = callbacks_sub.add_parser("plan", help="plan a day's callbacks and assign agents")
    day.add_argument("--date", default="", help="YYYY-MM-DD (default: today, locale.timezone)")


def _day(raw: str, now: datetime, tz: ZoneInfo) -> date:
    if not raw:
        return now.astimezone(tz).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError("date", f"YYYY-MM-DD, got {raw!r}") from None


async def plan(store: Store, service: CallbackService, day: date, now: datetime, actor: str
               ) -> PlanResult:
    """Plan ``day`` and write the audit line."""
    result = await service.plan_day(day, now)
    await store.audit.record(AuditEntry(at=now, actor=actor, action="callback.plan",
                                        target=day.isoformat(),
                                        details={"planned": result.planned,
                                                 "assigned": result.assigned}))
    return result


def run(args: argparse.Namespace, settings: Settings, *, actor: str,
        now: datetime | None = None) -> int:
    """``callcenter callbacks plan``: the exit status (errors raise ``CallcenterError``)."""
    tz = ZoneInfo(settings.locale.timezone)
    moment = now or datetime.now(UTC)
    day = _day(args.date, moment, tz)

    async def work() -> PlanResult:
        engine = create_engine(settings.database.url, echo=settings.database.echo)
        try:
            await check_database(engine)
            store = Store(session_factory(engine))
            service = CallbackService(SqlCallbackStore(store), Hub(), tz)
            return await plan(store, service, day, moment, actor)
        finally:
            await engine.dispose()

    result = asyncio.run(work())
    print(f"callbacks {day.isoformat()}: {result.planned} planned, "
          f"{result.assigned} earlier ones assigned")
    return 0


class DailyPlanJob(PeriodicJob):
    """Plans today once a day from ``PLAN_AT`` local time on (see the module docstring)."""

    name = "callbacks-daily-plan"
    interval = 600.0

    def __init__(self, store: Store, service: CallbackService, *,
                 clock: Any = None, plan_at: time = PLAN_AT) -> None:
        self.store = store
        self.service = service
        self.clock = clock or (lambda: datetime.now(UTC))
        self.plan_at = plan_at
        self.planned_day: date | None = None

    async def run_once(self) -> PlanResult | None:
        now: datetime = self.clock()
        local = now.astimezone(self.service.tz)
        if local.time() < self.plan_at or self.planned_day == local.date():
            return None
        result = await plan(self.store, self.service, local.date(), now, "system:daily-plan")
        self.planned_day = local.date()
        return result
