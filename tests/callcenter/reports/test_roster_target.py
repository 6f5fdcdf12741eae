"""Planning the roster to the month's target: the cover stage with soft coverage below the
need, a seat-hours budget and the regulation's floors kept hard (roster_solver.cover)."""

from __future__ import annotations

import math
from datetime import date, datetime, time

import pytest

from callcenter.reports.roster import BANDS, HALF_HOUR, RosterRules, shift_catalogue, slot_floor
from callcenter.reports.roster_solver import CoverPlan, cover, generate

RULES = RosterRules(shifts=BANDS + shift_catalogue((8.0,), 60))
DAYS = [date(2027, 2, 1), date(2027, 2, 2)]
FIRST = datetime.combine(DAYS[0], time())


def at(i: int) -> datetime:
    return FIRST + i * HALF_HOUR


def need_of(i: int) -> int:
    """The floors, a morning peak of 14 (09:00-11:00) and an evening shoulder of 10
    (17:00-19:00)."""
    hour = at(i).time()
    if time(9) <= hour < time(11):
        return 14
    if time(17) <= hour < time(19):
        return 10
    return slot_floor(at(i), RULES)


WANTED = {i: max(need_of(i), slot_floor(at(i), RULES)) for i in range(len(DAYS) * 48)
          if at(i) >= datetime.combine(DAYS[0], RULES.day_start)}
LOWER = {i: max(slot_floor(at(i), RULES), math.ceil(0.9 * need_of(i))) for i in WANTED}


def on_shift(plan: CoverPlan) -> dict[int, int]:
    out = dict.fromkeys(WANTED, 0)
    for d, counts in enumerate(plan.counts):
        for code, k in counts.items():
            shift = RULES.shift(code)
            assert shift is not None
            begin, end = shift.span(DAYS[d])
            t = begin
            while t < end:
                i = int((t - FIRST) / HALF_HOUR)
                if i in out:
                    out[i] += k
                t += HALF_HOUR
    return out


def solve(**kw: object) -> CoverPlan:
    return cover(DAYS, [], RULES, WANTED, {}, set(), time_limit_s=10, workers=1,
                 agent_limits=False, **kw)  # type: ignore[arg-type]


def test_the_target_plan_keeps_the_budget_and_the_floors() -> None:
    hard = solve()
    assert hard.counts and hard.shortfall == 0
    budget = int(0.97 * hard.slots)
    plan = solve(lower=LOWER, budget_slots=budget)
    assert plan.counts, plan.status
    have = on_shift(plan)
    assert plan.slots <= budget < hard.slots
    assert all(have[i] >= LOWER[i] for i in WANTED)  # floors and 90 % of the need: hard
    assert all(have[i] >= slot_floor(at(i), RULES) for i in WANTED)
    short = sum(max(0, WANTED[i] - have[i]) for i in WANTED)
    assert short == plan.shortfall > 0
    assert plan.bound == 0  # soft coverage proves no lower bound


def test_the_shortfall_lands_on_the_intervals_with_fewer_calls() -> None:
    budget = int(0.98 * solve().slots)

    def shortfalls(peak_calls: int, evening_calls: int) -> tuple[int, int]:
        calls = {i: peak_calls if WANTED[i] == 14 else evening_calls for i in WANTED}
        have = on_shift(solve(lower=LOWER, budget_slots=budget, weights=calls))
        return (sum(max(0, 14 - have[i]) for i in WANTED if WANTED[i] == 14),
                sum(max(0, WANTED[i] - have[i]) for i in WANTED if WANTED[i] != 14))

    peak, evening = shortfalls(200, 20)  # the morning peak carries the calls
    assert peak == 0 and evening > 0
    peak, evening = shortfalls(20, 200)  # the evening does
    assert peak > 0 and evening == 0


def test_a_budget_below_the_floors_has_no_target_plan() -> None:
    floors_only = {i: slot_floor(at(i), RULES) for i in WANTED}
    least = cover(DAYS, [], RULES, floors_only, {}, set(), time_limit_s=10, workers=1,
                  agent_limits=False)
    plan = solve(lower=LOWER, budget_slots=least.slots - 1)
    assert plan.counts == []


def test_generate_refuses_an_unknown_coverage_mode() -> None:
    with pytest.raises(ValueError, match="coverage"):
        generate(2027, 2, ["8001"], RULES, coverage="soft", time_limit_s=1)

