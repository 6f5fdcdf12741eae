"""The recordings index: one row per recorded file, reached by an opaque token."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from callcenter.db.models import RecordingRow
from callcenter.db.repositories import Store
from callcenter.domain import Recording
from recording.paths import relative_name


def _from_row(row: RecordingRow) -> Recording:
    return Recording(id=row.token, linked_id=row.linked_id, path=row.path,
                     started_at=row.started_at, ended_at=row.ended_at,
                     size_bytes=row.size_bytes)


def new_token() -> str:
    """An unguessable id (160 bits) for URLs; never derived from the call or the path."""
    return secrets.token_urlsafe(20)


class RecordingRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def register(self, linked_id: str, reported_path: str, started_at: datetime | None,
                       token: str | None = None) -> Recording:
        """Index a recording Asterisk started; idempotent per (call, file)."""
        name = relative_name(reported_path)
        async with self.store.transaction() as s:
            row = await s.scalar(select(RecordingRow).where(RecordingRow.linked_id == linked_id,
                                                            RecordingRow.path == name))
            if row is None:
                row = RecordingRow(token=token or new_token(), linked_id=linked_id, path=name,
                                   started_at=started_at)
                s.add(row)
                await s.flush()
            return _from_row(row)

    async def finish(self, linked_id: str, ended_at: datetime,
                     sizes: dict[str, int] | None = None) -> None:
        """Mark the call's open recordings ended (there is no MixMonitorStop on hang-up)."""
        async with self.store.transaction() as s:
            rows = await s.scalars(select(RecordingRow).where(RecordingRow.linked_id == linked_id,
                                                              RecordingRow.ended_at.is_(None)))
            for row in rows:
                row.ended_at = ended_at
                if sizes and row.path in sizes:
                    row.size_bytes = sizes[row.path]

    async def by_token(self, token: str) -> Recording | None:
        async with self.store.transaction() as s:
            row = await s.scalar(select(RecordingRow).where(RecordingRow.token == token))
            return _from_row(row) if row else None

    async def for_call(self, linked_id: str) -> list[Recording]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(RecordingRow).where(RecordingRow.linked_id == linked_id)
                                   .order_by(RecordingRow.id))
            return [_from_row(r) for r in rows]
