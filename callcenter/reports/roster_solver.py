"""A month's roster from the staffing table, by OR-Tools CP-SAT.

The model (one boolean per agent × day × code) states the regulation as constraints:
one code a day; approved leave fixed to ``L`` and ``L`` nowhere else; paid hours within the
target ± tolerance; at least the rest days; no window of ``max_consecutive + 1`` days all
worked; no pair of shifts on consecutive days with less than the minimum rest between them.
Coverage is soft: per 30-minute interval, agents on shift + shortfall ≥ max(need, floor),
and the objective minimises the shortfall first (weight 1000 per agent-interval), then the
spread of night shifts and holiday shifts between agents (fairness), then the agent-hours
above the need (so coverage follows the need where it can).

Whatever the solver returns is judged by ``callcenter.reports.roster.check``, which shares no
code with this model: a shortfall the solver could not avoid (too few agents) is listed there
as a ``coverage`` violation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ortools.sat.python import cp_model

from callcenter.reports.roster import (
    HALF_HOUR,
    LEAVE,
    OFF,
    SLOTS,
    LeaveRequest,
    Roster,
    RosterRules,
    month_days,
    slot_floor,
)

__all__ = ["RosterResult", "generate"]

logger = logging.getLogger(__name__)

SHORTFALL_WEIGHT = 1000
FAIRNESS_WEIGHT = 20


@dataclass(frozen=True, slots=True)
class RosterResult:
    """The roster (None when the model is infeasible), the solver's status and shortfall."""

    roster: Roster | None
    status: str
    shortfall: int
    seconds: float


def generate(year: int, month: int, agents: Sequence[str], rules: RosterRules, *,
             need: Mapping[datetime, int] | None = None,
             leave: Sequence[LeaveRequest] = (), holidays: frozenset[date] = frozenset(),
             time_limit_s: float = 30.0, workers: int = 2, seed: int = 1) -> RosterResult:
    """Solve the month (``need``: agents per 30-minute interval, local starts)."""
    days = month_days(year, month)
    codes = [s.code for s in rules.shifts] + [OFF, LEAVE]
    m = cp_model.CpModel()
    x = {(a, d, c): m.new_bool_var(f"x_{a}_{d}_{c}")
         for a in agents for d in range(len(days)) for c in codes}
    on_leave = {(r.agent, r.first + timedelta(days=i)) for r in leave if r.approved_by
                for i in range(r.days)}
    for a in agents:
        for d, day in enumerate(days):
            m.add_exactly_one(x[a, d, c] for c in codes)
            m.add(x[a, d, LEAVE] == int((a, day) in on_leave))
        leave_days = sum(1 for day in days if (a, day) in on_leave)
        target = rules.monthly_hours - rules.leave_day_hours * leave_days
        paid = sum(round(s.paid_hours * 10) * x[a, d, s.code]
                   for d in range(len(days)) for s in rules.shifts)
        m.add(paid >= round((target - rules.hours_tolerance) * 10))
        m.add(paid <= round((target + rules.hours_tolerance) * 10))
        m.add(sum(x[a, d, OFF] for d in range(len(days))) >= rules.rest_days)
        window = rules.max_consecutive + 1
        for d in range(len(days) - window + 1):
            m.add(sum(x[a, d + i, s.code] for i in range(window) for s in rules.shifts)
                  <= rules.max_consecutive)
        for d in range(len(days) - 1):
            for s in rules.shifts:
                end = s.span(days[d])[1]
                for t in rules.shifts:
                    begin = t.span(days[d + 1])[0]
                    if (begin - end).total_seconds() / 3600 < rules.min_rest_hours:
                        m.add(x[a, d, s.code] + x[a, d + 1, t.code] <= 1)
    # Coverage per interval (soft).
    first = datetime.combine(days[0], time())
    covering: dict[int, list[cp_model.IntVar]] = {i: [] for i in range(len(days) * SLOTS)}
    for d, day in enumerate(days):
        for s in rules.shifts:
            begin, end = s.span(day)
            at = begin
            while at < end:
                i = int((at - first) / HALF_HOUR)
                if i in covering:
                    covering[i].extend(x[a, d, s.code] for a in agents)
                at += HALF_HOUR
    shortfalls = []
    surplus = []
    night_start = datetime.combine(days[0], rules.day_start)
    for i, on in covering.items():
        at = first + i * HALF_HOUR
        if at < night_start:
            continue  # the previous month's night shift covers it
        wanted = max((need or {}).get(at, 0), slot_floor(at, rules))
        short = m.new_int_var(0, wanted, f"short_{i}")
        m.add(sum(on) + short >= wanted)
        shortfalls.append(short)
        over = m.new_int_var(0, len(agents), f"over_{i}")
        m.add(over >= sum(on) - wanted)
        surplus.append(over)
    # Fairness: spread night shifts and holiday shifts.
    nights = [s.code for s in rules.shifts if s.span(days[0])[1].date() > days[0]]
    worked = [s.code for s in rules.shifts]
    all_days = list(range(len(days)))
    holiday_days = [d for d in all_days if days[d] in holidays]
    spread: list[cp_model.LinearExpr] = []
    for kind, counted_days, counted_codes in (("night", all_days, nights),
                                              ("holiday", holiday_days, worked)):
        per_agent: list[cp_model.LinearExprT] = [
            sum(x[a, d, c] for d in counted_days for c in counted_codes) for a in agents]
        hi = m.new_int_var(0, len(days), f"{kind}_hi")
        lo = m.new_int_var(0, len(days), f"{kind}_lo")
        m.add_max_equality(hi, per_agent)
        m.add_min_equality(lo, per_agent)
        spread.append(hi - lo)
    m.minimize(SHORTFALL_WEIGHT * sum(shortfalls) + FAIRNESS_WEIGHT * sum(spread)
               + sum(surplus))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(m)
    name = solver.status_name(status)
    logger.info("roster %d-%02d: %s in %.1f s, objective %s", year, month, name,
                solver.wall_time, solver.objective_value if status in (
                    cp_model.OPTIMAL, cp_model.FEASIBLE) else "-")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return RosterResult(None, name, 0, solver.wall_time)
    roster = Roster(year, month, {
        a: [next(c for c in codes if solver.value(x[a, d, c])) for d in range(len(days))]
        for a in agents})
    return RosterResult(roster, name, int(sum(solver.value(s) for s in shortfalls)),
                        solver.wall_time)
