"""A month's roster from the staffing table, by OR-Tools CP-SAT, in two stages.

Why two stages: the regulation's working day is 7-8 hours, and a roster that follows the
intraday curve needs shifts starting at every half hour (``roster.DEFAULT_SHIFTS``: about a
hundred codes). One boolean per agent × day × code is then some 170,000 booleans for 50
agents, which two cores cannot improve in a minute (measured: the earlier single model with
the three 12-hour bands alone stopped at 1.25× the Erlang A seat-hours with 657 agent-intervals
short after 60 s). So:

1. **Cover** (no agents): how many shifts of each code start on each day. Integer counts,
   coverage hard (every 30-minute interval has at least max(need, floor) on shift, counting
   the previous month's shifts that run into the month), total paid hours within what the
   agents can work (each ``monthly_hours`` ± ``hours_tolerance``, less leave), at most as
   many shifts a day as agents not on leave, and at most the working days the rest-day rule
   leaves. The objective is the agent-intervals on shift. Its optimum — or the solver's proven
   bound — is a lower bound for every roster of these shifts: the agents' individual rules only
   add constraints. ``RosterResult.bound_slots`` reports it.
   *Planning to the target* (``coverage="target"``, the default when there is a need above
   the floors): the issue's bar is the month's answer rate (90 %) and service level with at
   most 1.05× the Erlang A seat-hours, and hard coverage of every interval's Erlang A figure
   costs 1.0955× with 7-8 hour shifts (the morning peak is narrower than a working day). So
   the cover stage gets a budget (``BUDGET_RATIO`` × the sum of max(need, floor), in
   agent-intervals), keeps hard only the regulation's floors and ``MIN_SHARE`` of each
   interval's need, and minimises the shortfall below the need weighted by the interval's
   expected calls (a second agent short in one interval costs ``STEEP`` times the first).
   When that is infeasible it plans hard coverage as before. Its figure is then no lower
   bound (``bound`` 0).
2. **Assign**: one boolean per agent × day × code, but only for the codes the cover stage used
   that day (a few per day). The regulation is hard: one code a day; approved leave ``L`` and
   ``L`` nowhere else; paid hours within the target ± tolerance; at least the rest days; no
   window of ``max_consecutive + 1`` working days (the previous month's last working days
   count); no pair of shifts on consecutive days with less than ``min_rest_hours`` between
   them (the previous month's last shift counts). Coverage is soft so that a roster always
   comes out: shortfall weighs ``SHORTFALL_WEIGHT`` per agent-interval, then the spread of
   night and holiday shifts between agents (fairness), then every agent-interval above the
   need.

Whatever the solver returns is judged by ``callcenter.reports.roster.check``, which shares no
code with this model: an interval below the regulation's floor is a ``coverage`` violation
there; one below the need but not the floor is a planning figure
(``roster.need_shortfall``), not a broken rule.
"""

from __future__ import annotations

import logging
import math
import time as clock
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
    Shift,
    history_of,
    month_days,
    slot_floor,
)

__all__ = ["CoverPlan", "RosterResult", "cover", "generate"]

logger = logging.getLogger(__name__)

SHORTFALL_WEIGHT = 1000
FAIRNESS_WEIGHT = 20
STEEP = 3
"""Planning to the target: an interval's second agent short costs this many times its first."""
BUDGET_RATIO = 1.05
"""Planning to the target: the month's agent-hours on shift at most this many times the sum
of max(need, floor) (the issue's bar over the Erlang A minimum)."""
MIN_SHARE = 0.9
"""Planning to the target: no interval below this share of its need (rounded up), nor below
the regulation's floor."""

SMALL_MODEL = 12_000
"""Agents × days × codes up to which the assign stage counts coverage per interval, with the
12-hour bands (a team of four)."""
COVER_SHARE = 0.3
"""Share of the time limit the cover stage may use (it usually proves its optimum sooner)."""


