"""Call-back that keeps the caller's place: the rules. Pure: times and ids are passed in.

A caller waiting in a queue presses a key to be called back instead of holding on. The
request keeps the caller's place:

1. Position by original arrival: live callers and call-back requests of one queue form one
   line ordered by (higher priority first, earlier arrival in the queue, then the id). A
   request's ``arrived_at`` is when the caller joined the queue, not when the key was pressed.
2. Exactly one call-back per request: a request is identified by the caller's call (its
   Linkedid); asking again from the same call changes nothing (:func:`request`). A caller
   asking again from a NEW call while a request of the same number is open keeps the
   earlier request (and its place).
3. Offering: the request is offered to an agent when it reaches the head of the line
   (:func:`head`). Claiming it (:func:`claim`) is the one step that lets a dial happen; a
   claimed or finished request cannot be claimed again, so a replay of the same events after
   a restart dials nobody twice. A claim whose dial never reported back may be retaken after
   ``CLAIM_LEASE`` (the process died): the ``attempt`` counter tells the dials apart.
4. States: ``waiting`` -> ``claimed`` -> ``done`` | ``waiting`` (unanswered, back in its
   place, up to ``Policy.attempts`` tries) | ``failed``. An unanswered request rests until
   ``retry_at`` (``Policy.retry_after`` after the try): it is not offered (nor claimed)
   before then, and then stands again at its original arrival; while it rests the line
   goes on without it (:func:`line` given ``now``).
5. Offering to an agent (:func:`offer`): the head request of a queue goes to the first
   agent of that queue free now (the caller passes them longest-free first) who has not
   declined it. An agent who declines, or lets the offer lapse, gives it back
   (:func:`release`): waiting again in the same place, the try not counted, and the next
   free agent is offered it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from callcenter.errors import Conflict

__all__ = ["CLAIM_LEASE", "MAX_TRIES", "RETRY_AFTER", "Caller", "Ledger", "PlaceState",
           "Policy", "Request", "claim", "finish", "head", "line", "offer", "position",
           "release", "request"]

CLAIM_LEASE: Final = timedelta(minutes=5)
MAX_TRIES: Final = 3  # the default of ``[callbacks] queue_callback_attempts``
RETRY_AFTER: Final = timedelta(seconds=300)  # ... of ``queue_callback_retry_s``


@dataclass(frozen=True, slots=True)
class Policy:
    """The product's settings for call-backs (``[callbacks]``): tries before giving up, and
    how long an unanswered request rests before it is offered again."""

    attempts: int = MAX_TRIES
    retry_after: timedelta = RETRY_AFTER


class PlaceState(StrEnum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Caller:
    """A caller on the line, waiting in ``queue``."""

    call_id: str
    queue: str
    arrived_at: datetime
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Request:
    """A call-back request: the caller's place, kept."""

    call_id: str  # the call the key was pressed on (Linkedid): one request per call
    number: str
    queue: str
    arrived_at: datetime
    priority: int = 0
    state: PlaceState = PlaceState.WAITING
    tries: int = 0
    claimed_by: str = ""
    claimed_at: datetime | None = None
    retry_at: datetime | None = None  # after an unanswered try: not offered before then

    def resting(self, now: datetime | None) -> bool:
        """Waiting, but not to be offered before ``retry_at``."""
        return (now is not None and self.state is PlaceState.WAITING
                and self.retry_at is not None and now < self.retry_at)


Ledger = Mapping[str, Request]
"""call_id -> request: the whole state (what storage keeps across restarts)."""


def _key(priority: int, arrived_at: datetime, ident: str) -> tuple[int, datetime, str]:
    return (-priority, arrived_at, ident)


def request(ledger: Ledger, new: Request) -> tuple[dict[str, Request], bool]:
    """Rule 2: the ledger with ``new`` added, and whether it was added."""
    if new.call_id in ledger:
        return dict(ledger), False
    if any(r.number == new.number and r.queue == new.queue
           and r.state in (PlaceState.WAITING, PlaceState.CLAIMED) for r in ledger.values()):
        return dict(ledger), False
    return {**ledger, new.call_id: new}, True


