"""Database access of the business package: the only module here that touches SQLAlchemy.

Write methods take the caller's session (``session=``), so one use case puts the call's
disposition, the task, its history, the complaint and the outbox row in ONE transaction: either
all of it is there or none of it. Everything returned is a frozen dataclass.

The outbox claim is the one place where the backends differ: on PostgreSQL the claim query runs
``SELECT … FOR UPDATE OF outbox SKIP LOCKED``, so several workers (processes) each take
different rows without waiting on each other; SQLite ignores row locks, and takes one worker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Select, Subquery, and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from callcenter import call_records
from callcenter.business.outbox_state import RETRY_WINDOW, Delivery, delivery_from_entry
from callcenter.business.records import (
    BoardFilter,
    CallRelation,
    CallSummary,
    ComplaintCase,
    DeadLetter,
    NewRecord,
    OutboxEntry,
    OutboxState,
    OutboxStats,
    PendingCallback,
    TaskCall,
    TaskDetail,
    TaskEvent,
    TaskRecord,
    TaskView,
    UnloggedCall,
)
from callcenter.business.sla import PROGRESS_LIMIT
from callcenter.business.task_state import TaskState
from callcenter.business.wrapup import counter_key, task_number
from callcenter.db.models import (
    CallbackRow,
    CallEventRow,
    CallRow,
    ComplaintRow,
    MerchantRow,
    OutboxRow,
    RecordingRow,
    TaskCallRow,
    TaskCounterRow,
    TaskEventRow,
    TaskRow,
    TerminalRow,
    WebhookEventRow,
)
from callcenter.db.repositories import (
    Store,
    call_from_row,
    merchant_from_row,
    task_from_row,
    terminal_from_row,
)
from callcenter.domain import (
    OPEN_TASK_STATUSES,
    Call,
    CallbackStatus,
    Complaint,
    DeliveryState,
    Merchant,
    Task,
    TaskKind,
    TaskStatus,
    Terminal,
)

logger = logging.getLogger(__name__)

_OPEN = [s.value for s in OPEN_TASK_STATUSES]
_UNFINISHED = [OutboxState.PENDING.value, OutboxState.IN_FLIGHT.value]


# --------------------------------------------------------------------------- row → record


def outbox_from_row(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(
        id=row.id, task_id=row.task_id, task_version=row.task_version,
        idempotency_key=row.idempotency_key, payload=dict(row.payload),
        state=OutboxState(row.state), attempts=row.attempts, created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        give_up_at=row.give_up_at or row.created_at + RETRY_WINDOW,
        delivered_at=row.delivered_at, dead_at=row.dead_at, last_error=row.last_error,
        lease_owner=row.lease_owner,
    )


def complaint_from_row(row: ComplaintRow) -> Complaint:
    return Complaint(
        id=row.id, linked_id=row.linked_id, merchant_id=row.merchant_id,
        complaint_class=row.complaint_class, description=row.description,
        handling=row.handling, result=row.result, amount_yuan=row.amount_yuan,
        media_exposure=row.media_exposure, escalation_tier=row.escalation_tier,
        created_at=row.created_at, reported_at=row.reported_at,
        temporary_solution_at=row.temporary_solution_at, closed_at=row.closed_at,
    )


def _case(row: ComplaintRow, task_number: str, merchant_name: str = "") -> ComplaintCase:
    return ComplaintCase(complaint=complaint_from_row(row), task_id=row.task_id,
                         task_number=task_number, second_line_at=row.second_line_at,
                         merchant_name=merchant_name)


def _record(row: TaskRow) -> TaskRecord:
    return TaskRecord(task_from_row(row), row.disposition, row.department)


def task_call_from_row(row: TaskCallRow) -> TaskCall:
    return TaskCall(linked_id=row.linked_id, agent_number=row.agent_number,
                    relation=CallRelation(row.relation), at=row.at)


def delivery_of(row: OutboxRow) -> Delivery:
    """The machine's view of a row (see :mod:`callcenter.business.outbox_state`)."""
    return delivery_from_entry(outbox_from_row(row))


def task_delivery_state(states: Iterable[str]) -> DeliveryState:
    """A task's delivery state from its outbox rows: dead if any is dead (an alert is up),
    else pending while any is on its way, else delivered."""
    seen = set(states)
    if OutboxState.DEAD.value in seen:
        return DeliveryState.DEAD
    if seen & set(_UNFINISHED):
        return DeliveryState.PENDING
    return DeliveryState.DELIVERED


@dataclass(frozen=True, slots=True)
class WrapupContext:
    """What the wrap-up form is built from."""

    call: Call
    merchant: Merchant | None
    terminals: tuple[Terminal, ...]
    open_tasks: tuple[Task, ...]
    ivr_terminal: str
    record: Task | None  # the record this call already has, if wrapped up


@dataclass(frozen=True, slots=True)
class Completion:
    """What one outbox row's completion changed (for the board)."""

    outbox_id: int
    task_id: int
    task_number: str
    state: OutboxState
    task_delivery_state: DeliveryState


# The call's read of every wrap-up, built once: building one costs more CPU than running it.
# Plain columns, not ORM instances (identity map, instance state: never used here). The
# wrap-up's write of the call is callcenter.call_records.record_disposition (the one writer of
# calls rows), which keeps its statements prebuilt the same way.
_CALL = select(*CallRow.__table__.columns).where(CallRow.linked_id == bindparam("linked_id"))
_CALL_FOR_UPDATE = _CALL.with_for_update()


