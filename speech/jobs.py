"""The transcription queue's rules (pure).

1. Complaint calls first: a recording of a call that reached the complaints queue, chose the
   complaint intent, or has a complaint record gets ``COMPLAINT_PRIORITY``; others 0. Claims
   take the highest priority, then the oldest job.
2. A job that fails (unreadable audio, a worker that died) is retried up to ``MAX_ATTEMPTS``
   times, then parked as ``failed`` with its error for an administrator; it never blocks the
   queue behind it.
3. A job found ``running`` when the worker starts belonged to a process that stopped: it goes
   back to ``pending`` (nothing is lost across restarts).
4. A call's transcription (what the agent's wrap-up waits for) is ``pending`` while one of its
   recordings is still being recorded, waits for its job, or has a job pending or running;
   otherwise ``done`` when a job finished, ``none`` when it has no recording or every job
   failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

COMPLAINT_PRIORITY = 10
NORMAL_PRIORITY = 0
MAX_ATTEMPTS = 3


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def priority_of(*, queue: str, intent: str, has_complaint: bool) -> int:
    """Rule 1."""
    if has_complaint or queue == "complaints" or intent == "complaint":
        return COMPLAINT_PRIORITY
    return NORMAL_PRIORITY


def state_after_failure(attempts: int) -> JobState:
    """Rule 2: ``attempts`` counts the failed attempt that just ended."""
    return JobState.FAILED if attempts >= MAX_ATTEMPTS else JobState.PENDING


def call_progress(recordings: Sequence[tuple[bool, str | None]]) -> str:
    """Rule 4 on ``(recording ended, its job's state or None)`` for each recording of a call:
    ``pending``, ``done`` or ``none``."""
    if any(not ended or state in (None, JobState.PENDING, JobState.RUNNING)
           for ended, state in recordings):
        return "pending"
    return "done" if any(state == JobState.DONE for _, state in recordings) else "none"
