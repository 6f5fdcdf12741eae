"""``supervision.ports.DayCalls`` on the product's database: the day's calls as KPI facts,
read with the same definitions as the reports (``callcenter.reports_store``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from callcenter.db.models import CallRow
from callcenter.db.repositories import Store
from callcenter.reports.kpi import CallFact
from callcenter.reports_store import IVR_MAX, _arrival, _wait

__all__ = ["StoreDayCalls"]


class StoreDayCalls:
    """The ``calls`` rows with an outcome whose arrival (first queue join, else start) is in
    the range."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def ended_between(self, start: datetime, end: datetime
                            ) -> Sequence[tuple[CallFact, float]]:
        c = CallRow
        stmt = select(c.linked_id, c.started_at, c.queued_at, c.answered_at, c.queue,
                      c.agent_number, c.outcome, c.wait_s, c.talk_s).where(
            c.started_at >= start - IVR_MAX, c.started_at < end, c.outcome.is_not(None))
        async with self.store.transaction() as s:
            rows = (await s.execute(stmt)).all()
        out = []
        for r in rows:
            arrived = _arrival(r)
            if not start <= arrived < end:
                continue
            answered = r.outcome == "answered"
            out.append((CallFact(key=r.linked_id, queue=r.queue,
                                 agent=r.agent_number if answered else "", arrived_at=arrived,
                                 outcome=r.outcome, wait_s=_wait(r), talk_s=r.talk_s or 0.0),
                        arrived.timestamp()))
        return out
