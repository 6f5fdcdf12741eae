"""The recordings feature's storage on the domain store (implements ``recording.ports``).

* :class:`StorePipelineStore`: the storage pipeline's stage per recording, and the call facts
  its index step copies onto the recording row;
* :class:`StoreAccessLog`: who played which range of which recording, when: entries of the
  product's audit log (``audit_log``);
* :meth:`StorePipelineStore.stored`: what playback needs about one recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, literal, or_, select, tuple_, update

from callcenter.audit import AuditEntry
from callcenter.db.models import (
    AuditRow,
    CallEventRow,
    CallRow,
    ComplaintRow,
    MerchantRow,
    QaAssignmentRow,
    RecordingPurgeRow,
    RecordingRow,
    TaskCallRow,
    TaskRow,
)
from callcenter.db.repositories import Store
from recording.pipeline_state import TERMINAL, Failure, Stage
from recording.ports import (
    ACCESS_ACTIONS,
    Access,
    CallFacts,
    PipelineItem,
    PurgeRecord,
    RecordingHit,
    SearchPage,
    StageUpdate,
    StoredRecording,
    TimelineMark,
    access_entry,
    access_of,
)
from recording.purge import RetentionItem
from recording.retention import Complaint
from recording.search import (
    Cursor,
    QaState,
    RecordingQuery,
    Sort,
    caller_range,
    expand_free_text,
)

__all__ = ["StoreAccessLog", "StorePipelineStore", "StoreRecordingSearch", "StoreRetention"]


def _item(row: Any) -> PipelineItem:
    return PipelineItem(id=row.id, token=row.token, linked_id=row.linked_id, path=row.path,
                        stage=Stage(row.stage), attempts=row.attempts,
                        started_at=row.started_at, ended_at=row.ended_at,
                        stored_path=row.stored_path, channels=row.channels,
                        claimed_by=row.claimed_by, lease_until=row.lease_until)


def _due(now: datetime) -> list[Any]:
    r = RecordingRow
    return [r.stage.not_in([t.value for t in TERMINAL]), r.ended_at.is_not(None),
            or_(r.retry_at.is_(None), r.retry_at <= now)]


def _free(now: datetime) -> Any:
    """Rule 7 of ``recording.pipeline_state`` (``claimable``) in SQL."""
    return or_(RecordingRow.lease_until.is_(None), RecordingRow.lease_until <= now)


_ITEM_COLUMNS = (RecordingRow.id, RecordingRow.token, RecordingRow.linked_id, RecordingRow.path,
                 RecordingRow.stage, RecordingRow.attempts, RecordingRow.started_at,
                 RecordingRow.ended_at, RecordingRow.stored_path, RecordingRow.channels,
                 RecordingRow.claimed_by, RecordingRow.lease_until)


def stored_from_row(row: RecordingRow) -> StoredRecording:
    return StoredRecording(
        id=row.id, token=row.token, linked_id=row.linked_id, path=row.path,
        stage=Stage(row.stage), stored_path=row.stored_path, codec=row.codec,
        key_id=row.key_id, plain_size=row.plain_size, duration_s=row.duration_s,
        agent_number=row.agent_number, peaks=list(row.peaks or []), started_at=row.started_at)


class StorePipelineStore:
    """``recording.ports.PipelineStore`` on the ``recordings`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def due(self, now: datetime, limit: int) -> list[PipelineItem]:
        async with self.store.transaction() as s:
            rows = (await s.execute(
                select(RecordingRow).where(*_due(now))
                .order_by(RecordingRow.id).limit(limit))).scalars().all()
            return [_item(r) for r in rows]

    async def claim(self, worker: str, now: datetime, lease_until: datetime, limit: int
                    ) -> list[PipelineItem]:
        """One ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``: on
        PostgreSQL a concurrent claimer skips the rows this one has locked, and one that reads
        them after the commit finds the lease taken (the WHERE is re-checked on the new row
        version); SQLite runs one writer at a time, so the statement is atomic there too."""
        r = RecordingRow
        chosen = (select(r.id).where(*_due(now), _free(now)).order_by(r.id).limit(limit)
                  .with_for_update(skip_locked=True))
        stmt = (update(r).where(r.id.in_(chosen.scalar_subquery()), *_due(now), _free(now))
                .values(claimed_by=worker[:64], lease_until=lease_until)
                .returning(*_ITEM_COLUMNS)
                .execution_options(synchronize_session=False))
        async with self.store.transaction() as s:
            rows = (await s.execute(stmt)).all()
        return sorted((_item(row) for row in rows), key=lambda item: item.id)

    async def advance(self, recording_id: int, stage: Stage, update_: StageUpdate, *,
                      worker: str, lease_until: datetime | None) -> bool:
        values: dict[str, Any] = {"stage": stage.value, "retry_at": None, "last_error": "",
                                  "lease_until": lease_until}
        for name in ("stored_path", "codec", "channels", "key_id", "plain_size", "size_bytes",
                     "sha256", "duration_s", "indexed_at"):
            value = getattr(update_, name)
            if value is not None:
                values[name] = value
        if update_.peaks is not None:
            values["peaks"] = list(update_.peaks)
        if update_.facts is not None:
            f = update_.facts
            values.update(agent_number=f.agent_number, queue=f.queue,
                          merchant_id=f.merchant_id, caller_number=f.caller_number)
        return await self._held_update(recording_id, worker, values)

    async def failed(self, recording_id: int, failure: Failure, error: str, *,
                     worker: str) -> bool:
        values: dict[str, Any] = {"attempts": failure.attempts, "retry_at": failure.retry_at,
                                  "last_error": error[:2000], "lease_until": None}
        if failure.stage is not None:
            values["stage"] = failure.stage.value
        return await self._held_update(recording_id, worker, values)

    async def _held_update(self, recording_id: int, worker: str, values: dict[str, Any]
                           ) -> bool:
        """``values`` onto the row if ``worker`` holds it (compare and set: a worker whose
        lease ran out and was taken over writes nothing)."""
        async with self.store.transaction() as s:
            result = await s.execute(
                update(RecordingRow)
                .where(RecordingRow.id == recording_id, RecordingRow.claimed_by == worker[:64])
                .values(**values).execution_options(synchronize_session=False))
            return bool(getattr(result, "rowcount", 0) == 1)

    async def call_facts(self, linked_id: str) -> CallFacts | None:
        async with self.store.transaction() as s:
            row = (await s.execute(
                select(CallRow.agent_number, CallRow.queue, CallRow.merchant_id,
                       CallRow.caller_number, CallRow.disposition, CallRow.answered_at,
                       CallRow.ended_at)
                .where(CallRow.linked_id == linked_id))).first()
        if row is None:
            return None
        return CallFacts(agent_number=row.agent_number, queue=row.queue,
                         merchant_id=row.merchant_id, caller_number=row.caller_number,
                         disposition=row.disposition or "", answered_at=row.answered_at,
                         ended_at=row.ended_at)

    async def stored(self, token: str) -> StoredRecording | None:
        async with self.store.transaction() as s:
            row = await s.scalar(select(RecordingRow).where(RecordingRow.token == token))
            return stored_from_row(row) if row is not None else None

    async def counts(self) -> dict[str, int]:
        """Recordings per stage (for ``/healthz`` and the CLI)."""
        async with self.store.transaction() as s:
            rows = await s.execute(select(RecordingRow.stage, func.count())
                                   .group_by(RecordingRow.stage))
            return {str(r[0]): int(r[1]) for r in rows}


class StoreAccessLog:
    """``recording.ports.AccessLog`` on the product's audit log (``audit_log``).

    Why the audit log and not a table of its own (``recording_access`` until
    0011_recording_lease, which moved its rows here): "who listened to what" is one question
    with the supervisors' live listening (``monitor.*``) and every other trace, answered on
    one page (``/admin``) and one query; writing both tables would keep two truths that can
    disagree. The recording-specific fields (call, role, user id, byte range, address) ride in
    ``details`` (``recording.ports.access_entry``), and the ``(target, at)`` index answers
    "who heard this recording" as the old table's token index did."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, access: Access) -> None:
        await self.store.audit.record(access_entry(access))

    async def recent(self, limit: int, token: str | None = None) -> list[Access]:
        """The newest accesses first (of one recording: ``token``)."""
        a = AuditRow
        query = (select(a).where(a.action.in_(list(ACCESS_ACTIONS.values())))
                 .order_by(a.at.desc(), a.id.desc()).limit(limit))
        if token is not None:
            query = query.where(a.target == token)
        async with self.store.transaction() as s:
            rows = (await s.execute(query)).scalars().all()
        return [access_of(AuditEntry(at=r.at, actor=r.actor, action=r.action, target=r.target,
                                     details=dict(r.details or {}), id=r.id)) for r in rows]


# --------------------------------------------------------------------------- search


class StoreRecordingSearch:
    """The ``/api/recordings`` search on the recordings index (keyset pages, rule 2 of
    :mod:`recording.search`). Every filter on the recording row itself uses an index that
    ends in the sort key; filters on other tables are ``EXISTS`` probes per candidate row."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _where(self, q: RecordingQuery) -> list[Any]:
        r = RecordingRow
        q = expand_free_text(q)
        where: list[Any] = [r.started_at.is_not(None), r.stage != Stage.PURGED.value]
        if q.agent:
            where.append(r.agent_number == q.agent)
        if q.queue:
            where.append(r.queue == q.queue)
        if q.caller:
            digits = caller_range(q.caller)
            if digits is None:
                where.append(r.caller_number.startswith(q.caller, autoescape=True))
            elif len(q.caller) >= FULL_NUMBER_DIGITS:
                where.append(r.caller_number == q.caller)  # the (caller, started) index
            else:
                where += [r.caller_number >= digits[0], r.caller_number < digits[1]]
        if q.merchant:
            where.append(r.merchant_id.in_(_merchant_ids(q.merchant)))
        if q.start is not None:
            where.append(r.started_at >= q.start)
        if q.end is not None:
            where.append(r.started_at < q.end)
        if q.min_seconds is not None:
            where.append(r.duration_s >= q.min_seconds)
        if q.max_seconds is not None:
            where.append(r.duration_s <= q.max_seconds)
        if q.intent or q.disposition:
            call = select(CallRow.id).where(CallRow.linked_id == r.linked_id)
            if q.intent:
                call = call.where(CallRow.intent == q.intent)
            if q.disposition:
                call = call.where(CallRow.disposition == q.disposition)
            where.append(call.exists())
        if q.task:
            where.append(_task_of(q.task).exists())
        if q.complaint is not None:
            # IN, not a correlated EXISTS: PostgreSQL hashes the complaint calls once instead
            # of probing the complaints index for every candidate row
            complained = r.linked_id.in_(select(ComplaintRow.linked_id).where(
                ComplaintRow.linked_id.is_not(None)))
            where.append(complained if q.complaint else ~complained)
        if q.qa is not None:
            drawn = select(QaAssignmentRow.id).where(QaAssignmentRow.recording_id == r.id)
            if q.qa is QaState.NONE:
                where.append(~drawn.exists())
            else:
                where.append(drawn.where(QaAssignmentRow.state == q.qa.value).exists())
        if q.linked_id:
            where.append(r.linked_id == q.linked_id)
        return where

    def _key(self, q: RecordingQuery) -> Any:
        return RecordingRow.started_at if q.sort is Sort.STARTED else RecordingRow.duration_s

    @staticmethod
    def _cursor(q: RecordingQuery, row: Any) -> Cursor:
        value: float | str = (row.started_at.isoformat() if q.sort is Sort.STARTED
                              and row.started_at is not None else float(row.duration_s or 0))
        return Cursor(value, row.id)

    async def cursor_at(self, q: RecordingQuery, position: int) -> Cursor | None:
        """The cursor after the first ``position`` rows of ``q``'s result (an OFFSET scan:
        for benchmarks and tests that start deep in a result; the API never does this)."""
        r = RecordingRow
        key = self._key(q)
        where = self._where(q)
        if q.sort is Sort.DURATION:
            where.append(r.duration_s.is_not(None))
        order = [key.desc(), r.id.desc()] if q.descending else [key.asc(), r.id.asc()]
        async with self.store.transaction() as s:
            row = (await s.execute(select(r.id, r.started_at, r.duration_s).where(*where)
                                   .order_by(*order).offset(position - 1).limit(1))).first()
        return self._cursor(q, row) if row is not None else None

    async def search(self, q: RecordingQuery) -> SearchPage:
        r = RecordingRow
        key = self._key(q)
        where = self._where(q)
        if q.sort is Sort.DURATION:
            where.append(r.duration_s.is_not(None))
        if q.after is not None:
            value: Any = q.after.value
            if q.sort is Sort.STARTED:
                value = datetime.fromisoformat(str(value))
            cmp = tuple_(key, r.id) < tuple_(literal(value, key.type), literal(q.after.id)) \
                if q.descending else \
                tuple_(key, r.id) > tuple_(literal(value, key.type), literal(q.after.id))
            where.append(cmp)
        order = [key.desc(), r.id.desc()] if q.descending else [key.asc(), r.id.asc()]
        async with self.store.transaction() as s:
            rows = (await s.execute(select(r).where(*where).order_by(*order)
                                    .limit(q.limit + 1))).scalars().all()
            more = len(rows) > q.limit
            rows = rows[:q.limit]
            hits = await self._hits(s, rows)
        next_after = self._cursor(q, rows[-1]).encode() if more and rows else None
        return SearchPage(hits, next_after)

    async def _hits(self, s: Any, rows: Sequence[RecordingRow]) -> list[RecordingHit]:
        if not rows:
            return []
        linked = [r.linked_id for r in rows]
        calls = {c.linked_id: c for c in (await s.execute(
            select(CallRow.linked_id, CallRow.intent, CallRow.disposition)
            .where(CallRow.linked_id.in_(linked)))).all()}
        merchant_ids = {r.merchant_id for r in rows if r.merchant_id is not None}
        merchants = {m.id: m for m in (await s.execute(
            select(MerchantRow.id, MerchantRow.merchant_number, MerchantRow.name)
            .where(MerchantRow.id.in_(merchant_ids)))).all()} if merchant_ids else {}
        tasks: dict[str, list[str]] = {}
        for t in (await s.execute(select(TaskCallRow.linked_id, TaskRow.task_number)
                                  .join(TaskRow, TaskRow.id == TaskCallRow.task_id)
                                  .where(TaskCallRow.linked_id.in_(linked)))).all():
            tasks.setdefault(t.linked_id, []).append(t.task_number)
        complaints = set((await s.execute(select(ComplaintRow.linked_id).where(
            ComplaintRow.linked_id.in_(linked)))).scalars())
        qa = {a.recording_id: a.state for a in (await s.execute(
            select(QaAssignmentRow.recording_id, QaAssignmentRow.state)
            .where(QaAssignmentRow.recording_id.in_([r.id for r in rows])))).all()}
        hits = []
        for r in rows:
            call = calls.get(r.linked_id)
            merchant = merchants.get(r.merchant_id) if r.merchant_id is not None else None
            hits.append(RecordingHit(
                id=r.id, token=r.token, linked_id=r.linked_id, started_at=r.started_at,
                ended_at=r.ended_at, duration_s=r.duration_s, agent_number=r.agent_number,
                queue=r.queue, caller_number=r.caller_number,
                merchant_number=merchant.merchant_number if merchant else "",
                merchant_name=merchant.name if merchant else "",
                intent=call.intent if call else "",
                disposition=(call.disposition or "") if call else "",
                stage=r.stage, codec=r.codec, size_bytes=r.size_bytes,
                tasks=tuple(tasks.get(r.linked_id, ())), complaint=r.linked_id in complaints,
                qa=qa.get(r.id, QaState.NONE.value)))
        return hits

    async def timeline(self, linked_id: str, started_at: datetime | None) -> list[TimelineMark]:
        """The call's moments for the player, in seconds from the recording's start (moments
        before it, such as the IVR of a recording that starts at the answer, sit at 0)."""
        async with self.store.transaction() as s:
            rows = (await s.execute(select(CallEventRow.kind, CallEventRow.at)
                                    .where(CallEventRow.linked_id == linked_id,
                                           CallEventRow.kind.in_(TIMELINE_KINDS))
                                    .order_by(CallEventRow.at, CallEventRow.id))).all()
        if not rows:
            return []
        origin = started_at or rows[0].at
        return [TimelineMark(max(0.0, (row.at - origin).total_seconds()),
                             TIMELINE_KINDS[row.kind]) for row in rows]


# A caller filter this long is a whole number: equality, so the (caller, started) index gives
# the page in order; shorter ones are a prefix range.
FULL_NUMBER_DIGITS = 11

# call_events kinds (cti.call_state) → the player's marks
TIMELINE_KINDS = {
    "created": "call", "ivr_result": "ivr", "queued": "queue", "agent_called": "ring",
    "connected": "answer", "blind_transfer": "transfer", "attended_transfer": "transfer",
    "ended": "hangup",
}


def _merchant_ids(text: str) -> Any:
    """Merchants whose number is ``text`` or whose name contains it."""
    m = MerchantRow
    if text.isdigit():
        return select(m.id).where(m.merchant_number == text)
    return select(m.id).where(m.name.contains(text, autoescape=True))


def _task_of(number: str) -> Any:
    return (select(TaskCallRow.id).join(TaskRow, TaskRow.id == TaskCallRow.task_id)
            .where(TaskCallRow.linked_id == RecordingRow.linked_id,
                   TaskRow.task_number == number))


# --------------------------------------------------------------------------- retention


class StoreRetention:
    """``recording.purge.RetentionStore`` on the recordings, calls and complaints tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def candidates(self, now: datetime, older_than: datetime, limit: int
                         ) -> list[RetentionItem]:
        r = RecordingRow
        async with self.store.transaction() as s:
            rows = (await s.execute(
                select(r.id, r.token, r.linked_id, r.path, r.stored_path, r.ended_at, r.queue,
                       CallRow.disposition)
                .outerjoin(CallRow, CallRow.linked_id == r.linked_id)
                .where(r.stage.in_([Stage.STORED.value, Stage.FAILED.value]),
                       r.ended_at.is_not(None), r.ended_at < older_than,
                       or_(r.retain_until.is_(None), r.retain_until <= now))
                .order_by(r.id).limit(limit))).all()
            linked = [row.linked_id for row in rows]
            complaints: dict[str, list[Complaint]] = {}
            for c in (await s.execute(select(ComplaintRow.linked_id, ComplaintRow.closed_at)
                                      .where(ComplaintRow.linked_id.in_(linked)))).all():
                complaints.setdefault(c.linked_id, []).append(Complaint(c.closed_at))
        return [RetentionItem(id=row.id, token=row.token, linked_id=row.linked_id,
                              path=row.path, stored_path=row.stored_path,
                              ended_at=row.ended_at, queue=row.queue,
                              disposition=row.disposition or "",
                              complaints=tuple(complaints.get(row.linked_id, ())))
                for row in rows]

    async def keep_until(self, recording_id: int, until: datetime) -> None:
        async with self.store.transaction() as s:
            await s.execute(update(RecordingRow).where(RecordingRow.id == recording_id)
                            .values(retain_until=until))

    async def purged(self, item: RetentionItem, reason: str, now: datetime) -> None:
        async with self.store.transaction() as s:
            row = await s.get(RecordingRow, item.id)
            if row is None:
                return
            await s.execute(insert(RecordingPurgeRow).values(
                recording_token=row.token, linked_id=row.linked_id,
                stored_path=row.stored_path or row.path, size_bytes=row.size_bytes,
                sha256=row.sha256, started_at=row.started_at, retain_until=row.retain_until,
                reason=reason[:200], purged_at=now))
            await s.delete(row)

    async def purges(self, limit: int = 100, since: datetime | None = None
                     ) -> list[PurgeRecord]:
        """The purge log, newest first; ``since``: purged at or after it."""
        p = RecordingPurgeRow
        query = select(p).order_by(p.purged_at.desc(), p.id.desc()).limit(limit)
        if since is not None:
            query = query.where(p.purged_at >= since)
        async with self.store.transaction() as s:
            rows = (await s.execute(query)).scalars().all()
        return [PurgeRecord(token=r.recording_token, linked_id=r.linked_id, path=r.stored_path,
                            size_bytes=r.size_bytes, sha256=r.sha256, started_at=r.started_at,
                            retain_until=r.retain_until, reason=r.reason,
                            purged_at=r.purged_at) for r in rows]
