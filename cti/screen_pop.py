"""Screen pop: the card an agent's desktop shows when its phone rings.

Rules of the screen pop
-----------------------
1. The card is loaded (``CardSource.load_card``: merchant, terminals, open tasks, earlier
   calls, complaints) when the caller first joins a queue (``PrefetchMerchant``), before any
   phone rings; at most ``prefetch_concurrency`` loads run at once.
2. ``ScreenPop`` publishes at once, with no database query on the ring path: the loaded card
   when it is there, else the minimal card (what the call board knows: caller, IVR result)
   marked ``partial``, and the load starts if nobody asked for it (a call adopted after a
   reconnect).
3. When a load finishes, every agent who got the minimal card of that call and is still on
   it (ringing or talking) gets the full card.
4. A load that fails yields the minimal card marked complete with ``error: load_failed``.
5. A call that ends drops its card and cancels its load; each agent keeps the last card it was
   shown (the desktop's wrap-up needs it).

The card is typed (:class:`PopCard`, the merchant part :class:`cti.ports.CardDetails`) and
rendered to JSON once per card (:func:`card_json`), not per push.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Final

from callcenter.topics import Publisher, agent_topic
from cti.call_state import Call
from cti.ports import CardDetails, CardSource

__all__ = ["IvrSummary", "PopCard", "PopStats", "ScreenPops", "card_json", "minimal_card"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IvrSummary:
    """The IVR's result for the call, as the board has it."""

    path: str | None
    intent: str | None
    verified: bool | None
    lang: str | None
    priority: int | None
    queue: str | None


@dataclass(frozen=True, slots=True)
class PopCard:
    """One call's pop card. ``details`` is None until the store answered (``complete``)."""

    linked_id: str
    queue: str | None = None
    caller: str | None = None
    caller_name: str | None = None
    merchant_number: str | None = None
    ivr: IvrSummary | None = None
    details: CardDetails | None = None
    complete: bool = False
    error: str | None = None


_NO_DETAILS: Final = CardDetails()


def minimal_card(linked_id: str, call: Call | None, queue: str | None = None) -> PopCard:
    """What the board knows about the call, without any database query."""
    if call is None:
        return PopCard(linked_id, queue)
    return PopCard(
        linked_id, queue or call.queue, call.caller, call.caller_name, call.merchant_id,
        IvrSummary(call.ivr_path, call.intent, call.merchant_verified, call.lang,
                   call.priority, call.ivr_queue))


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def card_json(card: PopCard) -> dict[str, Any]:
    """The card as the desktop receives it (``pop`` messages, the hello's ``card``)."""
    d = card.details or _NO_DETAILS
    m = d.merchant
    ivr = card.ivr
    out: dict[str, Any] = {
        "linked_id": card.linked_id, "queue": card.queue, "caller": card.caller,
        "caller_name": card.caller_name,
        "merchant_number": m.merchant_number if m is not None else card.merchant_number,
        "ivr": None if ivr is None else {
            "path": ivr.path, "intent": ivr.intent, "verified": ivr.verified, "lang": ivr.lang,
            "priority": ivr.priority, "queue": ivr.queue},
        "merchant": None if m is None else {
            "id": m.id, "merchant_number": m.merchant_number, "name": m.name,
            "address": m.address, "district": m.district, "contact_person": m.contact_person,
            "phones": list(m.phones), "business_hours": m.business_hours,
            "tags": list(m.tags), "verified": m.verified},
        "candidates": [{"id": c.id, "merchant_number": c.merchant_number, "name": c.name}
                       for c in d.candidates],
        "terminals": [{"serial": t.serial, "model": t.model, "status": t.status,
                       "install_date": _iso(t.install_date)} for t in d.terminals],
        "open_tasks": [
            {"task_number": t.task_number, "kind": t.kind, "status": t.status,
             "created_at": _iso(t.created_at), "appointment_at": _iso(t.appointment_at),
             "engineer": t.engineer, "terminal_serial": t.terminal_serial,
             "description": t.description} for t in d.open_tasks],
        "recent_calls": [
            {"linked_id": c.linked_id, "started_at": _iso(c.started_at), "queue": c.queue,
             "agent_number": c.agent_number, "outcome": c.outcome,
             "disposition": c.disposition, "intent": c.intent,
             "talk_s": round(c.talk_s, 1) if c.talk_s is not None else None, "note": c.note}
            for c in d.recent_calls],
        "complaints": [
            {"id": c.id, "class": c.complaint_class, "description": c.description,
             "result": c.result, "created_at": _iso(c.created_at),
             "closed_at": _iso(c.closed_at), "escalation_tier": c.escalation_tier}
            for c in d.complaints],
        "complete": card.complete,
    }
    if card.error is not None:
        out["error"] = card.error
    return out


