"""Keep-my-place call-backs offered in the caller's turn (callcenter/callbacks/offers.py), on
the database (SQLite and PostgreSQL) with a scripted view of the CTI's desks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.callbacks import keep_place
from callcenter.callbacks.keep_place import Caller, PlaceState
from callcenter.callbacks.offers import QueueCallbackOffers
from callcenter.callbacks.rules import CallbackState
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.db.models import CallEventRow
from callcenter.db.repositories import Store
from callcenter.errors import Conflict, ValidationError
from callcenter.queue_callbacks import StoreCallbackRequests
from ivr.ports import QueueCallbackRequest
from tests.business.conftest import NOW, SHOP, TZ, RecordingHub, Seed

CALL = "1795330137.0"


@dataclass
class Desks:
    """The CTI as the offers see it: who waits, who is free, what was dialled."""

    callers: list[Caller] = field(default_factory=list)
    free: dict[str, list[str]] = field(default_factory=dict)  # queue -> agents
    dialled: list[tuple[str, str, str, str]] = field(default_factory=list)

    def waiting_callers(self) -> list[Caller]:
        return list(self.callers)

    def free_agents(self, queue: str) -> list[str]:
        return list(self.free.get(queue, []))

    def is_free(self, agent_number: str) -> bool:
        return any(agent_number in agents for agents in self.free.values())

    async def card(self, call_id: str, queue: str, number: str, merchant_number: str
                   ) -> dict[str, Any]:
        return {"linked_id": call_id, "queue": queue, "caller": number,
                "merchant_number": merchant_number, "complete": True}

    async def dial(self, agent_number: str, number: str, key: str, label: str
                   ) -> dict[str, Any]:
        self.dialled.append((agent_number, number, key, label))
        return {"number": number, "status": "dialling"}


async def booked(store: Store, service: CallbackService, call: str = CALL,
                 number: str = "13800138000", waited: int = 120) -> None:
    await StoreCallbackRequests(store, service).request_callback(QueueCallbackRequest(
        call_id=call, unique_id=call, merchant_number=SHOP, number=number, queue="aftersales",
        arrived_at=NOW - timedelta(seconds=waited), priority=0, position=1, requested_at=NOW))


@pytest.fixture
def desks() -> Desks:
    return Desks(free={"aftersales": ["8002", "8001"]})


@pytest.fixture
async def offers(store: Store, seeded: Seed, hub: RecordingHub, desks: Desks
                 ) -> QueueCallbackOffers:
    service = CallbackService(SqlCallbackStore(store), hub, TZ)
    await booked(store, service)
    return QueueCallbackOffers(service, desks, offer_timeout_s=30)


def offers_to(hub: RecordingHub, agent: str) -> list[dict[str, Any]]:
    return [m for t, m in hub.messages if t == f"agent:{agent}"
            and m.get("type") == "queue_callback"]


async def place_of(offers: QueueCallbackOffers) -> keep_place.Request:
    [record] = await offers.callbacks.find()
    assert record.place is not None
    return record.place


async def test_the_head_request_is_offered_once_to_the_agent_free_longest(
        offers: QueueCallbackOffers, hub: RecordingHub, store: Store) -> None:
    [made] = await offers.tick(NOW)
    assert made.agent == "8002"
    [offer] = offers_to(hub, "8002")
    assert (offer["event"], offer["number"], offer["merchant_number"], offer["queue"]) == (
        "offer", "13800138000", SHOP, "aftersales")
    assert offer["merchant_name"] == "鑫源便利店"  # the merchant's card on the desk
    assert offer["arrived_at"] == (NOW - timedelta(seconds=120)).isoformat()
    [pop] = [m for t, m in hub.messages if t == "agent:8002" and m["type"] == "pop"]
    assert (pop["linked_id"], pop["card"]["merchant_number"]) == (CALL, SHOP)  # the card
    assert await offers.tick(NOW + timedelta(seconds=1)) == []  # no second claim …
    assert len(offers_to(hub, "8002")) == 2  # … the same offer again for a reloaded desk
    assert offers_to(hub, "8001") == []
    place = await place_of(offers)
    assert (place.state, place.claimed_by, place.tries) == (PlaceState.CLAIMED, "8002", 1)
    async with store.transaction() as s:
        kinds = (await s.scalars(select(CallEventRow.kind).where(
            CallEventRow.linked_id == CALL).order_by(CallEventRow.id))).all()
    assert kinds == ["callback_requested", "callback_offered"]


async def test_a_caller_on_the_line_who_came_earlier_is_answered_first(
        offers: QueueCallbackOffers, desks: Desks, hub: RecordingHub) -> None:
    desks.callers = [Caller("1795330000.1", "aftersales", NOW - timedelta(minutes=10))]
    assert await offers.tick(NOW) == []
    desks.callers = [Caller("1795330999.1", "aftersales", NOW)]  # came after: behind
    assert [o.agent for o in await offers.tick(NOW)] == ["8002"]


async def test_declined_or_lapsed_offers_go_to_the_next_free_agent_keeping_the_place(
        offers: QueueCallbackOffers, desks: Desks, hub: RecordingHub) -> None:
    [first] = await offers.tick(NOW)
    await offers.decline(first.callback_id, "8002", NOW)
    assert offers_to(hub, "8002")[-1]["event"] == "withdrawn"
    place = await place_of(offers)
    assert (place.state, place.tries) == (PlaceState.WAITING, 0)  # no try used
    [second] = await offers.tick(NOW)
    assert second.agent == "8001"
    # 8001 lets it lapse: nobody else is free who has not declined it
    assert await offers.tick(NOW + timedelta(seconds=31)) == []
    assert offers_to(hub, "8001")[-1]["event"] == "withdrawn"
    desks.free["aftersales"] = ["8003"]
    assert [o.agent for o in await offers.tick(NOW + timedelta(seconds=32))] == ["8003"]


async def test_an_agent_app_queue_rang_meanwhile_loses_the_offer(
        offers: QueueCallbackOffers, desks: Desks, hub: RecordingHub) -> None:
    await offers.tick(NOW)
    desks.free["aftersales"] = ["8001"]  # 8002 is ringing for a live caller now
    [again] = await offers.tick(NOW + timedelta(seconds=1))
    assert again.agent == "8001"
    assert offers_to(hub, "8002")[-1]["event"] == "withdrawn"


async def test_accepted_it_is_dialled_once_like_click_to_dial_and_the_outcome_is_kept(
        offers: QueueCallbackOffers, desks: Desks, hub: RecordingHub) -> None:
    [offer] = await offers.tick(NOW)
    with pytest.raises(Conflict):
        await offers.accept(offer.callback_id, "8001", NOW)  # not offered to 8001
    result = await offers.accept(offer.callback_id, "8002", NOW)
    assert result["status"] == "dialling"
    assert desks.dialled == [("8002", "13800138000", f"queue-callback-{offer.callback_id}-1",
                              "鑫源便利店")]
    # accepted: neither the timeout nor 8002's busy phone takes it away
    desks.free["aftersales"] = []
    assert await offers.tick(NOW + timedelta(minutes=2)) == []
    with pytest.raises(ValidationError):
        await offers.outcome(offer.callback_id, "8002", "yes", NOW)
    record = await offers.outcome(offer.callback_id, "8002", True, NOW + timedelta(minutes=3))
    assert (record.state, record.result, record.agent_number) == (
        CallbackState.DONE, "reached", "8002")
    assert record.place is not None and record.place.state is PlaceState.DONE
    assert await offers.callbacks.store.places() == []
    with pytest.raises(Conflict):
        await offers.outcome(offer.callback_id, "8002", True, NOW)


async def test_unanswered_it_waits_in_its_place_then_is_given_up_to_a_person(
        offers: QueueCallbackOffers, desks: Desks) -> None:
    at = NOW
    for attempt in range(1, keep_place.MAX_TRIES + 1):
        [offer] = await offers.tick(at)
        await offers.accept(offer.callback_id, offer.agent, at)
        record = await offers.outcome(offer.callback_id, offer.agent, False, at)
        assert record.attempts == attempt
        place = await offers.callbacks.store.get(offer.callback_id)
        assert place is not None and place.place is not None
        assert place.place.arrived_at == NOW - timedelta(seconds=120)  # same place
        at += timedelta(minutes=5)
    assert record.state is CallbackState.PENDING  # 待处理: the 2-day clock runs
    assert record.result == f"given up after {keep_place.MAX_TRIES} tries"
    assert record.place is not None and record.place.state is PlaceState.FAILED
    assert await offers.tick(at) == []
    assert len({key for _, _, key, _ in desks.dialled}) == keep_place.MAX_TRIES


async def test_the_configured_retry_delay_and_attempts_decide_when_it_is_offered_again(
        offers: QueueCallbackOffers, hub: RecordingHub, store: Store) -> None:
    offers.policy = keep_place.Policy(attempts=2, retry_after=timedelta(minutes=10))
    [offer] = await offers.tick(NOW)
    await offers.accept(offer.callback_id, offer.agent, NOW)
    record = await offers.outcome(offer.callback_id, offer.agent, False, NOW)
    assert record.result == "no answer (1/2)"
    assert record.next_attempt_at == NOW + timedelta(minutes=10)  # shown on /callbacks
    stored = await offers.callbacks.store.get(offer.callback_id)
    assert stored is not None and stored.place is not None
    assert stored.place.retry_at == NOW + timedelta(minutes=10)  # kept across restarts
    assert stored.place.arrived_at == NOW - timedelta(seconds=120)
    assert await offers.tick(NOW + timedelta(minutes=9, seconds=59)) == []  # resting
    [again] = await offers.tick(NOW + timedelta(minutes=10))
    assert again.callback_id == offer.callback_id
    assert [m["max_tries"] for m in offers_to(hub, again.agent)][-1] == 2
    later = NOW + timedelta(minutes=10)
    await offers.accept(again.callback_id, again.agent, later)
    record = await offers.outcome(again.callback_id, again.agent, False, later)
    assert record.state is CallbackState.PENDING and record.next_attempt_at is None
    async with store.transaction() as s:
        outcomes = (await s.scalars(select(CallEventRow.data).where(
            CallEventRow.linked_id == CALL, CallEventRow.kind == "callback_outcome")
            .order_by(CallEventRow.id))).all()
    assert [o["retry_at"] for o in outcomes] == [
        (NOW + timedelta(minutes=10)).isoformat(), None]


async def test_two_processes_never_offer_the_same_call_back_twice(
        offers: QueueCallbackOffers, desks: Desks, store: Store, hub: RecordingHub) -> None:
    other = QueueCallbackOffers(CallbackService(SqlCallbackStore(store), hub, TZ),
                                Desks(free={"aftersales": ["8005"]}))
    made = await offers.tick(NOW) + await other.tick(NOW)
    assert [o.agent for o in made] == ["8002"]


async def test_a_claim_left_by_a_dead_process_is_released_after_the_lease(
        offers: QueueCallbackOffers, desks: Desks, store: Store, hub: RecordingHub) -> None:
    await offers.tick(NOW)
    restarted = QueueCallbackOffers(CallbackService(SqlCallbackStore(store), hub, TZ), desks)
    assert await restarted.tick(NOW + timedelta(minutes=1)) == []
    later: datetime = NOW + keep_place.CLAIM_LEASE + timedelta(seconds=1)
    assert [o.agent for o in await restarted.tick(later)] == ["8001"]  # 8002 had it
