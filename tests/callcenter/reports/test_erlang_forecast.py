"""Erlang C / Erlang A, the forecast and the staffing table (pure)."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta

import pytest

from callcenter.reports.erlang import (
    StaffingTarget,
    agents_erlang_a,
    agents_erlang_c,
    erlang_a,
    erlang_c,
    scheduled,
    service_level_c,
)
from callcenter.reports.forecast import History, backtest, day_type, forecast, patience_s
from callcenter.reports.staffing import StaffingPolicy, floor_at, seat_hours, staffing_table
from simulator.staffed_queue import Interval, run_plan, totals

TARGET = StaffingTarget(service_level=0.80, within_s=20.0, answer_rate=0.90)


@pytest.mark.parametrize(("n", "load", "expected"), [
    (11, 10.0, 0.6821), (2, 1.0, 0.3333), (1, 0.5, 0.5), (12, 10.0, 0.4494)])
def test_erlang_c_matches_the_tables(n: int, load: float, expected: float) -> None:
    assert erlang_c(n, load) == pytest.approx(expected, abs=1e-4)


def test_the_textbook_case_needs_24_agents_by_erlang_c() -> None:
    # 200 calls in 30 minutes, 180 s handling: 20 Erlangs; 80 % in 20 s needs 24 agents.
    assert agents_erlang_c(200, 180, 1800, TARGET) == 24
    assert service_level_c(23, 200, 180, 1800, 20) < 0.80 <= service_level_c(24, 200, 180,
                                                                               1800, 20)


def test_erlang_a_without_abandonment_is_erlang_c() -> None:
    a = erlang_a(24, 200, 180, 1800, patience_s=1e9, within_s=20)
    assert a.service_level == pytest.approx(service_level_c(24, 200, 180, 1800, 20), abs=1e-4)
    assert a.p_wait == pytest.approx(erlang_c(24, 20.0), abs=1e-4)


def test_abandonment_lowers_the_need_below_erlang_c() -> None:
    need_a = agents_erlang_a(200, 180, 1800, 120, TARGET)
    assert need_a < agents_erlang_c(200, 180, 1800, TARGET)
    figures = erlang_a(need_a, 200, 180, 1800, 120, 20)
    assert figures.service_level >= 0.80 and figures.answer_rate >= 0.90
    below = erlang_a(need_a - 1, 200, 180, 1800, 120, 20)
    assert below.service_level < 0.80 or below.answer_rate < 0.90


def test_erlang_a_agrees_with_the_simulated_pbx_queue() -> None:
    """The PBX simulator's queue (the engine behind ``serve --simulate``) staffed with 5
    agents, 120 calls per half hour, 60 s talk, 45 s patience, for 10 virtual hours: the same
    answer rate and service level as the formula, within sampling error (about 2,400 calls)."""
    tallies = run_plan([Interval(120, 60, 5)] * 20, patience_s=45, seed=3)
    seen = totals(tallies)
    theory = erlang_a(5, 120, 60, 1800, 45, 20)
    assert seen["offered"] > 2000
    assert seen["answered"] / seen["offered"] == pytest.approx(theory.answer_rate, abs=0.02)
    assert seen["within"] / seen["offered"] == pytest.approx(theory.service_level, abs=0.02)


def test_the_simulated_queue_follows_the_staffing_of_each_interval() -> None:
    """Off shift is a pause: with nobody on shift in the second hour its callers are not
    answered (the agents finish the calls they have), the first hour's are."""
    tallies = run_plan([Interval(60, 60, 4)] * 2 + [Interval(60, 60, 0)] * 2,
                       patience_s=30, seed=5)
    assert all(t.offered for t in tallies)
    assert tallies[0].answered / tallies[0].offered > 0.9
    assert tallies[3].answered == 0


def test_no_calls_need_no_agents_and_the_roster_never_goes_below_the_floor() -> None:
    assert agents_erlang_c(0, 180, 1800, TARGET) == agents_erlang_a(0, 180, 1800, 60,
                                                                    TARGET) == 0
    assert scheduled(0, 0.25, floor=2) == 2
    assert scheduled(9, 0.25, floor=8) == 12
    with pytest.raises(ValueError, match="shrinkage"):
        scheduled(3, 1.0, floor=0)


