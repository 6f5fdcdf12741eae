"""The storage pipeline of one recording, as a pure machine.

Rules:

1. A recording enters the pipeline when its call has ended (``ended_at`` is set); until then it
   stays ``new`` and no step runs (the file is still being written by Asterisk).
2. The steps run in a fixed order, one stage per step, and each stage is committed to the index
   row only after the step's output file is complete on disk (written beside, then renamed):
   ``new`` → compress → ``compressed`` → verify → ``verified`` → seal → ``sealed`` → index →
   ``indexed`` → remove the original → ``stored``.
3. A step is idempotent: redone after a crash it rewrites the same output. So a crash at any
   point resumes at the first uncommitted step and loses nothing; the original WAV is removed
   only once the index row says the compressed (and sealed) file is complete and verified.
4. With encryption off, ``seal`` only records that the Ogg file is the stored file.
5. A failed step is retried after a back-off that doubles (30 s, 1 min, 2 min, … at most 1 h);
   after ``MAX_ATTEMPTS`` failures the recording is ``failed`` and keeps its original, for a
   person to look at (``/healthz`` and the CLI show the count).
6. ``purged`` (retention, see :mod:`recording.retention`) is final.
7. Several processes may run the pipeline. A worker works on a recording only while it holds
   the row's lease: it claims rows whose lease is free or has run out (:func:`claimable`) in one
   conditional write, so two workers never hold the same row; each committed step renews the
   lease for another ``LEASE``, and a step's result is committed only by the holder (a worker
   that finds the row taken over stops there). A worker that crashed leaves a lease that runs
   out after ``LEASE``; another then resumes the row at its last committed stage (rule 3). The
   lease is let go when the row reaches a final stage or waits for a retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Stage(StrEnum):
    NEW = "new"
    COMPRESSED = "compressed"
    VERIFIED = "verified"
    SEALED = "sealed"
    INDEXED = "indexed"
    STORED = "stored"
    FAILED = "failed"
    PURGED = "purged"


class Step(StrEnum):
    COMPRESS = "compress"
    VERIFY = "verify"
    SEAL = "seal"
    INDEX = "index"
    REMOVE_ORIGINAL = "remove_original"


# stage the row is in → (step to run, stage once it has run)
TRANSITIONS: dict[Stage, tuple[Step, Stage]] = {
    Stage.NEW: (Step.COMPRESS, Stage.COMPRESSED),
    Stage.COMPRESSED: (Step.VERIFY, Stage.VERIFIED),
    Stage.VERIFIED: (Step.SEAL, Stage.SEALED),
    Stage.SEALED: (Step.INDEX, Stage.INDEXED),
    Stage.INDEXED: (Step.REMOVE_ORIGINAL, Stage.STORED),
}

TERMINAL = frozenset({Stage.STORED, Stage.FAILED, Stage.PURGED})
MAX_ATTEMPTS = 8
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
# Longer than any one step (an hour-long call compresses in seconds: bench/recordings.py);
# renewed after every step, so it bounds only how long a crashed worker's rows wait.
LEASE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Next:
    """What to do with a recording now: run ``step``, then commit ``then``."""

    step: Step
    then: Stage


def next_step(stage: Stage, call_ended: bool) -> Next | None:
    """The step to run for a recording in ``stage`` (None: nothing to do, rules 1 and 6)."""
    if stage in TERMINAL or not call_ended:
        return None
    step, then = TRANSITIONS[stage]
    return Next(step, then)


@dataclass(frozen=True, slots=True)
class Failure:
    """After a failed step: the attempts so far, and when to try again (None: give up)."""

    attempts: int
    retry_at: datetime | None

    @property
    def stage(self) -> Stage | None:
        return Stage.FAILED if self.retry_at is None else None


def claimable(lease_until: datetime | None, now: datetime) -> bool:
    """Rule 7: nobody holds the row, or its holder's lease has run out."""
    return lease_until is None or lease_until <= now


def lease_after(stage: Stage, now: datetime, lease: timedelta = LEASE) -> datetime | None:
    """Rule 7: the lease once ``stage`` is committed (None: let go, the row is final)."""
    return None if stage in TERMINAL else now + lease


def after_failure(attempts: int, now: datetime) -> Failure:
    """Rule 5: ``attempts`` is the count before this failure."""
    attempts += 1
    if attempts >= MAX_ATTEMPTS:
        return Failure(attempts, None)
    delay = min(FIRST_BACKOFF * (2 ** (attempts - 1)), MAX_BACKOFF)
    return Failure(attempts, now + delay)
