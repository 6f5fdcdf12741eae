"""The transcription queue's rules (pure).

1. Complaint calls first: a recording of a call that reached the complaints queue, chose the
   complaint intent, or has a complaint record gets ``COMPLAINT_PRIORITY``; others 0. Claims
   take the highest priority, then the oldest job.
2. A job that fails (unreadable audio, a worker that died) is retried up to ``MAX_ATTEMPTS``
   times, then parked as ``failed`` with its error for an administrator; it never blocks the
   queue behind it.
3. A job found ``running`` when the worker starts belonged to a process that stopped: it goes
   back to ``pending`` (nothing is lost across restarts).
"""

from __future__ import annotations

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