@dataclass(frozen=True, slots=True)
class FirstDelivery:
    """The outbox row a new record is written with: its payload (built from the record and
    its complaint), its idempotency key (from the number and version), when it is due and
    when its delivery gives up."""

    payload_of: Callable[[TaskRecord, Complaint | None], dict[str, Any]]
    key_of: Callable[[str, int], str]
    now: datetime
    give_up_at: datetime


class BusinessRepository:
    """Reads and writes of wrap-up records, tasks, complaints, webhook events and the outbox."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------ calls and merchants

    async def call(self, s: AsyncSession, linked_id: str, *, lock: bool = False
                   ) -> Call | None:
        """The call; ``lock`` holds its row until the transaction ends (PostgreSQL), so two
        saves of one wrap-up queue up instead of racing."""
        stmt = _CALL_FOR_UPDATE if lock else _CALL
        row = (await s.execute(stmt, {"linked_id": linked_id})).first()
        return call_from_row(cast(CallRow, row)) if row is not None else None

    async def record_disposition(self, s: AsyncSession, linked_id: str, disposition: str,
                                 note: str, merchant_id: int | None) -> None:
        """The call's wrap-up; ``merchant_id`` (when given) is the merchant the agent
        verified. Written by ``callcenter.call_records`` (the wrap-up writer's rule, with its
        prebuilt statements)."""
        await call_records.record_disposition(s, linked_id, disposition, note, merchant_id)

    async def merchant(self, s: AsyncSession, merchant_id: int) -> Merchant | None:
        row = await s.get(MerchantRow, merchant_id)
        return merchant_from_row(row) if row is not None else None

    async def terminal(self, s: AsyncSession, serial: str) -> Terminal | None:
        row = await s.scalar(select(TerminalRow).where(TerminalRow.serial == serial))
        return terminal_from_row(row) if row is not None else None

    async def open_tasks(self, s: AsyncSession, merchant_id: int) -> list[Task]:
        rows = await s.scalars(
            select(TaskRow).where(TaskRow.merchant_id == merchant_id, TaskRow.status.in_(_OPEN))
            .order_by(TaskRow.created_at.desc(), TaskRow.id.desc()))
        return [task_from_row(r) for r in rows]

    async def wrapup_context(self, linked_id: str) -> WrapupContext | None:
        async with self.store.transaction() as s:
            call = await self.call(s, linked_id)
            if call is None:
                return None
            merchant = await self.merchant(s, call.merchant_id) if call.merchant_id else None
            terminals: list[Terminal] = []
            open_tasks: list[Task] = []
            if merchant is not None:
                terminals = [terminal_from_row(t) for t in await s.scalars(
                    select(TerminalRow).where(TerminalRow.merchant_id == merchant.id)
                    .order_by(TerminalRow.serial))]
                open_tasks = await self.open_tasks(s, merchant.id)
            record = await s.scalar(select(TaskRow).join(
                TaskCallRow, TaskCallRow.task_id == TaskRow.id).where(
                TaskCallRow.linked_id == linked_id))
            return WrapupContext(
                call=call, merchant=merchant, terminals=tuple(terminals),
                open_tasks=tuple(open_tasks), ivr_terminal=await self._ivr_terminal(s, linked_id),
                record=task_from_row(record) if record is not None else None)

    async def _ivr_terminal(self, s: AsyncSession, linked_id: str) -> str:
        # An IVR that asks for the terminal serial records it on the call's "ivr" event; older
        # menus do not, and then the form falls back to the merchant's only terminal.
        rows = await s.scalars(select(CallEventRow.data).where(
            CallEventRow.linked_id == linked_id, CallEventRow.kind == "ivr")
            .order_by(CallEventRow.at.desc()))
        for data in rows:
            serial = data.get("terminal_serial") if isinstance(data, dict) else None
            if isinstance(serial, str) and serial:
                return serial
        return ""

    # ------------------------------------------------------------------ task writes

    async def next_task_number(self, s: AsyncSession, prefix: str, day: date) -> str:
        """Take the next number of the day: one atomic upsert of the day's counter, so two
        agents saving at the same moment never get the same number and never retry. The
        counter row stays locked until the transaction ends: take the number last (see
        :meth:`create_record`)."""
        key = counter_key(prefix, day)
        dialect = (await s.connection()).dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(TaskCounterRow).values(key=key, last=1)
        stmt = stmt.on_conflict_do_update(index_elements=[TaskCounterRow.key],
                                          set_={"last": TaskCounterRow.last + 1})
        seq = (await s.execute(stmt.returning(TaskCounterRow.last))).scalar_one()
        return task_number(prefix, day, int(seq))

    async def create_record(self, s: AsyncSession, new: NewRecord, prefix: str, day: date,
                            delivery: FirstDelivery | None = None
                            ) -> tuple[TaskRecord, Complaint | None]:
        """Number and write a new record (``new.task_number`` is ignored), with the outbox
        row of its first version when ``delivery`` is given.

        On PostgreSQL inside a begun transaction, a record without a complaint is one
        statement (counter, task, call, history, outbox) straight to asyncpg, so the day's
        counter row is locked only from that statement to the commit: taken earlier, every
        other save of the day queued behind this one's remaining round trips (measured: 490
        against 990 records/s from 8 concurrent savers). Everything else takes the number,
        writes the record and enqueues it through SQLAlchemy.
        """
        pending = new.delivery_state == DeliveryState.PENDING.value
        if new.complaint is None and (delivery is None or pending) \
                and (pg := await _asyncpg(s)) is not None:
            return await _pg_create_record(pg, new, counter_key(prefix, day), delivery), None
        number = await self.next_task_number(s, prefix, day)
        record, complaint = await self.insert_record(s, replace(new, task_number=number))
        if delivery is not None:
            await self.enqueue(s, record, delivery.payload_of(record, complaint),
                               delivery.key_of(number, record.task.version), delivery.now,
                               delivery.give_up_at)
        return record, complaint

    async def insert_record(self, s: AsyncSession, new: NewRecord
                            ) -> tuple[TaskRecord, Complaint | None]:
        """Write a new record: the task (version 1), its call, its first history line and its
        complaint."""
        row = TaskRow(
            task_number=new.task_number, kind=new.kind, status=new.status,
            merchant_id=new.merchant_id, linked_id=new.linked_id,
            agent_number=new.agent_number, terminal_serial=new.terminal_serial,
            product_model=new.product_model, address=new.address, site_phone=new.site_phone,
            business_hours=new.business_hours, contact_person=new.contact_person,
            description=new.description, engineer="", appointment_at=None, cancel_reason="",
            external_id="", delivery_state=new.delivery_state, version=1,
            created_at=new.at, updated_at=new.at, disposition=new.disposition,
            department=new.department)
        s.add(row)
        await s.flush()  # the task's id, for the rows that point to it
        s.add(TaskCallRow(task_id=row.id, linked_id=new.linked_id,
                          agent_number=new.agent_number, relation=CallRelation.ORIGIN.value,
                          at=new.at))
        await self.add_event(s, row.id, new.at, new.status, new.actor, new.note)
        complaint = None
        if new.complaint is not None:
            c = new.complaint
            complaint_row = ComplaintRow(
                task_id=row.id, linked_id=new.linked_id, merchant_id=new.merchant_id,
                complaint_class=c.complaint_class, description=c.description,
                handling=c.handling, result=c.result, amount_yuan=c.amount_yuan,
                media_exposure=c.media_exposure, escalation_tier=c.escalation_tier,
                created_at=new.at, reported_at=None, temporary_solution_at=None,
                closed_at=c.closed_at, second_line_at=c.second_line_at)
            s.add(complaint_row)
            await s.flush()
            complaint = complaint_from_row(complaint_row)
        return _record(row), complaint

    async def task(self, s: AsyncSession, number: str, *, lock: bool = False
                   ) -> TaskRecord | None:
        stmt = select(TaskRow).where(TaskRow.task_number == number)
        if lock:
            stmt = stmt.with_for_update()
        row = await s.scalar(stmt)
        return _record(row) if row is not None else None

    async def link_call(self, s: AsyncSession, task_id: int, linked_id: str,
                        agent_number: str, at: datetime, actor: str, note: str) -> TaskRecord:
        """Record another call on a task: a new version and a history line."""
        s.add(TaskCallRow(task_id=task_id, linked_id=linked_id, agent_number=agent_number,
                          relation=CallRelation.LINKED.value, at=at))
        row = await self._bump(s, task_id, at)
        await self.add_event(s, task_id, at, row.status, actor, note)
        return _record(row)

    async def save_state(self, s: AsyncSession, task_id: int, state: TaskState,
                         at: datetime) -> TaskRecord:
        """The task after a status change: a new version."""
        row = await self._bump(s, task_id, at)
        row.status = state.status.value
        row.engineer = state.engineer
        row.appointment_at = state.appointment_at
        row.cancel_reason = state.cancel_reason
        return _record(row)

    async def touch(self, s: AsyncSession, task_id: int, at: datetime,
                    status: TaskStatus | None = None) -> TaskRecord:
        """A new version of the task (its complaint changed), optionally with a status."""
        row = await self._bump(s, task_id, at)
        if status is not None:
            row.status = status.value
        return _record(row)

    async def _bump(self, s: AsyncSession, task_id: int, at: datetime) -> TaskRow:
        row = await s.get(TaskRow, task_id)
        if row is None:
            raise LookupError(f"task {task_id} vanished inside its transaction")
        row.version += 1
        row.updated_at = at
        return row

    async def set_external_id(self, s: AsyncSession, task_id: int, external_id: str) -> None:
        await s.execute(update(TaskRow).where(TaskRow.id == task_id)
                        .values(external_id=external_id))

    async def task_calls(self, s: AsyncSession, task_id: int) -> list[TaskCall]:
        rows = await s.scalars(select(TaskCallRow).where(TaskCallRow.task_id == task_id)
                               .order_by(TaskCallRow.at, TaskCallRow.id))
        return [task_call_from_row(r) for r in rows]

    async def add_event(self, s: AsyncSession, task_id: int, at: datetime, status: str,
                        actor: str, note: str, source_event_id: str | None = None) -> None:
        s.add(TaskEventRow(task_id=task_id, at=at, status=status, actor=actor[:64],
                           note=note[:400], source_event_id=source_event_id))

    async def enqueue(self, s: AsyncSession, record: TaskRecord, payload: dict[str, Any],
                      key: str, now: datetime, give_up_at: datetime) -> None:
        """Add the outbox row of the task's current version (same transaction as the task)."""
        task = record.task
        if task.delivery_state is DeliveryState.PENDING and (pg := await _asyncpg(s)) is not None:
            await pg.execute(_PG_ENQUEUE, task.id, task.version, key, json.dumps(payload),
                             _naive(now), _naive(give_up_at))
            return
        s.add(OutboxRow(task_id=task.id, task_version=task.version, idempotency_key=key,
                        payload=payload, state=OutboxState.PENDING.value, attempts=0,
                        created_at=now, next_attempt_at=now, give_up_at=give_up_at,
                        last_error="", lease_owner=""))
        if task.delivery_state is not DeliveryState.PENDING:
            # a dead earlier version keeps the task "dead" until someone requeues it
            await s.execute(update(TaskRow).where(
                TaskRow.id == task.id, TaskRow.delivery_state != DeliveryState.DEAD.value)
                .values(delivery_state=DeliveryState.PENDING.value))

    async def remember_webhook(self, s: AsyncSession, event_id: str, at: datetime) -> None:
        """Note an applied webhook event (a unique key: a concurrent copy fails at commit)."""
        s.add(WebhookEventRow(event_id=event_id, received_at=at))

    async def webhook_seen(self, s: AsyncSession, event_id: str) -> bool:
        found = await s.scalar(select(WebhookEventRow.id)
                               .where(WebhookEventRow.event_id == event_id))
        return found is not None

    async def local_tasks(self, s: AsyncSession, limit: int) -> list[TaskRecord]:
        """Up to ``limit`` tasks still ``local`` (recorded with no business system), oldest
        first, locked."""
        rows = await s.scalars(select(TaskRow)
                               .where(TaskRow.delivery_state == DeliveryState.LOCAL.value)
                               .order_by(TaskRow.id).limit(limit).with_for_update())
        return [_record(row) for row in rows]

    async def count_local(self) -> int:
        """How many tasks are still ``local``."""
        async with self.store.transaction() as s:
            return int(await s.scalar(select(func.count()).select_from(TaskRow).where(
                TaskRow.delivery_state == DeliveryState.LOCAL.value)) or 0)

    # ------------------------------------------------------------------ task reads

    async def find_task(self, number: str) -> Task | None:
        async with self.store.transaction() as s:
            record = await self.task(s, number)
            return record.task if record is not None else None

    def _view_query(self) -> tuple[Select[Any], Subquery]:
        """Tasks with their merchant, last history time (the progress clock) and call end."""
        progress = (select(TaskEventRow.task_id, func.max(TaskEventRow.at).label("last_at"))
                    .group_by(TaskEventRow.task_id).subquery())
        return (select(TaskRow, MerchantRow.merchant_number, MerchantRow.name,
                       MerchantRow.district, progress.c.last_at, CallRow.ended_at)
                .join(MerchantRow, MerchantRow.id == TaskRow.merchant_id)
                .outerjoin(progress, progress.c.task_id == TaskRow.id)
                .outerjoin(CallRow, CallRow.linked_id == TaskRow.linked_id)), progress

    @staticmethod
    def _view(result: Any) -> TaskView:
        row, number, name, district, last_at, ended_at = result
        return TaskView(task=task_from_row(row), disposition=row.disposition,
                        department=row.department, merchant_number=number, merchant_name=name,
                        district=district, last_progress_at=last_at or row.updated_at,
                        call_ended_at=ended_at)

    async def board(self, flt: BoardFilter, now: datetime) -> list[TaskView]:
        """Tasks for the board, newest first."""
        stmt, progress = self._view_query()
        if flt.kind:
            stmt = stmt.where(TaskRow.kind == flt.kind)
        if flt.status == "open":
            stmt = stmt.where(TaskRow.status.in_(_OPEN))
        elif flt.status != "all":
            stmt = stmt.where(TaskRow.status == flt.status)
        if flt.district:
            stmt = stmt.where(MerchantRow.district == flt.district)
        if flt.min_age_hours > 0:
            stmt = stmt.where(TaskRow.created_at <= now - timedelta(hours=flt.min_age_hours))
        if flt.overdue:
            last = func.coalesce(progress.c.last_at, TaskRow.updated_at)
            stmt = stmt.where(TaskRow.status.in_(_OPEN), last < now - PROGRESS_LIMIT)
        stmt = stmt.order_by(TaskRow.created_at.desc(), TaskRow.id.desc()).limit(flt.limit)
        async with self.store.transaction() as s:
            return [self._view(r) for r in (await s.execute(stmt)).all()]

    async def view(self, number: str) -> TaskView | None:
        stmt, _ = self._view_query()
        async with self.store.transaction() as s:
            found = (await s.execute(stmt.where(TaskRow.task_number == number))).first()
            return self._view(found) if found is not None else None

    async def districts(self) -> list[str]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(MerchantRow.district).distinct()
                                   .where(MerchantRow.district != "")
                                   .order_by(MerchantRow.district))
            return list(rows)

    async def detail(self, number: str) -> TaskDetail | None:
        view = await self.view(number)
        if view is None:
            return None
        task_id = view.task.id
        async with self.store.transaction() as s:
            links = await self.task_calls(s, task_id)
            ids = [c.linked_id for c in links] or ([view.task.linked_id]
                                                   if view.task.linked_id else [])
            calls = {r.linked_id: r for r in await s.scalars(
                select(CallRow).where(CallRow.linked_id.in_(ids)))} if ids else {}
            tokens: dict[str, list[str]] = {}
            if ids:
                for rec in await s.scalars(select(RecordingRow).where(
                        RecordingRow.linked_id.in_(ids)).order_by(RecordingRow.id)):
                    tokens.setdefault(rec.linked_id, []).append(rec.token)
            relations = {c.linked_id: c.relation for c in links}
            summaries = []
            for linked_id in ids:
                call = calls.get(linked_id)
                if call is None:
                    continue
                summaries.append(CallSummary(
                    linked_id=linked_id, caller_number=call.caller_number,
                    agent_number=call.agent_number,
                    relation=relations.get(linked_id, CallRelation.ORIGIN),
                    started_at=call.started_at, answered_at=call.answered_at,
                    ended_at=call.ended_at, ivr_path=call.ivr_path, intent=call.intent,
                    disposition=call.disposition, wrapup_note=call.wrapup_note,
                    recording_tokens=tuple(tokens.get(linked_id, ()))))
            events = [TaskEvent(at=e.at, status=e.status, actor=e.actor, note=e.note,
                                source_event_id=e.source_event_id)
                      for e in await s.scalars(select(TaskEventRow)
                                               .where(TaskEventRow.task_id == task_id)
                                               .order_by(TaskEventRow.at, TaskEventRow.id))]
            deliveries = [outbox_from_row(r) for r in await s.scalars(
                select(OutboxRow).where(OutboxRow.task_id == task_id).order_by(OutboxRow.id))]
            return TaskDetail(view=view, calls=tuple(summaries), events=tuple(events),
                              deliveries=tuple(deliveries),
                              complaint=await self.complaint_of_task(s, task_id))

    async def agents_of(self, s: AsyncSession, task_id: int) -> list[str]:
        """Agent numbers of every call recorded on the task (each hears about its status)."""
        rows = await s.scalars(select(TaskCallRow.agent_number).distinct()
                               .where(TaskCallRow.task_id == task_id))
        return sorted(a for a in rows if a)

    # ------------------------------------------------------------------ complaints

    def _complaint_query(self) -> Select[ComplaintRow, str, str]:
        return (select(ComplaintRow, TaskRow.task_number, MerchantRow.name)
                .outerjoin(TaskRow, TaskRow.id == ComplaintRow.task_id)
                .join(MerchantRow, MerchantRow.id == ComplaintRow.merchant_id))

    async def complaint(self, s: AsyncSession, complaint_id: int, *, lock: bool = False
                        ) -> ComplaintCase | None:
        stmt = self._complaint_query().where(ComplaintRow.id == complaint_id)
        if lock:
            stmt = stmt.with_for_update(of=ComplaintRow)
        found = (await s.execute(stmt)).first()
        return _case(found[0], found[1] or "", found[2]) if found is not None else None

    async def complaint_of_task(self, s: AsyncSession, task_id: int) -> ComplaintCase | None:
        found = (await s.execute(self._complaint_query()
                                 .where(ComplaintRow.task_id == task_id))).first()
        return _case(found[0], found[1] or "", found[2]) if found is not None else None

    async def save_complaint(self, s: AsyncSession, complaint: Complaint) -> None:
        """Write what an escalation step changes."""
        await s.execute(update(ComplaintRow).where(ComplaintRow.id == complaint.id).values(
            handling=complaint.handling, result=complaint.result,
            escalation_tier=complaint.escalation_tier, reported_at=complaint.reported_at,
            temporary_solution_at=complaint.temporary_solution_at,
            closed_at=complaint.closed_at))

    async def close_complaint_of_task(self, s: AsyncSession, task_id: int, at: datetime
                                      ) -> None:
        """Its ticket is done or cancelled: the complaint is closed (if it was not)."""
        await s.execute(update(ComplaintRow).where(ComplaintRow.task_id == task_id,
                                                   ComplaintRow.closed_at.is_(None))
                        .values(closed_at=at))

    async def complaints(self, *, start: datetime | None = None, end: datetime | None = None,
                         complaint_class: int | None = None, open_only: bool = False
                         ) -> list[ComplaintCase]:
        stmt = self._complaint_query()
        if start is not None:
            stmt = stmt.where(ComplaintRow.created_at >= start)
        if end is not None:
            stmt = stmt.where(ComplaintRow.created_at < end)
        if complaint_class is not None:
            stmt = stmt.where(ComplaintRow.complaint_class == complaint_class)
        if open_only:
            stmt = stmt.where(ComplaintRow.closed_at.is_(None))
        stmt = stmt.order_by(ComplaintRow.created_at, ComplaintRow.id).limit(1000)
        async with self.store.transaction() as s:
            return [_case(row, number or "", name)
                    for row, number, name in (await s.execute(stmt)).all()]

    # ------------------------------------------------------------------ alerts

    async def unlogged_calls(self, ended_before: datetime, since: datetime, limit: int = 100
                             ) -> list[UnloggedCall]:
        """Answered calls that ended before ``ended_before`` (and after ``since``) and still
        have no disposition."""
        async with self.store.transaction() as s:
            rows = await s.execute(
                select(CallRow.linked_id, CallRow.agent_number, CallRow.caller_number,
                       CallRow.ended_at)
                .where(CallRow.answered_at.is_not(None), CallRow.disposition.is_(None),
                       CallRow.ended_at.is_not(None), CallRow.ended_at < ended_before,
                       CallRow.ended_at >= since)
                .order_by(CallRow.ended_at).limit(limit))
            return [UnloggedCall(linked_id=r[0], agent_number=r[1], caller_number=r[2],
                                 ended_at=r[3]) for r in rows.all() if r[3] is not None]

    async def pending_callbacks(self, limit: int = 200) -> list[PendingCallback]:
        async with self.store.transaction() as s:
            rows = await s.execute(
                select(CallbackRow, MerchantRow.name)
                .join(MerchantRow, MerchantRow.id == CallbackRow.merchant_id)
                .where(CallbackRow.status == CallbackStatus.PENDING.value)
                .order_by(CallbackRow.updated_at).limit(limit))
            # (0007: pending_since starts the 2-day clock once; older rows: the last update)
            return [PendingCallback(id=cb.id, merchant_id=cb.merchant_id, merchant_name=name,
                                    purpose=cb.purpose,
                                    pending_since=cb.pending_since or cb.updated_at,
                                    due_at=cb.due_at, agent_number=cb.agent_number)
                    for cb, name in rows.all()]

    async def overdue_tasks(self, now: datetime, limit: int = 200) -> list[TaskView]:
        return await self.board(BoardFilter(status="open", overdue=True, limit=limit), now)

    # ------------------------------------------------------------------ outbox

    async def claim(self, owner: str, now: datetime, limit: int,
                    claim: Callable[[Delivery], Delivery]) -> list[tuple[OutboxEntry, str]]:
        """Claim up to ``limit`` due rows for ``owner`` in one short transaction.

        ``claim`` is the pure transition applied to each row (``Delivery -> Delivery``). A row
        is due when pending with ``next_attempt_at <= now`` or in flight with an expired lease,
        and only when no earlier version of its task is still on its way. Returns the claimed
        rows (as after the claim) with their task numbers.
        """
        earlier = aliased(OutboxRow)
        stmt = (
            select(*OutboxRow.__table__.columns, TaskRow.task_number)
            .join(TaskRow, TaskRow.id == OutboxRow.task_id)
            .where(OutboxRow.state.in_(_UNFINISHED), OutboxRow.next_attempt_at <= now,
                   ~select(earlier.id).where(and_(
                       earlier.task_id == OutboxRow.task_id, earlier.id < OutboxRow.id,
                       earlier.state.in_(_UNFINISHED))).exists())
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=OutboxRow)
        )
        # Plain rows and grouped UPDATEs, not ORM objects: the worker claims and completes
        # hundreds of rows a second and the unit of work cost more than the statements.
        async with self.store.transaction() as s:
            claimed = []
            changes: list[tuple[int, Delivery, dict[str, Any]]] = []
            for row in (await s.execute(stmt)).all():
                entry = outbox_from_row(cast(OutboxRow, row))
                after = claim(delivery_from_entry(entry))
                changes.append((entry.id, after, {"delivered_at": entry.delivered_at,
                                                  "dead_at": entry.dead_at}))
                claimed.append((_entry_after(entry, after), row.task_number))
            await _write_deliveries(s, changes)
            return claimed

    async def complete(self, owner: str, results: Sequence[tuple[int, Delivery, str, bool]],
                       now: datetime) -> list[Completion]:
        """Write the outcome of attempts: ``(outbox id, delivery after, external id,
        delivered)``. A row whose lease ``owner`` lost (it expired and another worker took
        the row) is left alone. Updates each task's delivery state and, for a class-2
        complaint's first delivery, the second-line clock."""
        if not results:
            return []
        by_id = {r[0]: r for r in results}
        done: list[Completion] = []
        async with self.store.transaction() as s:
            rows = (await s.execute(
                select(OutboxRow.id, OutboxRow.task_id, OutboxRow.state, OutboxRow.lease_owner,
                       OutboxRow.idempotency_key, OutboxRow.delivered_at, OutboxRow.dead_at)
                .where(OutboxRow.id.in_(sorted(by_id)))
                .order_by(OutboxRow.id).with_for_update())).all()
            touched: dict[int, list[tuple[int, OutboxState]]] = {}
            external_ids: dict[int, str] = {}
            changes: list[tuple[int, Delivery, dict[str, Any]]] = []
            for row in rows:
                _, after, external_id, delivered = by_id[row.id]
                if row.state != OutboxState.IN_FLIGHT.value or row.lease_owner != owner:
                    logger.warning("outbox %s: lease lost by %s (now %s of %r); result dropped",
                                row.idempotency_key, owner, row.state, row.lease_owner)
                    continue
                extra: dict[str, Any] = {"delivered_at": row.delivered_at,
                                         "dead_at": row.dead_at}
                if after.state is OutboxState.DELIVERED:
                    extra["delivered_at"] = now
                elif after.state is OutboxState.DEAD:
                    extra["dead_at"] = now
                changes.append((row.id, after, extra))
                touched.setdefault(row.task_id, []).append((row.id, after.state))
                if delivered and external_id:
                    external_ids[row.task_id] = external_id
            if not touched:
                return []
            await _write_deliveries(s, changes)
            states: dict[int, list[str]] = {}
            for task_id, state in (await s.execute(
                    select(OutboxRow.task_id, OutboxRow.state)
                    .where(OutboxRow.task_id.in_(sorted(touched))))):
                states.setdefault(task_id, []).append(state)
            tasks = {t.id: t for t in (await s.execute(
                select(TaskRow.id, TaskRow.kind, TaskRow.task_number)
                .where(TaskRow.id.in_(sorted(touched))).order_by(TaskRow.id)
                .with_for_update())).all()}
            complaints_delivered = [
                tid for tid, rs in touched.items()
                if tasks[tid].kind == TaskKind.COMPLAINT.value
                and any(state is OutboxState.DELIVERED for _, state in rs)]
            with_id: list[dict[str, Any]] = []
            without_id: list[dict[str, Any]] = []
            for task_id, task_rows in touched.items():
                delivery_state = task_delivery_state(states.get(task_id, []))
                if task_id in external_ids:
                    with_id.append({"tid": task_id, "ds": delivery_state.value,
                                    "eid": external_ids[task_id]})
                else:
                    without_id.append({"tid": task_id, "ds": delivery_state.value})
                for outbox_id, state in task_rows:
                    done.append(Completion(outbox_id, task_id, tasks[task_id].task_number,
                                           state, delivery_state))
            by_task = update(TaskRow).where(TaskRow.id == bindparam("tid"))
            conn = await s.connection()  # Core executemany, not ORM bulk UPDATE
            if with_id:
                await conn.execute(by_task.values(delivery_state=bindparam("ds"),
                                                  external_id=bindparam("eid")), with_id)
            if without_id:
                await conn.execute(by_task.values(delivery_state=bindparam("ds")), without_id)
            if complaints_delivered:
                await s.execute(
                    update(ComplaintRow)
                    .where(ComplaintRow.task_id.in_(complaints_delivered),
                           ComplaintRow.complaint_class == 2,
                           ComplaintRow.second_line_at.is_(None))
                    .values(second_line_at=now))
        return done

    async def requeue(self, outbox_id: int, now: datetime,
                      requeued: Callable[[Delivery], Delivery]) -> OutboxEntry | None:
        """Give a dead row a new retry window; None when there is no such row."""
        async with self.store.transaction() as s:
            row = await s.scalar(select(OutboxRow).where(OutboxRow.id == outbox_id)
                                 .with_for_update())
            if row is None:
                return None
            after = requeued(delivery_of(row))
            _store_delivery(row, after)
            row.dead_at = None
            task = await s.get(TaskRow, row.task_id, with_for_update=True)
            if task is not None:
                states = list(await s.scalars(select(OutboxRow.state)
                                              .where(OutboxRow.task_id == row.task_id)))
                task.delivery_state = task_delivery_state(states).value
            await s.flush()
            return outbox_from_row(row)

    async def outbox_stats(self) -> OutboxStats:
        async with self.store.transaction() as s:
            counts = dict((await s.execute(
                select(OutboxRow.state, func.count(OutboxRow.id))
                .where(OutboxRow.state != OutboxState.DELIVERED.value)
                .group_by(OutboxRow.state))).all())
            oldest = await s.scalar(select(func.min(OutboxRow.created_at))
                                    .where(OutboxRow.state.in_(_UNFINISHED)))
        return OutboxStats(pending=int(counts.get(OutboxState.PENDING.value, 0)),
                           in_flight=int(counts.get(OutboxState.IN_FLIGHT.value, 0)),
                           dead=int(counts.get(OutboxState.DEAD.value, 0)),
                           oldest_pending_at=oldest)

    async def dead_letters(self, limit: int = 200) -> list[DeadLetter]:
        async with self.store.transaction() as s:
            rows = await s.execute(
                select(OutboxRow, TaskRow.task_number)
                .join(TaskRow, TaskRow.id == OutboxRow.task_id)
                .where(OutboxRow.state == OutboxState.DEAD.value)
                .order_by(OutboxRow.dead_at.desc(), OutboxRow.id.desc()).limit(limit))
            return [DeadLetter(outbox_from_row(r), n) for r, n in rows.all()]


