"""The daily QA draw: once the local day is over, draw its sample (rule 1 of
:mod:`recording.qa_rules`) and share it among the reviewers. Runs every hour; a draw is
idempotent (it only tops up), so a restart or a second process does no harm beyond a no-op."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from recording.periodic import PeriodicJob
from recording.qa_rules import Draw

logger = logging.getLogger(__name__)


class QaDrawStore(Protocol):
    async def draw(self, day: date, tz: ZoneInfo, now: datetime, *, per_agent: int,
                   min_seconds: float) -> list[Draw]: ...


class QaDrawJob(PeriodicJob):
    name = "qa-draw"

    def __init__(self, store: QaDrawStore, tz: ZoneInfo, clock: Callable[[], datetime], *,
                 per_agent: int, min_seconds: float, interval: float = 3600.0) -> None:
        self.store = store
        self.tz = tz
        self.clock = clock
        self.per_agent = per_agent
        self.min_seconds = min_seconds
        self.interval = interval

    async def run_once(self) -> int:
        """Draw yesterday's (local) sample; returns how many calls were newly drawn."""
        now = self.clock()
        day = now.astimezone(self.tz).date() - timedelta(days=1)
        draws = await self.store.draw(day, self.tz, now, per_agent=self.per_agent,
                                      min_seconds=self.min_seconds)
        if draws:
            logger.info("QA sample of %s: %d calls drawn", day, len(draws))
        return len(draws)

    def enabled(self) -> bool:
        return self.per_agent > 0