@dataclass(frozen=True, slots=True)
class RosterResult:
    """The roster (None when the model is infeasible), the assign stage's status (``GREEDY``:
    the solver found nothing better than its greedy start in time, which is then the roster), the
    agent-intervals the cover stage left short (too few agents), the wall seconds of both
    stages, the cover stage's lower bound on agent-intervals on shift (0 when it found none)
    and its own figure, the cover stage's shifts the assign stage could not staff, how the
    cover stage planned (``hard``: every interval's need; ``target``: soft below the need
    within the budget) and that budget in agent-intervals (0: none)."""

    roster: Roster | None
    status: str
    shortfall: int
    seconds: float
    bound_slots: int = 0
    cover_slots: int = 0
    missed_shifts: int = 0
    coverage: str = "hard"
    budget_slots: int = 0


@dataclass(frozen=True, slots=True)
class CoverPlan:
    """Shifts to start per day (``counts[day index][code]``), their agent-intervals on shift,
    the proven lower bound of that figure (0 when coverage fell short), the solver's status
    and the agent-intervals it left short."""

    counts: list[dict[str, int]]
    slots: int
    bound: int
    status: str
    shortfall: int = 0


def _slot_spans(days: list[date], shifts: Sequence[Shift]) -> dict[tuple[int, str], range]:
    """The month's interval indexes each (day, code) covers (cut at the month's end)."""
    first = datetime.combine(days[0], time())
    total = len(days) * SLOTS
    out = {}
    for d, day in enumerate(days):
        for s in shifts:
            begin, end = s.span(day)
            lo = int((begin - first) / HALF_HOUR)
            hi = min(total, int((end - first) / HALF_HOUR))
            out[d, s.code] = range(lo, hi)
    return out


def _wanted(days: list[date], rules: RosterRules, need: Mapping[datetime, int],
            judged_from: datetime) -> dict[int, int]:
    first = datetime.combine(days[0], time())
    out = {}
    for i in range(len(days) * SLOTS):
        at = first + i * HALF_HOUR
        if at >= judged_from:
            out[i] = max(need.get(at, 0), slot_floor(at, rules))
    return out


def _carried(days: list[date], rules: RosterRules, previous: Roster | None,
             agents: Sequence[str]) -> dict[int, int]:
    """Agents of the previous month still on shift in this month's first hours."""
    out: dict[int, int] = {}
    if previous is None:
        return out
    first = datetime.combine(days[0], time())
    for agent in agents:
        codes = previous.codes.get(agent, [])
        for day, code in zip(previous.days, codes, strict=False):
            shift = rules.shift(code)
            if shift is None:
                continue
            begin, end = shift.span(day)
            at = max(begin, first)
            while at < end:
                i = int((at - first) / HALF_HOUR)
                out[i] = out.get(i, 0) + 1
                at += HALF_HOUR
    return out


def _hours_bounds(agent: str, days: list[date], rules: RosterRules,
                  on_leave: set[tuple[str, date]]) -> tuple[int, int]:
    """The agent's paid hours ×10 (integers for the solver): target ± tolerance."""
    leave_days = sum(1 for day in days if (agent, day) in on_leave)
    target = rules.monthly_hours - rules.leave_day_hours * leave_days
    return (round((target - rules.hours_tolerance) * 10),
            round((target + rules.hours_tolerance) * 10))


