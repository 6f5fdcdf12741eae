"""The staffing table: per 30-minute interval, agents needed by Erlang C and by Erlang A, what
goes on the roster (shrinkage, the regulation's floors) and what was actually staffed (pure).

The regulation: at least ``day_floor`` (8) agents online in the daytime (``day_start`` -
``day_end``, 08:00-20:00, the day shift band) and ``night_floor`` (2) at night; answer rate
at least 90 %; the service-level target is the hotline's (80 % in 20 s by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time

from callcenter.reports.erlang import (
    StaffingTarget,
    agents_erlang_a,
    agents_erlang_c,
    erlang_a,
    scheduled,
)
from callcenter.reports.forecast import Forecast

__all__ = ["StaffingPolicy", "StaffingRow", "floor_at", "seat_hours", "staffing_table"]

INTERVAL_S = 1800.0


@dataclass(frozen=True, slots=True)
class StaffingPolicy:
    """Targets, shrinkage and the regulation's floors."""

    target: StaffingTarget = field(default_factory=StaffingTarget)
    shrinkage: float = 0.25
    day_floor: int = 8
    night_floor: int = 2
    day_start: time = time(8)
    day_end: time = time(20)


@dataclass(frozen=True, slots=True)
class StaffingRow:
    """One interval of the table (``staffed`` None for the future)."""

    start: datetime
    calls: float
    aht_s: float
    erlang_c: int
    erlang_a: int
    floor: int
    roster_c: int
    roster_a: int
    expected_answer_rate: float
    expected_service_level: float
    staffed: float | None = None


def floor_at(start: datetime, policy: StaffingPolicy) -> int:
    """The regulation's minimum for the interval starting at ``start`` (local)."""
    day = policy.day_start <= start.time() < policy.day_end
    return policy.day_floor if day else policy.night_floor


def staffing_table(plan: Forecast, policy: StaffingPolicy,
                   staffed: Mapping[datetime, float] | None = None) -> list[StaffingRow]:
    """Every interval of ``plan`` with its agents (``staffed``: local start -> mean agents
    logged in, for intervals in the past)."""
    rows = []
    cache: dict[tuple[float, float], tuple[int, int]] = {}
    for f in plan.intervals:
        key = (round(f.calls, 2), round(f.aht_s))
        if key not in cache:
            cache[key] = (
                agents_erlang_c(f.calls, f.aht_s, INTERVAL_S, policy.target),
                agents_erlang_a(f.calls, f.aht_s, INTERVAL_S, plan.patience_s, policy.target))
        need_c, need_a = cache[key]
        floor = floor_at(f.start, policy)
        # On the phones: the Erlang A need, at least the floor (which is agents online).
        on_phones = max(need_a, floor)
        quality = erlang_a(on_phones, f.calls, f.aht_s, INTERVAL_S, plan.patience_s,
                           policy.target.within_s)
        rows.append(StaffingRow(
            f.start, f.calls, f.aht_s, need_c, need_a, floor,
            scheduled(need_c, policy.shrinkage, floor), scheduled(need_a, policy.shrinkage, floor),
            quality.answer_rate, quality.service_level,
            None if staffed is None else staffed.get(f.start)))
    return rows


def seat_hours(rows: Sequence[StaffingRow], which: str) -> float:
    """Total agent-hours of a column (``erlang_c``, ``erlang_a``, ``roster_c``, ``roster_a``,
    ``floor``) over ``rows``."""
    total: float = sum(getattr(r, which) for r in rows)
    return total * INTERVAL_S / 3600
