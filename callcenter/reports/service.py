"""Report use cases: KPI rows of a period and grouping, drill-down, the daily report.

A thin facade over the store (cells kept current as calls end) and the pure KPI rules.

The service-level threshold and the answer-rate target are read per report from the
definitions in force (:class:`~callcenter.reports.ports.LiveDefinitions`, the run-time
settings an administrator changes in ``/admin``), so a report, its CSV/XLSX export, the KPI
API and the wallboard count the same stored calls the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.reports.forecast import ForecastError, History, backtest, forecast
from callcenter.reports.kpi import (
    ZERO,
    KpiPolicy,
    Tally,
    Targets,
    against,
    kpis,
    repeat_flags,
    total,
)
from callcenter.reports.periods import Group, day_bounds, group_cells
from callcenter.reports.ports import CallLine, LiveDefinitions, ReportStore
from callcenter.reports.staffing import StaffingPolicy, StaffingRow, staffing_table

__all__ = ["KpiReport", "ReportRow", "ReportService", "StaffingView"]

SLOT = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class StaffingView:
    """The staffing table of some days, the forecast's measured error and its inputs."""

    rows: tuple[StaffingRow, ...]
    error: ForecastError
    patience_s: float
    history_days: int


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
    # the definitions it was counted with (the run-time settings in force)
    service_level_s: float = 20.0
    targets: Targets = field(default_factory=Targets)

    @property
    def repeat_complaint_rate(self) -> float | None:
        return None if not self.complaints else round(self.repeat_complaints / self.complaints, 4)


class ReportService:
    """KPI reports over a :class:`ReportStore`."""

    def __init__(self, store: ReportStore, *, policy: KpiPolicy, targets: Targets,
                 tz: ZoneInfo, staffing: StaffingPolicy | None = None,
                 holidays: frozenset[date] = frozenset(),
                 workdays: frozenset[date] = frozenset(),
                 definitions: LiveDefinitions | None = None) -> None:
        self.store = store
        self.policy = policy
        self.targets = targets
        self.definitions = definitions
        self.tz = tz
        self.staffing_policy = staffing or StaffingPolicy()
        self.holidays = holidays
        self.workdays = workdays

    def in_force(self) -> tuple[KpiPolicy, Targets]:
        """The KPI policy and targets with the definitions in force (the files' without
        live definitions)."""
        if self.definitions is None:
            return self.policy, self.targets
        live = self.definitions()
        return (replace(self.policy, service_level_s=live.service_level_s),
                replace(self.targets, answer_rate=live.answer_rate_target))

    @staticmethod
    def _row(key: str, tally: Tally, targets: Targets) -> ReportRow:
        figures = kpis(tally)
        return ReportRow(key, figures, against(figures, targets))

    async def kpi(self, first: date, last: date, group: Group, *, queue: str | None = None,
                  agent: str | None = None, agents: frozenset[str] | None = None
                  ) -> KpiReport:
        """The KPI rows of the local days ``first``..``last`` grouped by ``group``
        (``agents``: a team's agents only: the calls they took)."""
        policy, targets = self.in_force()
        start, end = day_bounds(first, last, self.tz)
        cells = await self.store.cells(start, end, group, queue=queue, agent=agent,
                                       agents=agents, service_level_s=policy.service_level_s)
        rows = group_cells(cells, group, self.tz)
        complaints = await self.store.complaints(start, end, self.policy.repeat_window_days)
        flags = repeat_flags([(c.key, c.merchant_id, c.problem, c.at) for c in complaints],
                             self.policy.repeat_window_days)
        in_period = [c for c in complaints if start <= c.at < end]
        return KpiReport(first, last, group,
                         tuple(self._row(k, t, targets) for k, t in rows.items()),
                         self._row("total", total(rows.values()), targets),
                         len(in_period), sum(flags[c.key] for c in in_period),
                         service_level_s=policy.service_level_s, targets=targets)

    async def calls(self, first: date, last: date, *, queue: str | None, agent: str | None,
                    limit: int = 500, agents: frozenset[str] | None = None
                    ) -> Sequence[CallLine]:
        """The calls behind a row (drill-down), newest first."""
        start, end = day_bounds(first, last, self.tz)
        return await self.store.calls(start, end, queue=queue, agent=agent, limit=limit,
                                      agents=agents)

    async def refresh(self, now: datetime) -> int:
        """Bring the cells up to date (the periodic job)."""
        return await self.store.refresh(now)

    async def history(self, first: date, last: date) -> list[History]:
        """The offered calls, handling and waits of every 30-minute interval of the local
        days ``first``..``last`` (local naive starts), from the KPI cells."""
        start, end = day_bounds(first, last, self.tz)
        cells = await self.store.cells(start, end, Group.INTERVAL_15)
        slots: dict[datetime, Tally] = {}
        for cell in cells:
            local = cell.start.astimezone(self.tz).replace(tzinfo=None)
            key = local.replace(minute=local.minute - local.minute % 30)
            slots[key] = slots.get(key, ZERO) + cell.tally
        return [History(k, t.offered, t.answered, t.talk_s + t.acw_s,
                        t.wait_answered_s + t.wait_abandoned_s, t.abandoned)
                for k, t in sorted(slots.items())]

    async def staffing(self, first: date, last: date, *, today: date,
                       history_weeks: int = 8, holdout_weeks: int = 2,
                       agents: frozenset[str] | None = None) -> StaffingView:
        """The staffing table of ``first``..``last`` forecast from the ``history_weeks``
        before ``first`` (never after ``today``), beside what was staffed on past days
        (``agents``: by a team's agents only; the forecast and need stay the hotline's)."""
        known_end = min(first, today) - timedelta(days=1)
        past = await self.history(known_end - timedelta(weeks=history_weeks) +
                                  timedelta(days=1), known_end)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        plan = forecast(past, days, holidays=self.holidays, workdays=self.workdays)
        start, end = day_bounds(first, min(last, today), self.tz)
        staffed_utc = await self.store.staffed(start, end, SLOT, agents) \
            if first <= today else {}
        staffed = {k.astimezone(self.tz).replace(tzinfo=None): v
                   for k, v in staffed_utc.items()}
        for f in plan.intervals:
            if f.start.date() <= today:
                staffed.setdefault(f.start, 0.0)
        staffing_policy = self.staffing_policy
        if self.definitions is not None:  # the need follows the definitions in force
            live = self.definitions()
            staffing_policy = replace(staffing_policy, target=replace(
                staffing_policy.target, within_s=live.service_level_s,
                answer_rate=live.answer_rate_target))
        rows = staffing_table(plan, staffing_policy, staffed)
        error = backtest(past, holdout_weeks=holdout_weeks, holidays=self.holidays,
                         workdays=self.workdays)
        return StaffingView(tuple(rows), error, plan.patience_s, plan.history_days)