# ------------------------------------------------------------------ PostgreSQL fast path
#
# The new-task write (task number, task + its call + its first history line, outbox row) is
# the hot path of every wrap-up. Through SQLAlchemy's AsyncSession each statement cost about
# 0.5 ms of CPU in the ORM/Core execution layers, more than PostgreSQL spent on it, which
# capped record creation at ~200 a second in one process (bench/outbox.py). On PostgreSQL
# these statements go straight to asyncpg on the session's own connection, inside the
# session's transaction (only once SQLAlchemy has begun it; before that the normal path runs
# and begins it). The generic SQLAlchemy path stays for SQLite, complaints and later versions;
# tests/business/test_write_paths.py checks both paths write the same rows.

_TASK_COLUMNS = (
    "task_number", "kind", "status", "merchant_id", "linked_id", "agent_number",
    "terminal_serial", "product_model", "address", "site_phone", "business_hours",
    "contact_person", "description", "engineer", "appointment_at", "cancel_reason",
    "external_id", "delivery_state", "version", "created_at", "updated_at", "disposition",
    "department")

# $1 the day's counter key, $2..$23 the task's columns after task_number (so column i of
# _TASK_COLUMNS is $i), then the call's relation, the history line's actor and note, and the
# outbox row: its payload without "task_number" (NULL: no outbox row), the idempotency key's
# suffix after the number, now, give-up time. The number is wrapup.task_number's format;
# tests/business/test_write_paths.py holds the two to the same rows, 10,000th number included.
_PG_CREATE_RECORD = (  # column names and placeholders only, no data in the text
    "WITH n AS (INSERT INTO task_counters (key, last) VALUES ($1, 1) "  # noqa: S608
    "ON CONFLICT (key) DO UPDATE SET last = task_counters.last + 1 "
    "RETURNING $1 || '-' || CASE WHEN last < 10000 THEN lpad(last::text, 4, '0') "
    "ELSE last::text END AS task_number), "
    f"t AS (INSERT INTO tasks ({', '.join(_TASK_COLUMNS)}) "
    f"SELECT n.task_number, {', '.join(f'${i}' for i in range(2, len(_TASK_COLUMNS) + 1))} "
    "FROM n RETURNING id, task_number), "
    "c AS (INSERT INTO task_calls (task_id, linked_id, agent_number, relation, at) "
    "SELECT id, $5, $6, $24, $20 FROM t), "
    "e AS (INSERT INTO task_events (task_id, at, status, actor, note, source_event_id) "
    "SELECT id, $20, $3, $25, $26, NULL FROM t), "
    "o AS (INSERT INTO outbox (task_id, task_version, idempotency_key, payload, state, "
    "attempts, created_at, next_attempt_at, give_up_at, last_error, lease_owner) "
    "SELECT id, $19, task_number || $28, "
    "('{\"task_number\": ' || to_json(task_number)::text || ', ' || substr($27, 2))::json, "
    "'pending', 0, $29, $29, $30, '', '' FROM t WHERE $27::text IS NOT NULL) "
    "SELECT id, task_number FROM t")

