"""What supervision needs from storage: the day's ended calls (implemented in
``callcenter/supervision_store.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from callcenter.reports.kpi import CallFact

__all__ = ["DayCalls"]


class DayCalls(Protocol):
    """The stored call records."""

    async def ended_between(self, start: datetime, end: datetime
                            ) -> Sequence[tuple[CallFact, float]]:
        """The ended calls that arrived in ``[start, end)``: their KPI fact (the reports'
        definitions) and their arrival as an epoch."""
        ...
