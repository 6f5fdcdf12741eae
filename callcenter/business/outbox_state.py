"""The delivery state machine of one outbox row: ``transition(delivery, event, now)``. Pure.

Rules:

* A row is written in the transaction that writes the task version it carries, ``pending``
  with ``next_attempt_at = now`` and ``give_up_at = now + 3 days``.
* A worker may claim a row that is ``pending`` and due, or ``in_flight`` with an expired lease
  (its worker died mid-attempt). Claiming counts an attempt, sets ``lease_owner`` and moves
  ``next_attempt_at`` to the end of the lease, so nobody else takes it meanwhile. Only the
  oldest undelivered version of a task is claimable: versions arrive in order.
* The business system's 2xx — or 409, "I already have this key" — delivers the row.
* A temporary failure (5xx, 408, 425, 429, timeout, no connection) schedules a retry after an
  exponential back-off with jitter: 5 s doubling to a 30 min cap, times a factor in
  [0.5, 1.0] the adapter draws (so workers that failed together do not retry together). The
  last retry is at ``give_up_at`` at the latest; a failure then makes the row ``dead``.
* Any other answer (400, 401, 403, 404, 422 …) is a rejection: the same body will never be
  taken, so the row is ``dead`` at once. Dead rows raise an alert until someone requeues them
  (``requeue`` gives a new 3-day window).

=========  ====================  =========  =====================================
state      event                 new state  effects
=========  ====================  =========  =====================================
pending    Claimed (when due)    in_flight  Deliver
in_flight  Claimed (lease over)  in_flight  Deliver
in_flight  Acknowledged          delivered  MarkDelivered
in_flight  Failed (retryable)    pending    ScheduleRetry — or dead, GiveUp, if the
                                            window is over
in_flight  Failed (rejected)     dead       GiveUp
dead       Requeued              pending    —
=========  ====================  =========  =====================================

Anything else raises :class:`IllegalTransition`: a bug, never a runtime condition.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from callcenter.business.records import OutboxEntry, OutboxState

RETRY_WINDOW = timedelta(days=3)
BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=30)
LEASE = timedelta(seconds=60)
MIN_JITTER = 0.5


class IllegalTransition(Exception):
    """An event the row's state does not accept (a programming error)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """The part of an outbox row the machine reads and writes."""

    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    give_up_at: datetime
    lease_owner: str = ""
    last_error: str = ""


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Claimed:
    owner: str
    lease: timedelta = LEASE


@dataclass(frozen=True, slots=True)
class Acknowledged:
    external_id: str = ""
    duplicate: bool = False  # 409: the business system already had this key


@dataclass(frozen=True, slots=True)
class Failed:
    error: str
    retryable: bool
    jitter: float = 1.0  # drawn by the adapter from [MIN_JITTER, 1.0]


@dataclass(frozen=True, slots=True)
class Requeued:
    window: timedelta = RETRY_WINDOW


Event = Claimed | Acknowledged | Failed | Requeued


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Deliver:
    """Post the row to the business system."""


@dataclass(frozen=True, slots=True)
class MarkDelivered:
    external_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    at: datetime
    error: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The row is dead: raise the dead-letter alert."""

    error: str


Effect = Deliver | MarkDelivered | ScheduleRetry | GiveUp


def delivery_from_entry(entry: OutboxEntry) -> Delivery:
    return Delivery(state=entry.state, attempts=entry.attempts,
                    next_attempt_at=entry.next_attempt_at, give_up_at=entry.give_up_at,
                    lease_owner=entry.lease_owner, last_error=entry.last_error)


def new_delivery(now: datetime, window: timedelta = RETRY_WINDOW) -> Delivery:
    return Delivery(OutboxState.PENDING, 0, now, now + window)


def backoff(failed_attempts: int, jitter: float) -> timedelta:
    """Delay after the ``failed_attempts``-th failure: 5 s, 10 s, 20 s … capped at 30 min,
    times ``jitter`` (clamped to [0.5, 1.0])."""
    exponent = min(max(failed_attempts - 1, 0), 20)  # 2**20 × 5 s is far past the cap
    delay: timedelta = min(BASE_DELAY * (2 ** exponent), MAX_DELAY)
    factor = min(max(jitter, MIN_JITTER), 1.0)
    return delay * factor


def claimable(delivery: Delivery, now: datetime) -> bool:
    """Whether a worker may claim the row now (the claim query's WHERE says the same)."""
    return (delivery.state in (OutboxState.PENDING, OutboxState.IN_FLIGHT)
            and delivery.next_attempt_at <= now)


def transition(delivery: Delivery, event: Event, now: datetime
               ) -> tuple[Delivery, tuple[Effect, ...]]:
    """Apply one event at ``now``; raise IllegalTransition for one the state does not take."""
    state = delivery.state
    if isinstance(event, Claimed):
        if not claimable(delivery, now):
            raise IllegalTransition(f"cannot claim a {state} row due {delivery.next_attempt_at}")
        return replace(delivery, state=OutboxState.IN_FLIGHT, attempts=delivery.attempts + 1,
                       next_attempt_at=now + event.lease, lease_owner=event.owner), (Deliver(),)
    if isinstance(event, Requeued):
        if state is not OutboxState.DEAD:
            raise IllegalTransition(f"only dead rows are requeued, not {state}")
        return replace(delivery, state=OutboxState.PENDING, next_attempt_at=now,
                       give_up_at=now + event.window, lease_owner=""), ()
    if state is not OutboxState.IN_FLIGHT:
        raise IllegalTransition(f"{type(event).__name__} for a {state} row")
    if isinstance(event, Acknowledged):
        return (replace(delivery, state=OutboxState.DELIVERED, lease_owner="", last_error=""),
                (MarkDelivered(event.external_id, event.duplicate),))
    if event.retryable and now < delivery.give_up_at:
        at = min(now + backoff(delivery.attempts, event.jitter), delivery.give_up_at)
        return (replace(delivery, state=OutboxState.PENDING, next_attempt_at=at, lease_owner="",
                        last_error=event.error), (ScheduleRetry(at, event.error),))
    why = event.error if not event.retryable else f"gave up after the retry window: {event.error}"
    return (replace(delivery, state=OutboxState.DEAD, lease_owner="", last_error=why),
            (GiveUp(why),))