_PG_ENQUEUE = (
    "INSERT INTO outbox (task_id, task_version, idempotency_key, payload, state, attempts, "
    "created_at, next_attempt_at, give_up_at, last_error, lease_owner) "
    "VALUES ($1, $2, $3, $4::json, 'pending', 0, $5, $5, $6, '', '')")


def _naive(at: datetime) -> datetime:
    """As UTCDateTime stores it: naive UTC."""
    return at.astimezone(UTC).replace(tzinfo=None)


async def _asyncpg(s: AsyncSession) -> Any | None:
    """The asyncpg connection under ``s`` when on PostgreSQL inside a begun transaction."""
    conn = await s.connection()
    if conn.dialect.name != "postgresql":
        return None
    raw = (await conn.get_raw_connection()).driver_connection
    if raw is None or not raw.is_in_transaction():
        return None
    return raw


async def _pg_create_record(pg: Any, new: NewRecord, key: str,
                            delivery: FirstDelivery | None) -> TaskRecord:
    values: dict[str, Any] = {
        "kind": new.kind, "status": new.status,
        "merchant_id": new.merchant_id, "linked_id": new.linked_id,
        "agent_number": new.agent_number, "terminal_serial": new.terminal_serial,
        "product_model": new.product_model, "address": new.address,
        "site_phone": new.site_phone, "business_hours": new.business_hours,
        "contact_person": new.contact_person, "description": new.description,
        "engineer": "", "appointment_at": None, "cancel_reason": "", "external_id": "",
        "delivery_state": new.delivery_state, "version": 1, "created_at": new.at,
        "updated_at": new.at, "disposition": new.disposition, "department": new.department}
    body: str | None = None
    suffix = ""
    now = give_up_at = None
    if delivery is not None:
        # The payload of the record as it will be, but for its number, which the statement
        # takes; the statement puts the number back in as the payload's first member.
        unnumbered = _plain_record(0, "", values)
        payload = delivery.payload_of(unnumbered, None)
        if payload.pop("task_number", None) != "" or not payload:
            raise ValueError("a task payload carries its number as 'task_number'")
        suffix = delivery.key_of("", 1)
        if delivery.key_of("N", 1) != "N" + suffix:
            raise ValueError("an idempotency key must be the task number and a suffix")
        body, now, give_up_at = (json.dumps(payload), _naive(delivery.now),
                                 _naive(delivery.give_up_at))
    args = [_naive(v) if isinstance(v, datetime) else v
            for v in (values[c] for c in _TASK_COLUMNS[1:])]  # $2..$23 in column order
    row = await pg.fetchrow(_PG_CREATE_RECORD, key, *args, CallRelation.ORIGIN.value,
                            new.actor[:64], new.note[:400], body, suffix, now, give_up_at)
    return _plain_record(row["id"], row["task_number"], values)


