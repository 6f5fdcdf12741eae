"""Keep-my-place call-backs offered to the agents on their desk, in the caller's turn.

Every ``tick`` (the ``queue-callbacks`` component runs it each second) looks at the open
places (``keep_place.py``) queue by queue, beside the live callers and the free agents the
CTI knows (:class:`~callcenter.callbacks.ports.AgentDesks`):

1. The head of a queue's line being a waiting request and an agent of that queue being free
   (available, or held in after-call work: app_queue does not ring them then), the request is
   claimed for the agent (compare-and-set in storage: one claim whatever the processes) and
   offered on the agent's desk (``{"type": "queue_callback", "event": "offer", …}`` on the
   agent's topic, sent again each tick while it stands, so a reloaded desk sees it), with the
   merchant's full card in the desk's screen pop (a ``pop`` message, as for a ringing call).
2. Declined, not answered within ``offer_timeout_s``, or the agent is no longer free (app_queue
   rang them): the claim is released (same place, the try not counted) and the next free agent
   who has not declined it is offered it (``event: withdrawn`` to the first).
3. Accepted: the product dials as click to dial does (``Originate`` of the agent's phone, then
   the merchant, idempotency key ``queue-callback-<id>-<try>``: a double click never dials twice).
4. The agent reports the outcome: reached -> done; not reached -> back in its original
   place, but not offered again before ``policy.retry_after`` (``[callbacks]
   queue_callback_retry_s``; the record's ``next_attempt_at``), up to ``policy.attempts``
   tries (``queue_callback_attempts``), then given up: the callback becomes pending (待处理),
   the 2-day clock runs and a person follows it up.
5. A claim left by a process that died is released after ``keep_place.CLAIM_LEASE``.

Every offer, acceptance, decline and outcome is a line in the original call's timeline
(``call_events``, kinds ``callback_offered`` …).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from callcenter.callbacks import keep_place
from callcenter.callbacks.keep_place import PlaceState, Request
from callcenter.callbacks.ports import AgentDesks
from callcenter.callbacks.rules import CallbackState, Record
from callcenter.callbacks.service import CallbackService
from callcenter.errors import Conflict, NotFound, ValidationError
from callcenter.topics import agent_topic

__all__ = ["Offer", "QueueCallbackOffers"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Offer:
    """A claim standing on one agent's desk."""

    callback_id: int
    agent: str
    until: datetime
    accepted: bool = False


