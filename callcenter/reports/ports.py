"""What the reports need from storage (implemented in ``callcenter/reports_store.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from callcenter.reports.periods import Cell, Group

__all__ = ["CallLine", "ComplaintLine", "ReportStore"]


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
                    queue: str | None = None, agent: str | None = None) -> list[Cell]:
        """The cells of ``[start, end)`` (UTC), pre-summed by what ``by`` keeps apart:
        per queue, per agent, per local day or per 15-minute start (the other keys empty)."""
        ...

    async def refresh(self, now: datetime) -> int:
        """Bring the cells up to date with the calls ended before ``now``; the number of
        cells rewritten."""
        ...

    async def rebuild(self, start: datetime, end: datetime) -> int:
        """Recompute every cell of ``[start, end)`` from the calls."""
        ...

    async def calls(self, start: datetime, end: datetime, *, queue: str | None,
                    agent: str | None, limit: int) -> Sequence[CallLine]:
        """The calls that arrived in ``[start, end)``, newest first."""
        ...

    async def staffed(self, start: datetime, end: datetime, slot: timedelta
                      ) -> dict[datetime, float]:
        """Mean agents logged in per ``slot`` of ``[start, end)`` (keys: UTC slot starts)."""
        ...

    async def complaints(self, start: datetime, end: datetime, window_days: int
                         ) -> Sequence[ComplaintLine]:
        """The complaints of ``[start - window, end)`` (the look-back included)."""
        ...
