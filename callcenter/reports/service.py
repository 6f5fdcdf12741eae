"""Report use cases: KPI rows of a period and grouping, drill-down, the daily report.

A thin facade over the store (cells kept current as calls end) and the pure KPI rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from callcenter.reports.kpi import KpiPolicy, Tally, Targets, against, kpis, repeat_flags, total
from callcenter.reports.periods import Group, day_bounds, group_cells
from callcenter.reports.ports import CallLine, ReportStore

__all__ = ["KpiReport", "ReportRow", "ReportService"]


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One row: its key, its figures and which targets it meets."""

    group: str
    figures: dict[str, int | float | None]
    met: dict[str, bool | None]

    def as_json(self) -> dict[str, object]:
        return {"group": self.group, **self.figures, "targets_met": self.met}


@dataclass(frozen=True, slots=True)
class KpiReport:
    """The rows of a period, their total and the complaint figures of the period."""

    first: date
    last: date
    group: Group
    rows: tuple[ReportRow, ...]
    total: ReportRow
    complaints: int
    repeat_complaints: int

    @property
    def repeat_complaint_rate(self) -> float | None:
        return None if not self.complaints else round(self.repeat_complaints / self.complaints, 4)


class ReportService:
    """KPI reports over a :class:`ReportStore`."""

    def __init__(self, store: ReportStore, *, policy: KpiPolicy, targets: Targets,
                 tz: ZoneInfo) -> None:
        self.store = store
        self.policy = policy
        self.targets = targets
        self.tz = tz

    def _row(self, key: str, tally: Tally) -> ReportRow:
        figures = kpis(tally)
        return ReportRow(key, figures, against(figures, self.targets))

    async def kpi(self, first: date, last: date, group: Group, *, queue: str | None = None,
                  agent: str | None = None) -> KpiReport:
        """The KPI rows of the local days ``first``..``last`` grouped by ``group``."""
        start, end = day_bounds(first, last, self.tz)
        cells = await self.store.cells(start, end, group, queue=queue, agent=agent)
        rows = group_cells(cells, group, self.tz)
        complaints = await self.store.complaints(start, end, self.policy.repeat_window_days)
        flags = repeat_flags([(c.key, c.merchant_id, c.problem, c.at) for c in complaints],
                             self.policy.repeat_window_days)
        in_period = [c for c in complaints if start <= c.at < end]
        return KpiReport(first, last, group,
                         tuple(self._row(k, t) for k, t in rows.items()),
                         self._row("total", total(rows.values())),
                         len(in_period), sum(flags[c.key] for c in in_period))

    async def calls(self, first: date, last: date, *, queue: str | None, agent: str | None,
                    limit: int = 500) -> Sequence[CallLine]:
        """The calls behind a row (drill-down), newest first."""
        start, end = day_bounds(first, last, self.tz)
        return await self.store.calls(start, end, queue=queue, agent=agent, limit=limit)

    async def refresh(self, now: datetime) -> int:
        """Bring the cells up to date (the periodic job)."""
        return await self.store.refresh(now)
