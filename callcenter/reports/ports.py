"""What the reports need from storage (implemented in ``callcenter/reports_store.py``) and
from the run-time settings (``callcenter/runtime_settings_store.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from callcenter.reports.periods import Cell, Group

__all__ = ["CallLine", "ComplaintLine", "Definitions", "LiveDefinitions", "ReportStore",
           "RosterStore", "StoredRoster", "SwapLine", "TeamDirectory"]


@dataclass(frozen=True, slots=True)
class Definitions:
    """The definitions in force that an administrator may change while the product runs
    (``/admin`` settings): answered within ``service_level_s`` counts for the service level,
    ``answer_rate_target`` is the answer-rate target (a fraction)."""

    service_level_s: float
    answer_rate_target: float


class LiveDefinitions(Protocol):
    """Where the reports read the definitions in force (the same values the wallboard uses).
    Called once per report; it does no I/O (the settings in force are held in memory)."""

    def __call__(self) -> Definitions: ...


@dataclass(frozen=True, slots=True)
class CallLine:
    """One call of a drill-down (an agent's calls in a period)."""

    linked_id: str
    arrived_at: datetime
    queue: str
    agent: str
    outcome: str
    wait_s: float | None
    talk_s: float | None
    disposition: str | None
    satisfaction: int | None


@dataclass(frozen=True, slots=True)
class ComplaintLine:
    """One complaint, for the repeat-complaint rate (kpi rule R8 on complaints)."""

    key: str
    merchant_id: int
    problem: str
    at: datetime


class ReportStore(Protocol):
    """The KPI cells, kept current as calls end, and the raw lines behind them."""

    async def cells(self, start: datetime, end: datetime, by: Group, *,
                    queue: str | None = None, agent: str | None = None,
                    agents: frozenset[str] | None = None,
                    service_level_s: float | None = None) -> list[Cell]:
        """The cells of ``[start, end)`` (UTC), pre-summed by what ``by`` keeps apart:
        per queue, per agent, per local day or per 15-minute start (the other keys empty).
        ``answered_in_sl`` counts the answered calls that waited at most ``service_level_s``
        (the store's own policy's threshold when None): any threshold, over every stored
        call."""
        ...

    async def refresh(self, now: datetime) -> int:
        """Bring the cells up to date with the calls ended before ``now``; the number of
        cells rewritten."""
        ...

    async def rebuild(self, start: datetime, end: datetime) -> int:
        """Recompute every cell of ``[start, end)`` from the calls."""
        ...

    async def calls(self, start: datetime, end: datetime, *, queue: str | None,
                    agent: str | None, limit: int,
                    agents: frozenset[str] | None = None) -> Sequence[CallLine]:
        """The calls that arrived in ``[start, end)``, newest first."""
        ...

    async def staffed(self, start: datetime, end: datetime, slot: timedelta,
                      agents: frozenset[str] | None = None
                      ) -> dict[datetime, float]:
        """Mean agents logged in per ``slot`` of ``[start, end)`` (keys: UTC slot starts)."""
        ...

    async def complaints(self, start: datetime, end: datetime, window_days: int
                         ) -> Sequence[ComplaintLine]:
        """The complaints of ``[start - window, end)`` (the look-back included)."""
        ...


@dataclass(frozen=True, slots=True)
class StoredRoster:
    """A month's roster as kept: its CSV, the approved leave's CSV, who saved it and when."""

    month: str
    roster_csv: str
    leave_csv: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class SwapLine:
    """A swap request and its decision (``state``: pending, approved, rejected)."""

    id: int
    month: str
    agent_a: str
    agent_b: str
    day: date
    requested_by: str
    state: str
    decided_by: str
    created_at: datetime


class RosterStore(Protocol):
    """Rosters and swap requests."""

    async def roster(self, month: str) -> StoredRoster | None: ...

    async def save_roster(self, month: str, roster_csv: str, leave_csv: str, by: str,
                          at: datetime) -> None: ...

    async def swaps(self, month: str) -> list[SwapLine]: ...

    async def swap(self, swap_id: int) -> SwapLine | None: ...

    async def add_swap(self, month: str, agent_a: str, agent_b: str, day: date,
                       requested_by: str, at: datetime) -> int: ...

    async def decide_swap(self, swap_id: int, state: str, by: str, at: datetime,
                          roster_csv: str | None) -> SwapLine:
        """Mark a pending swap approved or rejected (``roster_csv``: the month's roster with
        the swap applied, saved in the same transaction). Raises LookupError for an unknown
        or already decided swap."""
        ...


class TeamDirectory(Protocol):
    """Teams (班组): a team lead's views show its own team's agents only."""

    async def team_agents(self, user_id: int) -> frozenset[str]:
        """Agent numbers of the agents in the account's team (empty without a team)."""
        ...
