"""Report periods and groupings: which 15-minute cells make up a row of a report (pure).

The report store keeps one :class:`~callcenter.reports.kpi.Tally` per *cell*: a 15-minute
interval (its start, UTC) × queue × agent. A report row is the sum of the cells that share a
*group key*: the queue, the agent, a 15/30/60-minute interval, the hour of the day, the day,
the ISO week or the month, all in the hotline's local time (Asia/Shanghai by default).

Rules
-----
1. Cells start on a quarter hour (UTC); every local time zone in use has an offset that is a
   whole number of quarter hours, so a cell never straddles a local hour, day or month.
2. Group keys sort in time order as strings (``2027-01-05 08:30``, ``2027-W01``, ``2027-01``).
3. A date range ``[from, to]`` is inclusive of both local days.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from callcenter.reports.kpi import ZERO, Tally

__all__ = ["CELL", "Cell", "Group", "cell_start", "day_bounds", "group_cells", "group_key"]

CELL: Final = timedelta(minutes=15)


class Group(enum.Enum):
    """How report rows are keyed (``group=`` of the API)."""

    QUEUE = "queue"
    AGENT = "agent"
    INTERVAL_15 = "interval15"
    INTERVAL_30 = "interval30"
    HOUR = "hour"  # one row per clock hour of the range (the 60-minute interval)
    HOUR_OF_DAY = "hour_of_day"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TOTAL = "total"


@dataclass(frozen=True, slots=True)
class Cell:
    """One stored tally: calls that arrived in ``[start, start + 15 min)`` (UTC)."""

    start: datetime
    queue: str
    agent: str
    tally: Tally


def cell_start(at: datetime) -> datetime:
    """The start of the 15-minute cell holding ``at`` (aware; returned in UTC)."""
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def cells_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """The starts of the cells covering ``[start, end)``."""
    at = cell_start(start)
    while at < end:
        yield at
        at += CELL


def day_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the local days ``first``..``last`` (rule 3)."""
    start = datetime.combine(first, time(), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
    return start, end


def group_key(group: Group, start: datetime, queue: str, agent: str, tz: ZoneInfo) -> str:
    """The row a cell belongs to (rule 2)."""
    if group is Group.QUEUE:
        return queue
    if group is Group.AGENT:
        return agent
    if group is Group.TOTAL:
        return "total"
    local = start.astimezone(tz)
    if group is Group.INTERVAL_15:
        return local.strftime("%Y-%m-%d %H:%M")
    if group is Group.INTERVAL_30:
        return local.replace(minute=local.minute - local.minute % 30).strftime("%Y-%m-%d %H:%M")
    if group is Group.HOUR:
        return local.strftime("%Y-%m-%d %H:00")
    if group is Group.HOUR_OF_DAY:
        return local.strftime("%H:00")
    if group is Group.DAY:
        return local.strftime("%Y-%m-%d")
    if group is Group.WEEK:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.strftime("%Y-%m")


def group_cells(cells: Iterable[Cell], group: Group, tz: ZoneInfo) -> dict[str, Tally]:
    """The tally of each row (sorted by key)."""
    rows: dict[str, Tally] = {}
    for cell in cells:
        key = group_key(group, cell.start, cell.queue, cell.agent, tz)
        rows[key] = rows.get(key, ZERO) + cell.tally
    return dict(sorted(rows.items()))
