"""The recordings feature's storage on the domain store (implements ``recording.ports``).

* :class:`StorePipelineStore`: the storage pipeline's stage per recording, and the call facts
  its index step copies onto the recording row;
* :class:`StoreAccessLog`: the ``recording_access`` audit (who played which range, when);
* :meth:`StorePipelineStore.stored`: what playback needs about one recording.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from callcenter.db.models import CallRow, RecordingAccessRow, RecordingRow
from callcenter.db.repositories import Store
from recording.pipeline_state import TERMINAL, Failure, Stage
from recording.ports import Access, CallFacts, PipelineItem, StageUpdate, StoredRecording

__all__ = ["StoreAccessLog", "StorePipelineStore"]


def _item(row: Any) -> PipelineItem:
    return PipelineItem(id=row.id, token=row.token, linked_id=row.linked_id, path=row.path,
                        stage=Stage(row.stage), attempts=row.attempts,
                        started_at=row.started_at, ended_at=row.ended_at,
                        stored_path=row.stored_path, channels=row.channels)


def stored_from_row(row: RecordingRow) -> StoredRecording:
    return StoredRecording(
        id=row.id, token=row.token, linked_id=row.linked_id, path=row.path,
        stage=Stage(row.stage), stored_path=row.stored_path, codec=row.codec,
        key_id=row.key_id, plain_size=row.plain_size, duration_s=row.duration_s,
        agent_number=row.agent_number, peaks=list(row.peaks or []))


class StorePipelineStore:
    """``recording.ports.PipelineStore`` on the ``recordings`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def due(self, now: datetime, limit: int) -> list[PipelineItem]:
        async with self.store.transaction() as s:
            rows = (await s.execute(
                select(RecordingRow)
                .where(RecordingRow.stage.not_in([t.value for t in TERMINAL]),
                       RecordingRow.ended_at.is_not(None),
                       or_(RecordingRow.retry_at.is_(None), RecordingRow.retry_at <= now))
                .order_by(RecordingRow.id).limit(limit))).scalars().all()
            return [_item(r) for r in rows]

    async def advance(self, recording_id: int, stage: Stage, update_: StageUpdate) -> None:
        values: dict[str, Any] = {"stage": stage.value, "retry_at": None, "last_error": ""}
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
        async with self.store.transaction() as s:
            await s.execute(update(RecordingRow).where(RecordingRow.id == recording_id)
                            .values(**values))

    async def failed(self, recording_id: int, failure: Failure, error: str) -> None:
        values: dict[str, Any] = {"attempts": failure.attempts, "retry_at": failure.retry_at,
                                  "last_error": error[:2000]}
        if failure.stage is not None:
            values["stage"] = failure.stage.value
        async with self.store.transaction() as s:
            await s.execute(update(RecordingRow).where(RecordingRow.id == recording_id)
                            .values(**values))

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
        from sqlalchemy import func
        async with self.store.transaction() as s:
            rows = await s.execute(select(RecordingRow.stage, func.count())
                                   .group_by(RecordingRow.stage))
            return {str(r[0]): int(r[1]) for r in rows}


class StoreAccessLog:
    """``recording.ports.AccessLog`` on the ``recording_access`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, access: Access) -> None:
        async with self.store.transaction() as s:
            await s.execute(insert(RecordingAccessRow).values(
                recording_token=access.token, linked_id=access.linked_id,
                user_id=access.user_id, username=access.username, role=access.role,
                action=access.action, range_start=access.range_start,
                range_end=access.range_end, at=access.at))

    async def recent(self, limit: int, token: str | None = None) -> list[Access]:
        query = select(RecordingAccessRow).order_by(RecordingAccessRow.id.desc()).limit(limit)
        if token is not None:
            query = query.where(and_(RecordingAccessRow.recording_token == token))
        async with self.store.transaction() as s:
            rows = (await s.execute(query)).scalars().all()
        return [Access(token=r.recording_token, linked_id=r.linked_id, user_id=r.user_id,
                       username=r.username, role=r.role, action=r.action, at=r.at,
                       range_start=r.range_start, range_end=r.range_end) for r in rows]