@pytest.mark.parametrize(("at", "floor"), [(time(7, 30), 2), (time(8), 8), (time(19, 30), 8),
                                           (time(20), 2), (time(0), 2)])
def test_the_regulation_floor_is_8_by_day_and_2_by_night(at: time, floor: int) -> None:
    assert floor_at(datetime.combine(date(2027, 1, 4), at), StaffingPolicy()) == floor


def history(weeks: int, *, start: date = date(2026, 11, 2), noise: float = 0.0,
            seed: int = 1) -> list[History]:
    """Weekday traffic with a daytime hump; Sundays half; AHT 200 s."""
    rng = random.Random(seed)
    out = []
    for d in range(weeks * 7):
        day = start + timedelta(days=d)
        for slot in range(48):
            at = datetime.combine(day, time()) + slot * timedelta(minutes=30)
            base = 30 * math.exp(-((slot - 24) / 8) ** 2) + 1
            if day.weekday() == 6:
                base /= 2
            calls = max(0, round(base * (1 + rng.uniform(-noise, noise))))
            out.append(History(at, calls, calls, calls * 200.0, wait_s=calls * 10.0,
                               abandoned=calls // 10))
    return out


def test_forecast_repeats_a_steady_weekly_pattern() -> None:
    plan = forecast(history(4), [date(2026, 11, 30), date(2026, 12, 6)])
    monday_noon = next(f for f in plan.intervals if f.start == datetime(2026, 11, 30, 12))
    sunday_noon = next(f for f in plan.intervals if f.start == datetime(2026, 12, 6, 12))
    assert monday_noon.calls == 31 and sunday_noon.calls == 16  # round(31 / 2)
    assert monday_noon.aht_s == 200.0


def test_patience_is_the_waiting_time_per_abandon() -> None:
    at = datetime(2026, 11, 30, 12)
    assert patience_s([History(at, 10, wait_s=300.0, abandoned=2),
                       History(at, 5, wait_s=100.0, abandoned=2)]) == 100.0
    assert patience_s([History(at, 10, wait_s=300.0)], default=90.0) == 90.0


def test_holidays_are_their_own_day_type_and_fall_back_to_sundays() -> None:
    holiday = date(2026, 12, 2)  # a Wednesday
    assert day_type(holiday, frozenset({holiday}), frozenset()) == "holiday"
    assert day_type(date(2026, 12, 5), frozenset(), frozenset({date(2026, 12, 5)})) == \
        "workday"
    plan = forecast(history(4), [holiday], holidays=frozenset({holiday}))
    noon = next(f for f in plan.intervals if f.start.hour == 12 and f.start.minute == 0)
    assert noon.calls == 16  # Sunday-like


def test_backtest_measures_the_error_on_held_out_weeks() -> None:
    steady = backtest(history(6), holdout_weeks=2)
    assert steady.wape_interval == 0.0 and steady.bias == 0.0
    noisy = backtest(history(8, noise=0.3), holdout_weeks=2)
    assert noisy.wape_interval is not None and 0.05 < noisy.wape_interval < 0.3
    assert noisy.wape_day is not None and noisy.wape_day < noisy.wape_interval


def test_staffing_table_puts_erlang_a_beside_erlang_c_and_the_staffed() -> None:
    plan = forecast(history(4), [date(2026, 11, 30)])
    staffed = {datetime(2026, 11, 30, 12): 11.5}
    rows = staffing_table(plan, StaffingPolicy(), staffed)
    assert len(rows) == 48
    noon = rows[24]
    assert noon.erlang_a <= noon.erlang_c
    assert noon.roster_a >= max(noon.erlang_a, 8)
    assert noon.staffed == 11.5 and rows[0].staffed is None
    assert all(r.roster_a >= r.floor for r in rows)
    assert all(r.expected_answer_rate >= 0.9 for r in rows if r.calls)
    assert seat_hours(rows, "roster_a") <= seat_hours(rows, "roster_c")