def _plain_record(task_id: int, number: str, values: dict[str, Any]) -> TaskRecord:
    """The record of a row never loaded: _record reads attributes only, and an ORM instance
    (instrumented, with its instance state) costs 10 % of a fast-path save."""
    row = cast(TaskRow, SimpleNamespace(id=task_id, task_number=number, **values))
    return _record(row)


def _entry_after(entry: OutboxEntry, after: Delivery) -> OutboxEntry:
    """``entry`` with the machine's fields as ``after`` left them."""
    return replace(entry, state=after.state, attempts=after.attempts,
                   next_attempt_at=after.next_attempt_at, give_up_at=after.give_up_at,
                   lease_owner=after.lease_owner, last_error=after.last_error[:2000])


_WRITE_DELIVERY = (
    update(OutboxRow).where(OutboxRow.id == bindparam("oid"))
    .values(state=bindparam("st"), attempts=bindparam("at"),
            next_attempt_at=bindparam("na"), give_up_at=bindparam("gu"),
            lease_owner=bindparam("lo"), last_error=bindparam("le"),
            delivered_at=bindparam("da"), dead_at=bindparam("dd")))


async def _write_deliveries(s: AsyncSession,
                            changes: Sequence[tuple[int, Delivery, dict[str, Any]]]) -> None:
    """Store the machine's new state of many outbox rows in one Core executemany (the
    driver pipelines it). ``extra`` carries ``delivered_at`` and ``dead_at`` as they are to
    be (their current values when unchanged)."""
    if not changes:
        return
    conn = await s.connection()  # Core: no ORM session synchronisation to pay for
    await conn.execute(_WRITE_DELIVERY, [
        {"oid": outbox_id, "st": after.state.value, "at": after.attempts,
         "na": after.next_attempt_at, "gu": after.give_up_at, "lo": after.lease_owner,
         "le": after.last_error[:2000], "da": extra["delivered_at"], "dd": extra["dead_at"]}
        for outbox_id, after, extra in changes])


def _store_delivery(row: OutboxRow, after: Delivery) -> None:
    row.state = after.state.value
    row.attempts = after.attempts
    row.next_attempt_at = after.next_attempt_at
    row.give_up_at = after.give_up_at
    row.lease_owner = after.lease_owner
    row.last_error = after.last_error[:2000]
