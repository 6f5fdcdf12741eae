"""Call forecast per 30-minute interval from our own history, and its measured error (pure).

Method (a weekday × time-of-day profile, the standard first model for a hotline):

1. Each past day is a *day type*: its weekday (Monday … Sunday), or ``holiday`` for the
   statutory holidays of ``ivr/holidays.toml`` (a holiday's traffic looks like no weekday).
   A make-up working day (调休上班) on a weekend counts as a Monday … Friday average (its
   type is ``workday``: the mean of the weekday profiles).
2. The expected calls of a future interval = the mean of that interval's offered calls on the
   last ``weeks`` days of the same type (holidays: the last ``weeks`` holidays, else Sundays).
3. Its handling time = handled seconds / answered calls over the same days and slot (the
   whole history's mean where a slot had no answered call).
4. Patience (for Erlang A) = waiting seconds of all offered calls / abandoned calls (the
   maximum-likelihood estimate of an exponential patience), over the history.

:func:`backtest` holds out the last weeks of the history, forecasts them from the weeks
before, and reports the error: WAPE over intervals (Σ|forecast - actual| / Σ actual) and per
day, and the bias (Σ(forecast - actual) / Σ actual).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

__all__ = ["Forecast", "ForecastError", "History", "IntervalForecast", "backtest",
           "day_type", "forecast", "patience_s"]

SLOT = timedelta(minutes=30)
SLOTS_PER_DAY = 48


@dataclass(frozen=True, slots=True)
class History:
    """One past 30-minute interval (local start): offered calls, answered calls, handled
    seconds (talk + after-call work), waiting seconds and abandoned calls."""

    start: datetime
    offered: int
    answered: int = 0
    handle_s: float = 0.0
    wait_s: float = 0.0
    abandoned: int = 0


@dataclass(frozen=True, slots=True)
class IntervalForecast:
    """Expected calls and handling time of one future interval (local start)."""

    start: datetime
    calls: float
    aht_s: float


@dataclass(frozen=True, slots=True)
class Forecast:
    """A forecast and what it was built from."""

    intervals: tuple[IntervalForecast, ...]
    patience_s: float
    history_days: int


@dataclass(frozen=True, slots=True)
class ForecastError:
    """Error on held-out weeks (None without held-out calls)."""

    weeks: int
    wape_interval: float | None
    wape_day: float | None
    bias: float | None


def day_type(day: date, holidays: frozenset[date], workdays: frozenset[date]) -> str:
    """Rule 1."""
    if day in holidays:
        return "holiday"
    if day in workdays and day.weekday() >= 5:
        return "workday"
    return str(day.weekday())


def _slot(at: datetime) -> int:
    return at.hour * 2 + at.minute // 30


def patience_s(history: Iterable[History], default: float = 120.0) -> float:
    """Rule 4 (``default`` when nobody abandoned)."""
    wait = abandoned = 0.0
    for h in history:
        wait += h.wait_s
        abandoned += h.abandoned
    return wait / abandoned if abandoned else default


def forecast(history: Sequence[History], days: Sequence[date], *,
             holidays: frozenset[date] = frozenset(), workdays: frozenset[date] = frozenset(),
             weeks: int = 6) -> Forecast:
    """Rules 1-3 for every 30-minute interval of ``days``."""
    by_day: dict[date, dict[int, History]] = defaultdict(dict)
    for h in history:
        by_day[h.start.date()][_slot(h.start)] = h
    past = sorted(by_day)
    types: dict[str, list[date]] = defaultdict(list)
    for d in past:
        types[day_type(d, holidays, workdays)].append(d)
    total_answered = sum(h.answered for h in history)
    mean_aht = sum(h.handle_s for h in history) / total_answered if total_answered else 300.0
    out: list[IntervalForecast] = []
    for day in days:
        kind = day_type(day, holidays, workdays)
        if kind == "workday":
            sources = [d for k in "01234" for d in types.get(k, [])[-weeks:]]
        else:
            sources = types.get(kind, [])[-weeks:]
            if not sources and kind == "holiday":
                sources = types.get("6", [])[-weeks:]
        for slot in range(SLOTS_PER_DAY):
            cells = [by_day[d].get(slot) for d in sources]
            calls = sum(c.offered for c in cells if c) / len(sources) if sources else 0.0
            answered = sum(c.answered for c in cells if c)
            handled = sum(c.handle_s for c in cells if c)
            aht = handled / answered if answered else mean_aht
            start = datetime.combine(day, time()) + slot * SLOT
            out.append(IntervalForecast(start, calls, aht))
    return Forecast(tuple(out), patience_s(history), len(past))


def backtest(history: Sequence[History], *, holdout_weeks: int = 2,
             holidays: frozenset[date] = frozenset(), workdays: frozenset[date] = frozenset(),
             weeks: int = 6) -> ForecastError:
    """Forecast the last ``holdout_weeks`` of ``history`` from the weeks before them."""
    if not history:
        return ForecastError(holdout_weeks, None, None, None)
    last = max(h.start for h in history).date()
    cut = last - timedelta(days=7 * holdout_weeks - 1)
    train = [h for h in history if h.start.date() < cut]
    held = [h for h in history if h.start.date() >= cut]
    days = [cut + timedelta(days=i) for i in range((last - cut).days + 1)]
    predicted = {f.start: f.calls for f in forecast(train, days, holidays=holidays,
                                                    workdays=workdays, weeks=weeks).intervals}
    actual: dict[datetime, float] = defaultdict(float)
    for h in held:
        actual[h.start.replace(minute=h.start.minute - h.start.minute % 30, second=0,
                               microsecond=0, tzinfo=None)] += h.offered
    total = sum(actual.values())
    if not total:
        return ForecastError(holdout_weeks, None, None, None)
    abs_err = sum(abs(predicted.get(k, 0.0) - actual.get(k, 0.0))
                  for k in set(predicted) | set(actual))
    per_day_f: dict[date, float] = defaultdict(float)
    per_day_a: dict[date, float] = defaultdict(float)
    for k, v in predicted.items():
        per_day_f[k.date()] += v
    for k, v in actual.items():
        per_day_a[k.date()] += v
    day_err = sum(abs(per_day_f[d] - per_day_a[d]) for d in set(per_day_f) | set(per_day_a))
    bias = (sum(predicted.values()) - total) / total
    return ForecastError(holdout_weeks, abs_err / total, day_err / total, bias)
