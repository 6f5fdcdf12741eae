"""Staffing benchmark: does the generated roster carry a month of forecast traffic?

1. History: ``--weeks`` (8) weeks of a 40-agent hotline (~4,100 calls a day, a weekday ×
   time-of-day profile with a morning peak, quieter weekends, statutory holidays from
   ``ivr/holidays.toml``), exponential patience ``--patience`` (90 s), AHT ~240 s.
2. Forecast the month ``--month`` (2027-01) per 30-minute interval (``forecast.py``) and
   measure the forecast's error on two held-out weeks.
3. Staffing table (``staffing.py``): Erlang C and Erlang A agents per interval for 80 % in 20 s
   and 90 % answered; the roster need = Erlang A with ``--shrinkage`` and the floors (8 by
   day, 2 at night).
4. Roster: OR-Tools CP-SAT for ``--agents`` agents (default: the lower bound's hours over
   176 a month), judged by the independent checker (broken rules) and ``need_shortfall``
   (intervals below the need: planning warnings). ``--coverage target`` (default) plans to
   the month's target within ``--budget-ratio`` (1.05) × the Erlang A minimum;
   ``--coverage hard`` covers every interval's need. The lower bound is the hard cover stage
   of ``roster_solver`` without agents: the fewest agent-hours on shift that cover max(need,
   floor) with the regulation's shifts (7-8 h at every half hour, the 12-hour bands).
5. Simulation in virtual time through the PBX simulator's engine (``simulator.staffed_queue``:
   the queue of ``serve --simulate``, members paused off shift): a month of Poisson arrivals
   at the forecast rates, exponential talk and patience; the agents on the phones in each
   interval are the rostered agents times (1 - shrinkage). It reports answer rate and service
   level overall and per interval.

Printed (one JSON document): answer rate and service level of the month, the share of
intervals meeting each target, the worst intervals; seat-hours on the phones of the roster
beside the Erlang A minimum (max(Erlang A, floor) per interval) and Erlang C's, with the ratio
roster / Erlang A minimum (the issue's bar: at most 1.05), and ``issue_bar``: whether the month
meets 90 % answered, the service-level target, 1.05× and no broken rule.

Run: ``.venv/bin/python bench/staffing.py`` (about three minutes on two cores: the solver has
``--time-limit``, the simulator plays some 105,000 calls).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time as wall
from datetime import date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcenter.reports.erlang import StaffingTarget
from callcenter.reports.forecast import History, backtest, forecast
from callcenter.reports.roster import (
    RosterRules,
    check,
    coverage,
    month_days,
    need_shortfall,
    shortfall_slots,
    slot_floor,
)
from callcenter.reports.roster_solver import cover, generate
from callcenter.reports.staffing import StaffingPolicy, staffing_table
from ivr.menu_config import load_holidays
from simulator.staffed_queue import Interval, run_plan

SLOT = timedelta(minutes=30)


def shape(slot: int) -> float:
    """Relative traffic of a half hour: quiet nights, a 10:00 peak, a 14:30 second peak."""
    hour = slot / 2
    return (0.08 + 1.0 * math.exp(-((hour - 10.25) / 1.8) ** 2)
            + 0.75 * math.exp(-((hour - 14.75) / 2.2) ** 2)
            + 0.25 * math.exp(-((hour - 19.5) / 1.5) ** 2))


def day_factor(day: date, holidays: frozenset[date]) -> float:
    if day in holidays:
        return 0.45
    return (1.05, 1.0, 1.0, 0.98, 0.95, 0.6, 0.5)[day.weekday()]


def history(first: date, weeks: int, per_day: float, aht: float, patience: float,
            holidays: frozenset[date], rng: random.Random) -> list[History]:
    total_shape = sum(shape(s) for s in range(48))
    out = []
    for d in range(weeks * 7):
        day = first + timedelta(days=d)
        for slot in range(48):
            mean = per_day * day_factor(day, holidays) * shape(slot) / total_shape
            calls = _poisson(rng, mean)
            abandoned = round(calls * 0.04)
            out.append(History(datetime.combine(day, time()) + slot * SLOT, calls,
                               calls - abandoned, (calls - abandoned) * aht,
                               abandoned * patience, abandoned))
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--month", default="2027-01")
    p.add_argument("--weeks", type=int, default=8)
    p.add_argument("--calls-per-day", type=float, default=4100.0)
    p.add_argument("--aht", type=float, default=240.0)
    p.add_argument("--patience", type=float, default=90.0)
    p.add_argument("--shrinkage", type=float, default=0.0)
    p.add_argument("--agents", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=50.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--coverage", choices=("target", "hard"), default="target",
                   help="plan to the month's target within the budget, or every interval's need")
    p.add_argument("--budget-ratio", type=float, default=1.05,
                   help="target plan: agent-hours on shift over the Erlang A minimum")
    args = p.parse_args()
    rng = random.Random(args.seed)
    year, month = (int(x) for x in args.month.split("-"))
    days = month_days(year, month)
    calendar = load_holidays()
    holidays = frozenset(h.start + timedelta(days=i) for h in calendar.holidays
                         for i in range((h.end - h.start).days + 1))
    first = days[0] - timedelta(weeks=args.weeks)
    past = history(first, args.weeks, args.calls_per_day, args.aht, args.patience, holidays,
                   rng)
    error = backtest(past, holdout_weeks=2, holidays=holidays, workdays=calendar.workdays)
    plan = forecast(past, days, holidays=holidays, workdays=calendar.workdays)
    policy = StaffingPolicy(target=StaffingTarget(0.80, 20.0, 0.90), shrinkage=args.shrinkage)
    rows = staffing_table(plan, policy)
    need = {r.start: r.roster_a for r in rows}
    rules = RosterRules()
    # The lower bound: the fewest agent-hours on shift that cover max(need, floor) with the
    # regulation's shifts, whatever the number of agents (the cover stage without agents).
    judged = datetime.combine(days[0], rules.day_start)
    wanted = {i: max(need.get(at, 0), slot_floor(at, rules))
              for i in range(len(days) * 48)
              if (at := datetime.combine(days[0], time()) + i * SLOT) >= judged}
    t = wall.perf_counter()
    bound = cover(days, [], rules, wanted, {}, set(), time_limit_s=20, agent_limits=False)
    bound_s = wall.perf_counter() - t
    bound_hours = bound.bound / 2
    n_agents = args.agents or math.ceil(bound_hours / rules.monthly_hours)
    agents = [f"{8001 + i}" for i in range(n_agents)]
    t = wall.perf_counter()
    calls = {f.start: f.calls for f in plan.intervals}
    result = generate(year, month, agents, rules, need=need, holidays=holidays,
                      time_limit_s=args.time_limit, coverage=args.coverage, calls=calls,
                      budget_ratio=args.budget_ratio)
    solve_s = wall.perf_counter() - t
    if result.roster is None:
        print(json.dumps({"error": f"no roster ({result.status})", "agents": n_agents}))
        return 1
    broken = check(result.roster, rules)
    below_need = need_shortfall(result.roster, rules, need)
    on_shift = coverage(result.roster, rules)
    on_phones = {k: math.floor(v * (1 - args.shrinkage) + 1e-9) for k, v in on_shift.items()}
    # The month's first hours are the previous month's night shift: staff them as planned.
    for r in rows:
        if r.start < datetime.combine(days[0], rules.day_start):
            on_phones[r.start] = max(r.erlang_a, r.floor)
    t = wall.perf_counter()
    tallies = run_plan([Interval(f.calls, f.aht_s, on_phones.get(f.start, 0))
                        for f in plan.intervals], patience_s=plan.patience_s, within_s=20.0,
                       seed=args.seed)
    sim_s = wall.perf_counter() - t
    offered = sum(s.offered for s in tallies)
    answered = sum(s.answered for s in tallies)
    in_sl = sum(s.within for s in tallies)
    per_interval = [(f.start, s.answered / s.offered, s.within / s.offered, s.offered)
                    for f, s in zip(plan.intervals, tallies, strict=True) if s.offered]
    erlang_a_min = sum(max(r.erlang_a, r.floor) for r in rows) * 0.5
    erlang_c_hours = sum(max(r.erlang_c, r.floor) for r in rows) * 0.5
    roster_phones = sum(on_phones.get(r.start, 0) for r in rows) * 0.5
    first_night = sum(max(r.erlang_a, r.floor) for r in rows if r.start < judged) * 0.5
    worst = sorted(per_interval, key=lambda x: x[2])[:5]
    answer_rates = sorted(a for _, a, _, _ in per_interval)
    levels = sorted(sl for _, _, sl, _ in per_interval)
    report = {
        "month": args.month, "agents": n_agents, "calls_offered": offered,
        "forecast_error_holdout_2_weeks": {"wape_interval": _r(error.wape_interval),
                                           "wape_day": _r(error.wape_day),
                                           "bias": _r(error.bias)},
        "roster": {"coverage": result.coverage, "solver": result.status,
                   "solve_s": round(solve_s, 1), "rules_broken": len(broken),
                   "budget_agent_hours": result.budget_slots / 2,
                   "cover_stage_shortfall_agent_intervals": result.shortfall,
                   "below_need_agent_intervals": shortfall_slots(result.roster, rules, need),
                   "days_below_need_warnings": len(below_need),
                   "missed_shifts": result.missed_shifts},
        "simulated": {"answer_rate": _r(answered / offered), "service_level": _r(in_sl / offered),
                      "intervals": len(per_interval),
                      "intervals_answer_rate_ge_90": _r(sum(a >= 0.9 for _, a, _, _ in
                                                            per_interval) / len(per_interval)),
                      "intervals_service_level_ge_80": _r(sum(s >= 0.8 for _, _, s, _ in
                                                              per_interval) / len(per_interval)),
                      "calls_in_intervals_service_level_ge_80": _r(
                          sum(n for _, _, s, n in per_interval if s >= 0.8) / offered),
                      "interval_answer_rate_p10_p25_p50": [
                          _r(_pct(answer_rates, q)) for q in (0.1, 0.25, 0.5)],
                      "interval_service_level_p10_p25_p50": [
                          _r(_pct(levels, q)) for q in (0.1, 0.25, 0.5)],
                      "worst_intervals": [{"start": k.isoformat(), "answer_rate": _r(a),
                                           "service_level": _r(s), "offered": n}
                                          for k, a, s, n in worst],
                      "sim_s": round(sim_s, 1)},
        "seat_hours_on_phones": {"erlang_c": erlang_c_hours, "erlang_a_minimum": erlang_a_min,
                                 "roster": roster_phones,
                                 "roster_over_erlang_a": _r(roster_phones / erlang_a_min),
                                 "lower_bound_7_8h_shifts": bound_hours,
                                 "lower_bound_over_erlang_a": _r(
                                     (bound_hours + first_night) / erlang_a_min),
                                 "lower_bound_s": round(bound_s, 1)},
        "shrinkage": args.shrinkage,
    }
    report["issue_bar"] = {
        "answer_rate_ge_0_90": answered / offered >= 0.90,
        "service_level_ge_target": in_sl / offered >= policy.target.service_level,
        "seat_hours_le_1_05_erlang_a": roster_phones / erlang_a_min <= 1.05,
        "no_rule_broken": not broken}
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def _pct(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


if __name__ == "__main__":
    raise SystemExit(main())