def cover(days: list[date], agents: Sequence[str], rules: RosterRules, wanted: Mapping[int, int],
          carried: Mapping[int, int], on_leave: set[tuple[str, date]], *,
          time_limit_s: float, workers: int = 2, seed: int = 1,
          agent_limits: bool = True, hard: bool = True,
          lower: Mapping[int, int] | None = None, weights: Mapping[int, int] | None = None,
          budget_slots: int | None = None) -> CoverPlan:
    """Stage 1 (module docstring): shifts per day and code, no agents. With
    ``agent_limits=False`` the agents' hours, number and rest days are left out: the bound is
    then what any number of agents needs with these shifts (to size the team). With
    ``hard=False`` coverage may fall short (each agent-interval short weighs
    ``SHORTFALL_WEIGHT``): for more need than the agents can cover.

    Planning to the target (``lower`` given): every interval keeps ``lower[i]`` agents on
    shift (hard: the regulation's floors, a share of the need), may fall short of
    ``wanted[i]`` above that, and the month's agent-intervals on shift stay within
    ``budget_slots``. Each agent short weighs the interval's ``weights[i]`` (its expected
    calls; default its need), the second and further ones ``STEEP`` times as much, so the
    shortfall lands on quiet intervals, one agent at a time."""
    m = cp_model.CpModel()
    spans = _slot_spans(days, rules.shifts)
    free = [sum(1 for a in agents if (a, day) not in on_leave) for day in days]
    top = max(free) if agent_limits else max(wanted.values(), default=0)
    y = {(d, s.code): m.new_int_var(0, top, f"y_{d}_{s.code}")
         for d in range(len(days)) for s in rules.shifts}
    covering: dict[int, list[cp_model.IntVar]] = {i: [] for i in wanted}
    for key, span in spans.items():
        for i in span:
            if i in covering:
                covering[i].append(y[key])
    shortfall = []
    penalty: list[cp_model.LinearExpr] = []
    for i, want in wanted.items():
        target = max(0, want - carried.get(i, 0))
        if lower is not None:
            slack = max(0, want - max(lower.get(i, want), 0))
            weight = max(1, (weights or {}).get(i, want))
            first = m.new_int_var(0, min(1, slack), f"short1_{i}")
            more = m.new_int_var(0, max(0, slack - 1), f"short2_{i}")
            m.add(sum(covering[i]) + first + more >= target)
            shortfall.append(first + more)
            penalty.append(weight * (first + STEEP * more))
            continue
        short = m.new_int_var(0, 0 if hard else target, f"short_{i}")
        m.add(sum(covering[i]) + short >= target)
        shortfall.append(short)
        penalty.append(short)
    if agent_limits:
        for d in range(len(days)):
            m.add(sum(y[d, s.code] for s in rules.shifts) <= free[d])
        bounds = [_hours_bounds(a, days, rules, on_leave) for a in agents]
        paid = sum(round(s.paid_hours * 10) * y[d, s.code]
                   for d in range(len(days)) for s in rules.shifts)
        m.add(paid >= sum(lo for lo, _ in bounds))
        m.add(paid <= sum(hi for _, hi in bounds))
        working_days = sum(max(0, sum(1 for day in days if (a, day) not in on_leave)
                               - rules.rest_days) for a in agents)
        m.add(sum(y.values()) <= working_days)
    on_shift = sum(len(spans[key]) * var for key, var in y.items())
    if budget_slots is not None:
        m.add(on_shift <= budget_slots)
    m.minimize(SHORTFALL_WEIGHT * sum(penalty) + on_shift)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(m)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CoverPlan([], 0, 0, name)
    counts = [{s.code: int(solver.value(y[d, s.code])) for s in rules.shifts
               if solver.value(y[d, s.code])} for d in range(len(days))]
    short_total = int(sum(solver.value(v) for v in shortfall))
    # With no shortfall the objective is the agent-intervals on shift, and so is its bound
    # (a shortfall costs more than any shift could).
    bound = round(solver.best_objective_bound) if short_total == 0 and lower is None else 0
    return CoverPlan(counts, int(solver.value(on_shift)), bound, name, short_total)