@dataclass(slots=True)
class QueueCallbackOffers:
    """Rules 1-5 of the module docstring over the callbacks' storage and the CTI's desks."""

    callbacks: CallbackService
    desks: AgentDesks
    offer_timeout_s: float = 30.0
    policy: keep_place.Policy = field(default_factory=keep_place.Policy)
    offers: dict[int, Offer] = field(default_factory=dict)
    declined: dict[str, frozenset[str]] = field(default_factory=dict)  # call id -> agents

    # ------------------------------------------------------------------ the tick

    async def tick(self, now: datetime) -> list[Offer]:
        """Release lapsed offers and claims, then offer each queue's head request to a free
        agent; the offers made this round."""
        records = await self.callbacks.store.places()
        by_id = {r.id: r for r in records if r.place is not None}
        for callback_id, standing in list(self.offers.items()):
            record = by_id.get(callback_id)
            if record is None or record.place is None \
                    or record.place.state is not PlaceState.CLAIMED:
                self.offers.pop(callback_id, None)  # finished elsewhere
                continue
            if standing.accepted:
                continue
            if now >= standing.until or not self.desks.is_free(standing.agent):
                await self._release(record, standing.agent, now, "lapsed")
        for record in by_id.values():
            place = record.place
            if place is not None and place.state is PlaceState.CLAIMED \
                    and record.id not in self.offers and place.claimed_at is not None \
                    and now - place.claimed_at > keep_place.CLAIM_LEASE:
                await self._release(record, place.claimed_by, now, "lease")
        records = await self.callbacks.store.places()
        made: list[Offer] = []
        busy = {o.agent for o in self.offers.values()}
        callers = self.desks.waiting_callers()
        for queue in sorted({r.place.queue for r in records if r.place is not None}):
            ledger = {r.place.call_id: r.place for r in records
                      if r.place is not None and r.place.queue == queue}
            free = [a for a in self.desks.free_agents(queue) if a not in busy]
            pick = keep_place.offer(queue, callers, ledger, free, self.declined, now)
            if pick is None:
                continue
            request, agent = pick
            record = next(r for r in records if r.place is not None
                          and r.place.call_id == request.call_id)
            claimed = keep_place.claim(ledger, request.call_id, agent, now)[request.call_id]
            if not await self.callbacks.store.save_place(record.id, request, claimed, now):
                continue  # another process claimed it first
            offer = Offer(record.id, agent, now + timedelta(seconds=self.offer_timeout_s))
            self.offers[record.id] = offer
            busy.add(agent)
            made.append(offer)
            logger.info("queue call-back %d (%s, arrived %s) offered to agent %s", record.id,
                        queue, request.arrived_at.isoformat(), agent)
            await self._timeline(record, "callback_offered", now, agent=agent,
                                 attempt=claimed.tries)
            await self._pop(agent, record, request)
        if self.offers:  # again each tick: a reloaded desk sees it
            current = {r.id: r for r in await self.callbacks.store.places()}
            for standing in self.offers.values():
                record = current.get(standing.callback_id)
                if record is not None:
                    self._publish(standing.agent, "offer", record, standing)
        return made

    # ------------------------------------------------------------------ the agent's answers

    def _standing(self, callback_id: int, agent: str) -> Offer:
        standing = self.offers.get(callback_id)
        if standing is None or standing.agent != agent:
            raise Conflict(f"call-back {callback_id} is not offered to agent {agent}")
        return standing

    async def _record(self, callback_id: int) -> tuple[Record, Request]:
        record = await self.callbacks.store.get(callback_id)
        if record is None or record.place is None:
            raise NotFound(f"no queue call-back {callback_id}")
        return record, record.place

    async def accept(self, callback_id: int, agent: str, now: datetime) -> dict[str, Any]:
        """Rule 3: dial the merchant from ``agent``'s phone. Conflict when it is not offered
        to the agent; the CTI's errors (not available, AMI down …) as they come."""
        standing = self._standing(callback_id, agent)
        record, place = await self._record(callback_id)
        if place.state is not PlaceState.CLAIMED or place.claimed_by != agent:
            raise Conflict(f"call-back {callback_id} is {place.state.value}")
        key = f"queue-callback-{callback_id}-{place.tries}"
        result = await self.desks.dial(agent, place.number, key, record.merchant_name)
        standing.accepted = True
        await self._timeline(record, "callback_dialled", now, agent=agent, attempt=place.tries,
                             status=str(result.get("status", "")))
        return {"callback_id": callback_id, "number": place.number, **result}

    async def decline(self, callback_id: int, agent: str, now: datetime) -> None:
        """Rule 2: the agent passes; the next free agent gets it."""
        standing = self._standing(callback_id, agent)
        if standing.accepted:
            raise Conflict(f"call-back {callback_id} was accepted: report its outcome")
        record, _ = await self._record(callback_id)
        await self._release(record, agent, now, "declined")

    async def outcome(self, callback_id: int, agent: str, reached: Any, now: datetime
                      ) -> Record:
        """Rule 4: the dial's outcome as the agent reports it (``reached`` a boolean)."""
        if not isinstance(reached, bool):
            raise ValidationError("reached", "true or false")
        record, place = await self._record(callback_id)
        if place.state is not PlaceState.CLAIMED or place.claimed_by != agent:
            raise Conflict(f"call-back {callback_id} is not being called by agent {agent}")
        after = keep_place.finish({place.call_id: place}, place.call_id, agent,
                                  answered=reached, now=now, policy=self.policy)[place.call_id]
        if not await self.callbacks.store.save_place(record.id, place, after, now):
            raise Conflict(f"call-back {callback_id} changed meanwhile")
        self.offers.pop(callback_id, None)
        self.declined.pop(place.call_id, None)
        if after.state is PlaceState.DONE:
            updated = replace(record, state=CallbackState.DONE, result="reached",
                              completed_at=now, agent_number=agent, next_attempt_at=None,
                              answers={"outcome": "reached", "tries": after.tries})
        elif after.state is PlaceState.WAITING:
            updated = replace(record, attempts=record.attempts + 1,
                              next_attempt_at=after.retry_at,
                              result=f"no answer ({after.tries}/{self.policy.attempts})")
        else:  # given up: a person follows it up within 2 days
            updated = replace(record, state=CallbackState.PENDING, attempts=record.attempts + 1,
                              pending_since=record.pending_since or now,
                              next_attempt_at=None, result=f"given up after {after.tries} tries")
        updated = replace(updated, place=after)
        await self.callbacks.store.save(updated, now)
        await self._timeline(record, "callback_outcome", now, agent=agent,
                             attempt=after.tries, reached=reached, place=after.state.value,
                             retry_at=after.retry_at.isoformat() if after.retry_at else None)
        logger.info("queue call-back %d by agent %s: %s (%s)", callback_id, agent,
                    "reached" if reached else "no answer", after.state.value)
        self._publish(agent, "done", updated, None)
        return updated

    # ------------------------------------------------------------------ helpers

    async def _release(self, record: Record, agent: str, now: datetime, why: str) -> None:
        place = record.place
        assert place is not None
        after = keep_place.release({place.call_id: place}, place.call_id, agent)[place.call_id]
        self.offers.pop(record.id, None)
        if after == place or not await self.callbacks.store.save_place(record.id, place,
                                                                       after, now):
            return
        self.declined[place.call_id] = self.declined.get(place.call_id, frozenset()) | {agent}
        logger.info("queue call-back %d: agent %s %s; back in its place", record.id, agent, why)
        await self._timeline(record, "callback_released", now, agent=agent, why=why)
        self._publish(agent, "withdrawn", record, None)

    async def _pop(self, agent: str, record: Record, place: Request) -> None:
        """The merchant's card in the desk's screen pop, as for a ringing call (rule 1)."""
        try:
            card = await self.desks.card(place.call_id, place.queue, place.number,
                                         record.merchant_number)
        except Exception:  # the offer stands without the full card
            logger.exception("queue call-back %d: merchant card not loaded", record.id)
            return
        self.callbacks.hub.publish(agent_topic(agent), {
            "type": "pop", "partial": False, "linked_id": place.call_id,
            "card": dict(card, script="queue_callback")})  # the desk greets as a call-back

    def _publish(self, agent: str, event: str, record: Record, standing: Offer | None
                 ) -> None:
        place = record.place
        message: dict[str, Any] = {
            "type": "queue_callback", "event": event, "callback_id": record.id,
            "merchant_id": record.merchant_id, "merchant_name": record.merchant_name,
            "merchant_number": record.merchant_number,
            "number": place.number if place else "", "queue": place.queue if place else "",
            "arrived_at": place.arrived_at.isoformat() if place else None,
            "tries": place.tries if place else 0, "max_tries": self.policy.attempts,
            "purpose": record.purpose}
        if standing is not None:
            message.update(expires_at=standing.until.isoformat(), accepted=standing.accepted)
        self.callbacks.hub.publish(agent_topic(agent), message)

    async def _timeline(self, record: Record, kind: str, now: datetime, **data: Any) -> None:
        place = record.place
        if place is None:
            return
        try:
            await self.callbacks.store.add_event(place.call_id, now, kind,
                                                 {"callback_id": record.id, **data})
        except Exception:  # bookkeeping: the offer itself stands
            logger.exception("queue call-back %d: timeline line %s not written", record.id,
                             kind)

    def standing(self) -> Sequence[Offer]:
        return list(self.offers.values())
