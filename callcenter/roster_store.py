"""Rosters and shift swaps on SQLAlchemy (``callcenter.reports.ports.RosterStore``)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from callcenter.db.models import RosterRow, RosterSwapRow
from callcenter.db.repositories import Store
from callcenter.reports.ports import StoredRoster, SwapLine

__all__ = ["SqlRosterStore"]


def _swap(row: RosterSwapRow) -> SwapLine:
    return SwapLine(row.id, row.month, row.agent_a, row.agent_b, row.day, row.requested_by,
                    row.state, row.decided_by, row.created_at)


class SqlRosterStore:
    """``RosterStore`` on the product's database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def roster(self, month: str) -> StoredRoster | None:
        async with self.store.transaction() as s:
            row = await s.get(RosterRow, month)
            if row is None:
                return None
            return StoredRoster(row.month, row.roster_csv, row.leave_csv, row.updated_at,
                                row.updated_by)

    async def save_roster(self, month: str, roster_csv: str, leave_csv: str, by: str,
                          at: datetime) -> None:
        async with self.store.transaction() as s:
            row = await s.get(RosterRow, month)
            if row is None:
                s.add(RosterRow(month=month, roster_csv=roster_csv, leave_csv=leave_csv,
                                updated_at=at, updated_by=by))
            else:
                row.roster_csv, row.leave_csv = roster_csv, leave_csv
                row.updated_at, row.updated_by = at, by

    async def swaps(self, month: str) -> list[SwapLine]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(RosterSwapRow).where(RosterSwapRow.month == month)
                                   .order_by(RosterSwapRow.id))
            return [_swap(r) for r in rows]

    async def swap(self, swap_id: int) -> SwapLine | None:
        async with self.store.transaction() as s:
            row = await s.get(RosterSwapRow, swap_id)
            return None if row is None else _swap(row)

    async def add_swap(self, month: str, agent_a: str, agent_b: str, day: date,
                       requested_by: str, at: datetime) -> int:
        async with self.store.transaction() as s:
            row = RosterSwapRow(month=month, agent_a=agent_a, agent_b=agent_b, day=day,
                                requested_by=requested_by, state="pending", decided_by="",
                                created_at=at)
            s.add(row)
            await s.flush()
            return row.id

    async def decide_swap(self, swap_id: int, state: str, by: str, at: datetime,
                          roster_csv: str | None) -> SwapLine:
        async with self.store.transaction() as s:
            row = await s.get(RosterSwapRow, swap_id, with_for_update=True)
            if row is None or row.state != "pending":
                raise LookupError(f"no pending swap {swap_id}")
            row.state, row.decided_by, row.decided_at = state, by, at
            if roster_csv is not None:
                roster = await s.get(RosterRow, row.month, with_for_update=True)
                if roster is None:
                    raise LookupError(f"no roster for {row.month}")
                roster.roster_csv, roster.updated_at, roster.updated_by = roster_csv, at, by
            return _swap(row)
