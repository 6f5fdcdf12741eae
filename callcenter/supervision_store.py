"""``supervision.ports`` on the product's database: the day's calls as KPI facts, read with
the same definitions as the reports (``callcenter.reports_store``); the open complaints,
dead letters (the business repository's own reads) and speech alerts behind the wallboard's
standing alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from callcenter.business.repository import BusinessRepository
from callcenter.db.models import CallRow, RecordingRow, SpeechAlertRow
from callcenter.db.repositories import Store
from callcenter.reports.kpi import CallFact
from callcenter.reports_store import IVR_MAX, _arrival, _wait
from supervision.alerts import SPEECH_LIMIT
from supervision.ports import SpeechAlertRecord, StandingState

__all__ = ["StoreDayCalls", "StoreStandingAlerts"]


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


class StoreStandingAlerts:
    """``supervision.ports.StandingAlerts``: the business repository's open complaints and dead
    letters, and the ``speech_alerts`` rows (with their recording's token)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.business = BusinessRepository(store)

    async def current(self, complaints_since: datetime, speech_since: datetime
                      ) -> StandingState:
        complaints = {c.complaint.id: c for c in await self.business.complaints(open_only=True)}
        for case in await self.business.complaints(start=complaints_since):
            complaints.setdefault(case.complaint.id, case)
        dead = await self.business.dead_letters()
        a = SpeechAlertRow
        stmt = (select(a, RecordingRow.token)
                .join(RecordingRow, RecordingRow.id == a.recording_id)
                .where(a.created_at >= speech_since)
                .order_by(a.created_at.desc(), a.id.desc()).limit(SPEECH_LIMIT * 4))
        async with self.store.transaction() as s:
            rows = (await s.execute(stmt)).all()
        speech = [SpeechAlertRecord(id=row.id, linked_id=row.linked_id, recording=token,
                                    keywords=tuple(row.keywords or ()),
                                    hits=tuple(row.hits or ()), at=row.created_at)
                  for row, token in rows]
        return StandingState(complaints=list(complaints.values()), dead_letters=dead,
                             speech=speech)