def line(queue: str, callers: Iterable[Caller], ledger: Ledger, now: datetime | None = None
         ) -> list[str]:
    """Rule 1: the ids (call ids) in order, live callers and waiting requests together. A
    caller who has a request is in the line once (as the request). Given ``now``, a request
    resting before its retry time is left out (rule 4); without, every waiting one is in."""
    waiting = {r.call_id: r for r in ledger.values()
               if r.queue == queue and r.state is PlaceState.WAITING and not r.resting(now)}
    keyed = [(_key(r.priority, r.arrived_at, r.call_id), r.call_id) for r in waiting.values()]
    keyed += [(_key(c.priority, c.arrived_at, c.call_id), c.call_id) for c in callers
              if c.queue == queue and c.call_id not in waiting
              and c.call_id not in ledger]
    return [ident for _, ident in sorted(keyed)]


def position(queue: str, callers: Iterable[Caller], ledger: Ledger, call_id: str
             ) -> int | None:
    """1-based place of ``call_id`` in its queue's line, None when not in it."""
    order = line(queue, callers, ledger)
    return order.index(call_id) + 1 if call_id in order else None


def head(queue: str, callers: Iterable[Caller], ledger: Ledger, now: datetime | None = None
         ) -> Request | None:
    """Rule 3: the request to offer now: the first of the line when it is a request."""
    order = line(queue, callers, ledger, now)
    return ledger.get(order[0]) if order else None


def claim(ledger: Ledger, call_id: str, agent: str, now: datetime) -> dict[str, Request]:
    """Rule 3: ``agent`` takes the request (the one step before a dial). Conflict when it is
    not waiting (claimed and within its lease, done or failed), or resting before its retry
    time (rule 4)."""
    r = ledger.get(call_id)
    if r is None:
        raise Conflict(f"no call-back request of call {call_id}")
    if r.resting(now):
        raise Conflict(f"call-back {call_id} is not retried before {r.retry_at}")
    lapsed = (r.state is PlaceState.CLAIMED and r.claimed_at is not None
              and now - r.claimed_at > CLAIM_LEASE)
    if r.state is not PlaceState.WAITING and not lapsed:
        raise Conflict(f"call-back {call_id} is {r.state.value}")
    return {**ledger, call_id: replace(r, state=PlaceState.CLAIMED, tries=r.tries + 1,
                                       claimed_by=agent, claimed_at=now, retry_at=None)}


def finish(ledger: Ledger, call_id: str, agent: str, answered: bool, now: datetime,
           policy: Policy | None = None) -> dict[str, Request]:
    """Rule 4: the dial of ``agent``'s claim ended. Unanswered puts the request back in its
    place (same arrival time), resting until ``now + policy.retry_after``, until
    ``policy.attempts`` tries; then it failed. A stale report (another claim, or not
    claimed) changes nothing."""
    policy = policy or Policy()
    r = ledger.get(call_id)
    if r is None or r.state is not PlaceState.CLAIMED or r.claimed_by != agent:
        return dict(ledger)
    retry_at = None
    if answered:
        state = PlaceState.DONE
    elif r.tries < policy.attempts:
        state, retry_at = PlaceState.WAITING, now + policy.retry_after
    else:
        state = PlaceState.FAILED
    return {**ledger, call_id: replace(r, state=state, claimed_by="", claimed_at=None,
                                       retry_at=retry_at)}


def release(ledger: Ledger, call_id: str, agent: str) -> dict[str, Request]:
    """Rule 5: ``agent`` gives its claim back without dialling (declined, or the offer
    lapsed): waiting in the same place, the try not counted. A stale release (not claimed by
    ``agent``) changes nothing."""
    r = ledger.get(call_id)
    if r is None or r.state is not PlaceState.CLAIMED or r.claimed_by != agent:
        return dict(ledger)
    return {**ledger, call_id: replace(r, state=PlaceState.WAITING, tries=max(r.tries - 1, 0),
                                       claimed_by="", claimed_at=None)}


def offer(queue: str, callers: Iterable[Caller], ledger: Ledger, free_agents: Iterable[str],
          declined: Mapping[str, frozenset[str]] | None = None, now: datetime | None = None
          ) -> tuple[Request, str] | None:
    """Rule 5: (the request, the agent) to offer now in ``queue``, or None: the head of the
    line must be a waiting request, and some agent of ``free_agents`` (in the order given)
    must not have declined it (a claimed request is out of the line: the next one may be
    offered to another agent meanwhile; so is one resting before ``now`` reaches its retry
    time)."""
    first = head(queue, callers, ledger, now)
    if first is None or first.state is not PlaceState.WAITING:
        return None
    refused = (declined or {}).get(first.call_id, frozenset())
    for agent in free_agents:
        if agent not in refused:
            return first, agent
    return None
