"""What supervision needs from storage (implemented in ``callcenter/supervision_store.py``):
the day's ended calls, and the business and speech state behind the standing alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from callcenter.business.records import ComplaintCase, DeadLetter
from callcenter.reports.kpi import CallFact

__all__ = ["DayCalls", "SpeechAlertRecord", "StandingAlerts", "StandingState"]


class DayCalls(Protocol):
    """The stored call records."""

    async def ended_between(self, start: datetime, end: datetime
                            ) -> Sequence[tuple[CallFact, float]]:
        """The ended calls that arrived in ``[start, end)``: their KPI fact (the reports'
        definitions) and their arrival as an epoch."""
        ...


@dataclass(frozen=True, slots=True)
class SpeechAlertRecord:
    """Keywords heard in a call's transcripts (``speech_alerts``), with the recording's
    opaque token."""

    id: int
    linked_id: str
    recording: str
    keywords: tuple[str, ...]
    hits: tuple[dict[str, Any], ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class StandingState:
    """What the standing alerts are made of, as stored now."""

    complaints: Sequence[ComplaintCase] = ()  # open ones, and every one made lately
    dead_letters: Sequence[DeadLetter] = ()
    speech: Sequence[SpeechAlertRecord] = field(default=())  # newest first


class StandingAlerts(Protocol):
    """The business records and speech alerts behind the wallboard's standing alerts."""

    async def current(self, complaints_since: datetime, speech_since: datetime
                      ) -> StandingState:
        """Open complaints and those made since ``complaints_since`` (once each),
        dead-lettered deliveries, and the speech alerts raised since ``speech_since``
        (newest first)."""
        ...
