"""Callbacks (回访): the use cases over the rules and the storage port."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from callcenter.business.sla import Clock
from callcenter.callbacks import keep_place, rules
from callcenter.callbacks.keep_place import PlaceState, Request
from callcenter.callbacks.ports import CallbackStore
from callcenter.callbacks.rules import CallbackKind, CallbackState, Candidate, Plan, Record
from callcenter.errors import NotFound, ValidationError
from callcenter.topics import WALLBOARD_TOPIC, Publisher, agent_topic

__all__ = ["CallbackService", "PlanResult"]


@dataclass(frozen=True, slots=True)
class PlanResult:
    day: date
    planned: int  # new callbacks
    assigned: int  # earlier unassigned ones (complaint follow-ups) given an agent


@dataclass(slots=True)
class CallbackService:
    store: CallbackStore
    hub: Publisher
    tz: tzinfo
    alerted: set[int] = field(default_factory=set)
    """Pending callbacks already alerted on the wallboard as overdue (once each per process)."""

    async def find(self, *, state: CallbackState | None = None, agent_number: str | None = None,
                   month: date | None = None) -> list[Record]:
        first = last = None
        if month is not None:
            first = month.replace(day=1)
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return await self.store.find(state=state, agent_number=agent_number,
                                     planned_from=first, planned_to=last)

    async def get(self, callback_id: int, agent_number: str | None = None) -> Record:
        """The callback (NotFound, also when ``agent_number`` is given and it is not theirs)."""
        record = await self.store.get(callback_id)
        if record is None or (agent_number is not None and record.agent_number != agent_number):
            raise NotFound(f"no callback {callback_id}")
        return record

    async def submit(self, callback_id: int, data: dict[str, Any], *,
                     agent_number: str | None, now: datetime) -> Record:
        """The agent's form. ValidationError, NotFound, Conflict (done already)."""
        record = await self.get(callback_id, agent_number)
        form = rules.form_from_json(data)
        updated = rules.record_form(record, form, now, self.tz)
        await self.store.save(updated, now)
        if updated.state is CallbackState.DONE:
            self.alerted.discard(updated.id)
            self.hub.publish(WALLBOARD_TOPIC, {"type": "callback", "event": "done",
                                               "callback_id": updated.id,
                                               "agent_number": updated.agent_number})
        return updated

    async def review(self, callback_id: int, reviewer: str, now: datetime) -> Record:
        updated = rules.review(await self.get(callback_id), reviewer, now)
        await self.store.save(updated, now)
        return updated

    async def plan_day(self, day: date, now: datetime) -> PlanResult:
        """Plan ``day``: the tasks closed and the low scores of the day before, plus earlier
        unassigned callbacks due by then, spread over the agents. Idempotent."""
        start = datetime.combine(day - timedelta(days=1), time(0), self.tz).astimezone(UTC)
        candidates = await self.store.candidates(start, start + timedelta(days=1))
        return await self._plan(day, candidates, now)

    async def _plan(self, day: date, candidates: Sequence[Candidate], now: datetime
                    ) -> PlanResult:
        agents = await self.store.agents()
        load = await self.store.load(day)
        known = await self.store.known_refs([c.source_ref for c in candidates])
        plans = rules.assign(candidates, agents, day, self.tz, load=load, known=known)
        inserted = await self.store.insert(plans, now)
        # earlier callbacks (complaint follow-ups, uploads without agents) due by ``day``
        waiting = await self.store.unassigned(day)
        counts = dict.fromkeys(agents, 0)
        counts.update({a: n for a, n in (await self.store.load(day)).items() if a in counts})
        assignments: dict[int, tuple[str, date]] = {}
        for record in waiting:
            if not counts:
                break
            agent = min(counts, key=lambda a: (counts[a], a))
            counts[agent] += 1
            assignments[record.id] = (agent, day)
        await self.store.assign(assignments, now)
        for agent in {p.agent_number for p in plans} | {a for a, _ in assignments.values()}:
            if agent:
                self.hub.publish(agent_topic(agent), {"type": "callbacks", "event": "planned",
                                                      "day": day.isoformat()})
        return PlanResult(day, inserted, len(assignments))

    async def upload(self, text: str, day: date, now: datetime) -> PlanResult:
        """The department's CSV (``merchant_number,kind,purpose``) planned on ``day``."""
        rows = rules.parse_csv_rows(list(csv.reader(io.StringIO(text))))
        ids = await self.store.merchant_ids([n for n, _, _ in rows])
        unknown = sorted({n for n, _, _ in rows} - set(ids))
        if unknown:
            raise ValidationError("csv", "unknown merchants: " + ", ".join(unknown[:5]))
        at = datetime.combine(day, time(9), self.tz)
        candidates = [Candidate(merchant_id=ids[n], kind=k, purpose=p, source_at=at,
                                source_ref=f"csv:{day.isoformat()}:{n}:{k.value}")
                      for n, k, p in rows]
        return await self._plan(day, candidates, now)

    async def queue_callback(self, merchant_id: int, ref: str, now: datetime, *,
                             place: Request | None = None, position: int | None = None
                             ) -> bool:
        """A caller asked from the queue to be called back (kind ``queue_callback``, source
        ``queue:<ref>``, ``ref`` the call's linked id). With ``place`` (keep-my-place, the
        IVR's route ``callback``) the request keeps the caller's place and waits for an agent
        free in that turn (``keep_place.py``): it is not planned to an agent, it is stored
        exactly once per call and not again while the same number has one open in that queue
        (rule 2). True when stored now."""
        day = now.astimezone(self.tz).date()
        if place is None:
            result = await self._plan(day, [Candidate(merchant_id, CallbackKind.QUEUE_CALLBACK,
                                                      f"queue:{ref}", "queue callback", now)],
                                      now)
            return result.planned == 1
        place = replace(place, call_id=ref, state=PlaceState.WAITING, tries=0,
                        claimed_by="", claimed_at=None)
        ledger = {r.place.call_id: r.place for r in await self.store.places(place.queue)
                  if r.place is not None}
        _, added = keep_place.request(ledger, place)
        if not added:
            return False
        plan = Plan(merchant_id=merchant_id, kind=CallbackKind.QUEUE_CALLBACK,
                    source_ref=f"queue:{ref}", purpose=f"queue call-back {place.queue}",
                    planned_for=day,
                    due_at=rules.due_for(CallbackKind.QUEUE_CALLBACK, day, now, self.tz),
                    agent_number="")
        inserted = await self.store.insert_place(plan, place, position, now)
        if inserted:
            self.hub.publish(WALLBOARD_TOPIC, {"type": "callback", "event": "queued",
                                               "queue": place.queue, "merchant_id": merchant_id,
                                               "arrived_at": place.arrived_at.isoformat()})
        return inserted

    async def summary(self, month: date, now: datetime) -> list[dict[str, Any]]:
        return rules.monthly_summary(await self.find(month=month), now)

    async def overdue(self, now: datetime) -> list[tuple[Record, Clock]]:
        out: list[tuple[Record, Clock]] = []
        for record in await self.store.find(state=CallbackState.PENDING):
            clock = rules.pending_clock(record, now)
            if clock is not None and clock.flagged:
                out.append((record, clock))
        return out

    async def tick(self, now: datetime) -> int:
        """Raise each newly overdue pending callback once on the wallboard; how many."""
        raised = 0
        for record, clock in await self.overdue(now):
            if record.id in self.alerted:
                continue
            self.alerted.add(record.id)
            raised += 1
            self.hub.publish(WALLBOARD_TOPIC, {
                "type": "alert", "alert": "callback_overdue", "callback_id": record.id,
                "merchant_id": record.merchant_id, "merchant_name": record.merchant_name,
                "agent_number": record.agent_number,
                "pending_since": record.pending_since.isoformat() if record.pending_since
                else None, "due_at": clock.due_at.isoformat()})
        return raised