@dataclass(slots=True)
class PopStats:
    pops: int = 0
    partial_pops: int = 0
    prefetches: int = 0
    prefetch_failures: int = 0


@dataclass(slots=True)
class _Loaded:
    card: PopCard
    json: dict[str, Any]


@dataclass(slots=True)
class ScreenPops:
    """Prefetch and card cache (see the module docstring).

    ``call_of(linked_id)`` reads the call board; ``on_call(number, linked_id)`` says whether
    agent ``number`` still rings or talks on the call (rule 3); ``on_loaded(linked_id, card)``
    is told of every card loaded for a call still in progress (the service stores the
    merchant it found). ``pop``/``prefetch``/``forget`` never await.
    """

    source: CardSource
    hub: Publisher
    call_of: Callable[[str], Call | None]
    on_call: Callable[[str, str], bool]
    on_loaded: Callable[[str, PopCard], None]
    recent_calls: int = 5
    complaint_history: int = 10
    concurrency: int = 8
    stats: PopStats = field(default_factory=PopStats)
    last_card: dict[str, dict[str, Any]] = field(default_factory=dict)  # agent -> card shown
    _cards: dict[str, _Loaded] = field(default_factory=dict)
    _loading: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _partial: dict[str, set[str]] = field(default_factory=dict)  # linked id -> agents
    _slots: asyncio.Semaphore | None = None

    @property
    def loading(self) -> list[asyncio.Task[None]]:
        """The loads running now."""
        return list(self._loading.values())

    def prefetch(self, linked_id: str) -> None:
        """Rule 1: start loading the card of ``linked_id`` unless loaded or loading."""
        if linked_id in self._loading or linked_id in self._cards:
            return
        base = minimal_card(linked_id, self.call_of(linked_id))
        task = asyncio.get_running_loop().create_task(
            self._load(linked_id, base), name=f"cti-prefetch {linked_id}")
        self._loading[linked_id] = task
        self.stats.prefetches += 1

    def pop(self, number: str, linked_id: str, queue: str) -> None:
        """Rule 2: publish the card of ``linked_id`` to agent ``number`` now."""
        loaded = self._cards.get(linked_id)
        if loaded is not None:
            json = loaded.json
            if json.get("queue") != queue:
                json = dict(json, queue=queue)
            self._push(number, json, partial=False)
            return
        # Still loading (or never asked: a call adopted after a reconnect): show what the
        # board knows now, the full card follows from _load.
        self._partial.setdefault(linked_id, set()).add(number)
        self.prefetch(linked_id)
        self._push(number, card_json(minimal_card(linked_id, self.call_of(linked_id), queue)),
                   partial=True)

    def forget(self, linked_id: str) -> None:
        """Rule 5."""
        task = self._loading.pop(linked_id, None)
        if task is not None:
            task.cancel()
        self._cards.pop(linked_id, None)
        self._partial.pop(linked_id, None)

    def _push(self, number: str, card: dict[str, Any], *, partial: bool) -> None:
        call = self.call_of(card["linked_id"])
        if call is not None and call.overflow_from:  # "overflow from presales"
            card = dict(card, overflow_from=call.overflow_from)
        self.last_card[number] = card
        self.stats.pops += 1
        if partial:
            self.stats.partial_pops += 1
        self.hub.publish(agent_topic(number), {"type": "pop", "partial": partial,
                                               "linked_id": card["linked_id"], "card": card})

    async def _load(self, linked_id: str, base: PopCard) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        try:
            async with self._slots:
                details = await self.source.load_card(
                    linked_id, caller=base.caller, merchant_number=base.merchant_number,
                    ivr_verified=base.ivr.verified if base.ivr is not None else None,
                    recent_calls=self.recent_calls, complaints=self.complaint_history)
            card = replace(base, details=details, complete=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.prefetch_failures += 1
            logger.exception("CTI: loading the pop card of call %s failed", linked_id)
            card = replace(base, complete=True, error="load_failed")  # rule 4
        finally:
            self._loading.pop(linked_id, None)
        if self.call_of(linked_id) is None:
            return  # the call ended meanwhile
        json = card_json(card)
        self._cards[linked_id] = _Loaded(card, json)
        self.on_loaded(linked_id, card)
        for number in self._partial.pop(linked_id, set()):  # rule 3
            if self.on_call(number, linked_id):
                self._push(number, json, partial=False)