def generate(year: int, month: int, agents: Sequence[str], rules: RosterRules, *,
             need: Mapping[datetime, int] | None = None,
             leave: Sequence[LeaveRequest] = (), holidays: frozenset[date] = frozenset(),
             previous: Roster | None = None,
             time_limit_s: float = 50.0, workers: int = 2, seed: int = 1,
             coverage: str = "target", calls: Mapping[datetime, float] | None = None,
             budget_ratio: float = BUDGET_RATIO, min_share: float = MIN_SHARE
             ) -> RosterResult:
    """Solve the month (``need``: agents per 30-minute interval, local starts; ``previous``:
    last month's roster, fixed history across the boundary) within about ``time_limit_s``.

    ``coverage="target"`` (default) plans to the month's target: the cover stage stays within
    ``budget_ratio`` × the sum of max(need, floor), keeps the floors and ``min_share`` of the
    need hard and spreads the shortfall by ``calls`` (expected calls per interval; default:
    the need). When that is infeasible (no need above the floors, or the agents' contracted
    hours exceed the budget) it plans ``hard``: every interval's need, as ``coverage="hard"``
    does."""
    if coverage not in ("hard", "target"):
        raise ValueError(f"coverage must be 'hard' or 'target', not {coverage!r}")
    started = clock.perf_counter()
    days = month_days(year, month)
    on_leave = {(r.agent, r.first + timedelta(days=i)) for r in leave if r.approved_by
                for i in range(r.days)}
    judged_from = datetime.combine(days[0], time() if previous is not None else rules.day_start)
    wanted = _wanted(days, rules, need or {}, judged_from)
    carried = _carried(days, rules, previous, agents)
    plan = CoverPlan([], 0, 0, "NOT_TRIED")
    budget = 0
    mode = "hard"
    first = datetime.combine(days[0], time())
    above_floor = any(need_at > slot_floor(at, rules) for at, need_at in (need or {}).items())
    if coverage == "target" and above_floor:
        budget = int(budget_ratio * sum(wanted.values())) - sum(
            carried.get(i, 0) for i in wanted)
        lower = {i: max(slot_floor(first + i * HALF_HOUR, rules),
                        math.ceil(min_share * (need or {}).get(first + i * HALF_HOUR, 0)
                                  - 1e-9))
                 for i in wanted}
        weights = {i: round((calls or {}).get(first + i * HALF_HOUR, want))
                   for i, want in wanted.items()}
        plan = cover(days, agents, rules, wanted, carried, on_leave,
                     time_limit_s=time_limit_s * COVER_SHARE, workers=workers, seed=seed,
                     lower=lower, weights=weights, budget_slots=budget)
        mode = "target" if plan.counts else "hard"
        budget = budget if plan.counts else 0
    if not plan.counts:
        plan = cover(days, agents, rules, wanted, carried, on_leave,
                     time_limit_s=time_limit_s * COVER_SHARE, workers=workers, seed=seed)
    if not plan.counts:  # full coverage is out of reach: cover what the agents can
        plan = cover(days, agents, rules, wanted, carried, on_leave,
                     time_limit_s=time_limit_s * COVER_SHARE, workers=workers, seed=seed,
                     hard=False)
    logger.info("roster %d-%02d cover (%s): %s, %d agent-intervals (bound %d, budget %d, "
                "short %d)", year, month, mode, plan.status, plan.slots, plan.bound, budget,
                plan.shortfall)
    if not plan.counts:  # the agents cannot work their hours at all
        return RosterResult(None, plan.status, 0, clock.perf_counter() - started)
    left = max(1.0, time_limit_s - (clock.perf_counter() - started))
    targets = None
    if len(agents) * len(days) * len(rules.shifts) <= SMALL_MODEL:
        # A handful of agents cannot follow an intraday curve anyway; the long bands keep
        # such a month solvable within seconds (measured on the 4-agent CLI test).
        bands = [s.code for s in rules.shifts if s.length >= timedelta(hours=12)]
        allowed = [bands or [s.code for s in rules.shifts] for _ in days]
        targets = {i: max(0, want - carried.get(i, 0)) for i, want in wanted.items()}
    else:
        allowed = [sorted(c) for c in plan.counts]
    roster, status, missed = _assign(days, agents, rules, allowed, on_leave, holidays,
                                     previous, plan, left, workers, seed, targets)
    return RosterResult(roster, status, plan.shortfall, clock.perf_counter() - started,
                        plan.bound, plan.slots, missed, mode, budget)


