"""The callbacks' storage port (``callcenter.callbacks.ports.CallbackStore``) on the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from callcenter.callbacks.keep_place import PlaceState, Request
from callcenter.callbacks.rules import (
    LOW_SATISFACTION,
    CallbackKind,
    CallbackState,
    Candidate,
    Plan,
    Record,
)
from callcenter.db.models import (
    AgentRow,
    CallbackRow,
    CallEventRow,
    CallRow,
    MerchantRow,
    TaskRow,
    UserRow,
)
from callcenter.db.repositories import Store
from callcenter.domain import TaskStatus

__all__ = ["SqlCallbackStore", "insert_plan"]


def _place(row: CallbackRow) -> Request | None:
    if row.queue is None or row.queue_arrived_at is None or row.place_state is None:
        return None
    ref = row.source_ref or ""
    return Request(call_id=ref.removeprefix("queue:"), number=row.callback_number,
                   queue=row.queue, arrived_at=row.queue_arrived_at,
                   priority=row.queue_priority, state=PlaceState(row.place_state),
                   tries=row.place_tries, claimed_by=row.claimed_by, claimed_at=row.claimed_at,
                   retry_at=row.next_attempt_at)  # a queue call-back's retry time


def _record(row: CallbackRow, name: str, number: str) -> Record:
    try:
        state = CallbackState(row.status)
    except ValueError:  # a legacy "refused" row: finished
        state = CallbackState.DONE
    due = row.due_at or datetime.combine(row.planned_for, datetime.min.time()).astimezone()
    return Record(id=row.id, merchant_id=row.merchant_id, kind=CallbackKind(row.kind),
                  state=state, planned_for=row.planned_for, due_at=due,
                  agent_number=row.agent_number, purpose=row.purpose,
                  complaint_id=row.complaint_id, source_ref=row.source_ref,
                  pending_since=row.pending_since, attempts=row.attempts,
                  next_attempt_at=row.next_attempt_at, answers=dict(row.answers or {}),
                  result=row.result, completed_at=row.completed_at,
                  reviewed_by=row.reviewed_by, reviewed_at=row.reviewed_at,
                  merchant_name=name, merchant_number=number, place=_place(row))


def _values(plan: Plan, now: datetime) -> dict[str, Any]:
    return {"merchant_id": plan.merchant_id, "complaint_id": plan.complaint_id,
            "purpose": plan.purpose[:40], "status": CallbackState.PLANNED.value,
            "planned_for": plan.planned_for, "due_at": plan.due_at,
            "agent_number": plan.agent_number, "answers": {}, "result": "",
            "updated_at": now, "kind": plan.kind.value, "source_ref": plan.source_ref,
            "attempts": 0, "reviewed_by": ""}


async def insert_plan(session: Any, plan: Plan, now: datetime) -> bool:
    """Insert ``plan`` in the caller's transaction unless its ``source_ref`` exists (used
    when a complaint is closed, inside that transaction); True when inserted."""
    found = await session.scalar(select(CallbackRow.id)
                                 .where(CallbackRow.source_ref == plan.source_ref))
    if found is not None:
        return False
    session.add(CallbackRow(**_values(plan, now)))
    return True


class SqlCallbackStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _query(self) -> Any:
        return (select(CallbackRow, MerchantRow.name, MerchantRow.merchant_number)
                .join(MerchantRow, MerchantRow.id == CallbackRow.merchant_id))

    async def find(self, *, state: CallbackState | None = None, agent_number: str | None = None,
                   planned_from: date | None = None, planned_to: date | None = None,
                   limit: int = 500) -> list[Record]:
        stmt = self._query()
        if state is not None:
            stmt = stmt.where(CallbackRow.status == state.value)
        if agent_number is not None:
            stmt = stmt.where(CallbackRow.agent_number == agent_number)
        if planned_from is not None:
            stmt = stmt.where(CallbackRow.planned_for >= planned_from)
        if planned_to is not None:
            stmt = stmt.where(CallbackRow.planned_for <= planned_to)
        stmt = stmt.order_by(CallbackRow.due_at, CallbackRow.id).limit(limit)
        async with self.store.transaction() as s:
            return [_record(r, n, m) for r, n, m in (await s.execute(stmt)).all()]

    async def get(self, callback_id: int) -> Record | None:
        async with self.store.transaction() as s:
            found = (await s.execute(self._query().where(CallbackRow.id == callback_id))).first()
            return _record(*found) if found is not None else None

    async def save(self, record: Record, now: datetime) -> None:
        async with self.store.transaction() as s:
            await s.execute(update(CallbackRow).where(CallbackRow.id == record.id).values(
                status=record.state.value, answers=dict(record.answers),
                result=record.result[:400], pending_since=record.pending_since,
                attempts=record.attempts, next_attempt_at=record.next_attempt_at,
                completed_at=record.completed_at, reviewed_by=record.reviewed_by,
                reviewed_at=record.reviewed_at, agent_number=record.agent_number,
                updated_at=now))

    async def insert(self, plans: Sequence[Plan], now: datetime) -> int:
        inserted = 0
        for plan in plans:
            try:
                async with self.store.transaction() as s:
                    inserted += await insert_plan(s, plan, now)
            except IntegrityError:  # planned concurrently by another process
                continue
        return inserted

    async def known_refs(self, refs: Sequence[str]) -> set[str]:
        if not refs:
            return set()
        async with self.store.transaction() as s:
            rows = await s.scalars(select(CallbackRow.source_ref)
                                   .where(CallbackRow.source_ref.in_(list(refs))))
            return {r for r in rows if r is not None}

    async def load(self, day: date) -> dict[str, int]:
        async with self.store.transaction() as s:
            rows = await s.execute(select(CallbackRow.agent_number, func.count())
                                   .where(CallbackRow.planned_for == day,
                                          CallbackRow.agent_number != "")
                                   .group_by(CallbackRow.agent_number))
            return {a: int(n) for a, n in rows.all()}

    async def unassigned(self, up_to: date) -> list[Record]:
        # queue call-backs are not planned: the agent free in the caller's turn takes them
        stmt = self._query().where(CallbackRow.agent_number == "",
                                   CallbackRow.place_state.is_(None),
                                   CallbackRow.status != CallbackState.DONE.value,
                                   CallbackRow.planned_for <= up_to)
        async with self.store.transaction() as s:
            return [_record(r, n, m) for r, n, m in (await s.execute(stmt)).all()]

    async def assign(self, assignments: dict[int, tuple[str, date]], now: datetime) -> None:
        async with self.store.transaction() as s:
            for callback_id, (agent, day) in assignments.items():
                await s.execute(update(CallbackRow).where(CallbackRow.id == callback_id)
                                .values(agent_number=agent, planned_for=day, updated_at=now))

    async def candidates(self, since: datetime, until: datetime) -> list[Candidate]:
        out: list[Candidate] = []
        async with self.store.transaction() as s:
            tasks = await s.execute(
                select(TaskRow.task_number, TaskRow.merchant_id, TaskRow.updated_at,
                       TaskRow.kind)
                .where(TaskRow.status == TaskStatus.DONE.value, TaskRow.updated_at >= since,
                       TaskRow.updated_at < until, TaskRow.kind != "complaint"))
            for number, merchant_id, at, kind in tasks.all():
                out.append(Candidate(merchant_id=merchant_id, kind=CallbackKind.SERVICE,
                                     source_ref=f"task:{number}", purpose=f"{kind} {number}",
                                     source_at=at))
            calls = await s.execute(
                select(CallRow.linked_id, CallRow.merchant_id, CallRow.ended_at,
                       CallRow.satisfaction)
                .where(CallRow.satisfaction.is_not(None),
                       CallRow.satisfaction <= LOW_SATISFACTION,
                       CallRow.merchant_id.is_not(None), CallRow.ended_at >= since,
                       CallRow.ended_at < until))
            for linked_id, call_merchant, ended, score in calls.all():
                if call_merchant is None or ended is None:
                    continue
                out.append(Candidate(merchant_id=call_merchant, kind=CallbackKind.SERVICE,
                                     source_ref=f"survey:{linked_id}",
                                     purpose=f"satisfaction {score}", source_at=ended))
        return out

    async def insert_place(self, plan: Plan, place: Request, position: int | None,
                           now: datetime) -> bool:
        """Insert a queue call-back with its place unless its ``source_ref`` (the call)
        exists; True when inserted. Exactly once across restarts and concurrent requests:
        the unique ``source_ref`` decides."""
        values = {**_values(plan, now), "queue": place.queue,
                  "queue_arrived_at": place.arrived_at, "queue_priority": place.priority,
                  "queue_position": position, "callback_number": place.number[:20],
                  "place_state": place.state.value, "place_tries": place.tries,
                  "claimed_by": place.claimed_by, "claimed_at": place.claimed_at,
                  "next_attempt_at": place.retry_at}
        try:
            async with self.store.transaction() as s:
                found = await s.scalar(select(CallbackRow.id)
                                       .where(CallbackRow.source_ref == plan.source_ref))
                if found is not None:
                    return False
                s.add(CallbackRow(**values))
        except IntegrityError:  # the same call stored concurrently
            return False
        return True

    async def places(self, queue: str | None = None) -> list[Record]:
        """Queue call-backs whose place is open (waiting or claimed), in any queue or one."""
        stmt = self._query().where(CallbackRow.place_state.in_(
            [PlaceState.WAITING.value, PlaceState.CLAIMED.value]))
        if queue is not None:
            stmt = stmt.where(CallbackRow.queue == queue)
        async with self.store.transaction() as s:
            return [_record(r, n, m) for r, n, m in (await s.execute(stmt)).all()]

    async def save_place(self, callback_id: int, before: Request, after: Request,
                         now: datetime) -> bool:
        """Compare-and-set the place: written only if the row still holds ``before``
        (state, tries, claim), so two processes never both claim one call-back."""
        async with self.store.transaction() as s:
            result = await s.execute(
                update(CallbackRow).where(
                    CallbackRow.id == callback_id,
                    CallbackRow.place_state == before.state.value,
                    CallbackRow.place_tries == before.tries,
                    CallbackRow.claimed_by == before.claimed_by)
                .values(place_state=after.state.value, place_tries=after.tries,
                        claimed_by=after.claimed_by, claimed_at=after.claimed_at,
                        next_attempt_at=after.retry_at, updated_at=now))
            return bool(getattr(result, "rowcount", 0) == 1)

    async def add_event(self, linked_id: str, at: datetime, kind: str,
                        data: Mapping[str, Any]) -> None:
        async with self.store.transaction() as s:
            s.add(CallEventRow(linked_id=linked_id, at=at, kind=kind, data=dict(data)))

    async def merchant_ids(self, numbers: Sequence[str]) -> dict[str, int]:
        if not numbers:
            return {}
        async with self.store.transaction() as s:
            rows = await s.execute(select(MerchantRow.merchant_number, MerchantRow.id)
                                   .where(MerchantRow.merchant_number.in_(list(numbers))))
            return {str(n): int(i) for n, i in rows.all()}

    async def agents(self) -> list[str]:
        async with self.store.transaction() as s:
            rows = await s.execute(
                select(AgentRow.agent_number)
                .outerjoin(UserRow, UserRow.id == AgentRow.user_id)
                .where((UserRow.active.is_(True)) | (AgentRow.user_id.is_(None)))
                .order_by(AgentRow.agent_number))
            return [a for (a,) in rows.all()]