def _assign(days: list[date], agents: Sequence[str], rules: RosterRules,
            allowed: list[list[str]], on_leave: set[tuple[str, date]], holidays: frozenset[date],
            previous: Roster | None, plan: CoverPlan, time_limit_s: float, workers: int,
            seed: int, targets: Mapping[int, int] | None = None
            ) -> tuple[Roster | None, str, int]:
    """Stage 2 (module docstring): the agents' codes."""
    m = cp_model.CpModel()
    n_days = len(days)
    codes_of = [[*allowed[d], OFF, LEAVE] for d in range(n_days)]
    x = {(a, d, c): m.new_bool_var(f"x_{a}_{d}_{c}")
         for a in agents for d in range(n_days) for c in codes_of[d]}
    shift = {s.code: s for s in rules.shifts}
    window = rules.max_consecutive + 1
    for a in agents:
        for d, day in enumerate(days):
            m.add_exactly_one(x[a, d, c] for c in codes_of[d])
            m.add(x[a, d, LEAVE] == int((a, day) in on_leave))
        lo, hi = _hours_bounds(a, days, rules, on_leave)
        paid = sum(round(shift[c].paid_hours * 10) * x[a, d, c]
                   for d in range(n_days) for c in allowed[d])
        m.add(paid >= lo)
        m.add(paid <= hi)
        m.add(sum(x[a, d, OFF] for d in range(n_days)) >= rules.rest_days)
        run_before, last_end = history_of(previous, a, rules)
        worked: list[cp_model.LinearExprT] = [1] * min(run_before, window - 1)
        worked += [sum(x[a, d, c] for c in allowed[d]) for d in range(n_days)]
        before = min(run_before, window - 1)
        for start in range(len(worked) - window + 1):
            if start + window > before:  # the window holds at least one day of this month
                m.add(sum(worked[start:start + window]) <= rules.max_consecutive)
        if last_end is not None:
            for c in allowed[0]:
                begin = shift[c].span(days[0])[0]
                if (begin - last_end).total_seconds() / 3600 < rules.min_rest_hours:
                    m.add(x[a, 0, c] == 0)
        for d in range(n_days - 1):
            for c in allowed[d]:
                end = shift[c].span(days[d])[1]
                clash = [x[a, d + 1, t] for t in allowed[d + 1]
                         if (shift[t].span(days[d + 1])[0] - end).total_seconds() / 3600
                         < rules.min_rest_hours]
                if clash:
                    m.add(x[a, d, c] + sum(clash) <= 1)
    # The cover stage's shifts (soft: a missing one weighs like an uncovered interval), and
    # every agent-interval on shift (so the extra shifts the hours rule forces stay short).
    # A small month (``targets`` given) may use every code: its shortfall is then counted per
    # interval, as the cover stage does.
    misses = []
    on_shift = []
    for d in range(n_days):
        for c in allowed[d]:
            taken = sum(x[a, d, c] for a in agents)
            on_shift.append(_slots(shift[c]) * taken)
            if targets is None:
                want = plan.counts[d].get(c, 0)
                miss = m.new_int_var(0, want, f"miss_{d}_{c}")
                m.add(taken + miss >= want)
                misses.append(miss)
    if targets is not None:
        spans = _slot_spans(days, rules.shifts)
        covering: dict[int, list[cp_model.IntVar]] = {i: [] for i in targets}
        for d in range(n_days):
            for c in allowed[d]:
                for i in spans[d, c]:
                    if i in covering:
                        covering[i].extend(x[a, d, c] for a in agents)
        for i, target in targets.items():
            short = m.new_int_var(0, target, f"short_{i}")
            m.add(sum(covering[i]) + short >= target)
            misses.append(short)
    # Fairness: spread big-night shifts and holiday shifts between agents.
    spread: list[cp_model.LinearExpr] = []
    all_days = list(range(n_days))
    holiday_days = [d for d in all_days if days[d] in holidays]
    for kind, counted_days, night_only in (("night", all_days, True),
                                           ("holiday", holiday_days, False)):
        per_agent: list[cp_model.LinearExprT] = [
            sum(x[a, d, c] for d in counted_days for c in allowed[d]
                if not night_only or shift[c].span(days[d])[1].date() > days[d])
            for a in agents]
        hi_var = m.new_int_var(0, n_days, f"{kind}_hi")
        lo_var = m.new_int_var(0, n_days, f"{kind}_lo")
        m.add_max_equality(hi_var, per_agent)
        m.add_min_equality(lo_var, per_agent)
        spread.append(hi_var - lo_var)
    m.minimize(SHORTFALL_WEIGHT * sum(misses) + FAIRNESS_WEIGHT * sum(spread)
               + sum(on_shift))
    hint = _greedy(days, agents, rules, plan, on_leave, previous)
    for (a, d, c), var in x.items():
        m.add_hint(var, hint[a][d] == c)
    # The solver may only improve on the greedy roster's staffing (measured: with two workers
    # it otherwise drifts from the hint and ends with planned shifts unstaffed).
    hint_misses = sum(max(0, k - sum(hint[a][d] == c for a in agents))
                      for d in range(n_days) for c, k in plan.counts[d].items())
    hint_slots = sum(_slots(shift[c]) for a in agents for d in range(n_days)
                     for c in [hint[a][d]] if c in shift)
    hint_holds = _rules_hold(hint, days, rules, on_leave)
    if hint_holds and targets is None:
        m.add(sum(misses) <= hint_misses)
        m.add(sum(on_shift) <= hint_slots)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(m)
    name = solver.status_name(status)
    logger.info("roster assign: %s in %.1f s, objective %s (cover %s)", name, solver.wall_time,
                solver.objective_value if status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
                else "-", plan.status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if hint_holds:
            return Roster(days[0].year, days[0].month, hint), "GREEDY", hint_misses
        return None, name, 0
    roster = Roster(days[0].year, days[0].month, {
        a: [next(c for c in codes_of[d] if solver.value(x[a, d, c])) for d in range(n_days)]
        for a in agents})
    return roster, name, int(sum(solver.value(v) for v in misses))


def _greedy(days: list[date], agents: Sequence[str], rules: RosterRules, plan: CoverPlan,
            on_leave: set[tuple[str, date]], previous: Roster | None) -> dict[str, list[str]]:
    """A first roster for the solver's hint, day by day: each of the day's planned shifts,
    earliest first, goes to the agent furthest behind its hours among those the rules allow
    (runs, rest days still to take, rest since the last shift, hours cap)."""
    n_days = len(days)
    codes = {a: [LEAVE if (a, day) in on_leave else OFF for day in days] for a in agents}
    hours = dict.fromkeys(agents, 0.0)
    state = {a: history_of(previous, a, rules) for a in agents}
    rests = dict.fromkeys(agents, 0)
    target = {a: _hours_bounds(a, days, rules, on_leave) for a in agents}
    # Each agent's share of the planned hours, in proportion to its bounds' middle.
    planned_hours = sum(s.paid_hours * k for counts in plan.counts for c, k in counts.items()
                        if (s := rules.shift(c)) is not None)
    middle = {a: (lo + hi) / 20 for a, (lo, hi) in target.items()}
    share = {a: planned_hours * middle[a] / sum(middle.values()) for a in agents}
    for d, day in enumerate(days):
        taken: set[str] = set()
        planned = sorted((rules.shift(c) for c, k in plan.counts[d].items() for _ in range(k)),
                         key=lambda s: (s.start, s.length) if s else (time(), timedelta()))
        for s in planned:
            assert s is not None
            begin, end = s.span(day)

            def fits(a: str, s: Shift = s, begin: datetime = begin, d: int = d,
                     taken: set[str] = taken) -> bool:
                run, last_end = state[a]
                days_left = sum(1 for i in range(d + 1, n_days) if codes[a][i] == OFF)
                return (a not in taken and codes[a][d] == OFF
                        and run < rules.max_consecutive
                        and days_left >= rules.rest_days - rests[a]
                        and (last_end is None
                             or (begin - last_end).total_seconds() / 3600
                             >= rules.min_rest_hours)
                        and (hours[a] + s.paid_hours) * 10 <= target[a][1])

            fit = [a for a in agents if fits(a)]
            if not fit:
                continue
            free_days = {a: max(1, sum(1 for i in range(d, n_days) if codes[a][i] == OFF))
                         for a in fit}
            best = max(fit, key=lambda a: ((share[a] - hours[a]) / free_days[a], a))
            taken.add(best)
            codes[best][d] = s.code
            hours[best] += s.paid_hours
            state[best] = (state[best][0] + 1, end)
        for a in agents:
            if a not in taken:
                state[a] = (0, state[a][1])
                rests[a] += codes[a][d] == OFF
    _even_out_hours(codes, days, rules, target, previous)
    return codes


def _even_out_hours(codes: dict[str, list[str]], days: list[date], rules: RosterRules,
                    target: Mapping[str, tuple[int, int]], previous: Roster | None) -> None:
    """Bring agents below their hours floor up by exchanging a day's shifts with an agent
    who has hours to spare (a shorter shift for a longer one on the same day: the day's
    shifts, and so the coverage, stay the same), where the rest between shifts allows it."""

    def paid(a: str) -> int:
        return sum(round(s.paid_hours * 10) for c in codes[a]
                   if (s := rules.shift(c)) is not None)

    def rest_ok(a: str, d: int, code: str) -> bool:
        shift = rules.shift(code)
        assert shift is not None
        begin, end = shift.span(days[d])
        before = history_of(previous, a, rules)[1] if d == 0 else None
        if d > 0 and (s := rules.shift(codes[a][d - 1])) is not None:
            before = s.span(days[d - 1])[1]
        if before is not None and (begin - before).total_seconds() / 3600 < rules.min_rest_hours:
            return False
        if d + 1 < len(days) and (s := rules.shift(codes[a][d + 1])) is not None:
            after = s.span(days[d + 1])[0]
            if (after - end).total_seconds() / 3600 < rules.min_rest_hours:
                return False
        return True

    for a in sorted(codes, key=paid):
        for d in range(len(days)):
            if paid(a) >= target[a][0]:
                break
            mine = rules.shift(codes[a][d])
            if mine is None:
                continue
            for b in codes:
                theirs = rules.shift(codes[b][d])
                if b == a or theirs is None or theirs.paid_hours <= mine.paid_hours:
                    continue
                gain = round((theirs.paid_hours - mine.paid_hours) * 10)
                if paid(b) - gain < target[b][0] or paid(a) + gain > target[a][1]:
                    continue
                if rest_ok(a, d, theirs.code) and rest_ok(b, d, mine.code):
                    codes[a][d], codes[b][d] = theirs.code, mine.code
                    break


def _rules_hold(codes: Mapping[str, list[str]], days: list[date], rules: RosterRules,
                on_leave: set[tuple[str, date]]) -> bool:
    """Whether the greedy roster keeps the per-agent rules the greedy does not aim at (the
    hours floor and the rest days): if not, it is no roster."""
    for a, row in codes.items():
        lo, _ = _hours_bounds(a, days, rules, on_leave)
        paid = sum(s.paid_hours for c in row if (s := rules.shift(c)) is not None)
        if round(paid * 10) < lo or row.count(OFF) < rules.rest_days:
            return False
    return True


def _slots(s: Shift) -> int:
    return int(s.length / HALF_HOUR)
