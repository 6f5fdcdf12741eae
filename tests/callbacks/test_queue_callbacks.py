"""The keep-my-place call-back on the database: the IVR's request (ivr/callback.py) through
the port (callcenter/queue_callbacks.py) into CallbackService.queue_callback, stored once per
call with the caller's place; claims are compare-and-set."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from callcenter.callbacks import keep_place
from callcenter.callbacks.keep_place import PlaceState
from callcenter.callbacks.rules import CallbackKind, CallbackState
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.db.models import CallEventRow
from callcenter.db.repositories import Store
from callcenter.queue_callbacks import StoreCallbackRequests
from ivr.ports import CallbackBooking, QueueCallbackRequest
from tests.business.conftest import NOW, SHOP, TZ, RecordingHub, Seed, add_agent


def request(call_id: str = "1795330137.0", number: str = "13800138000", waited: int = 95,
            merchant: str = SHOP) -> QueueCallbackRequest:
    return QueueCallbackRequest(call_id=call_id, unique_id=call_id[:-1] + "1",
                                merchant_number=merchant, number=number, queue="aftersales",
                                arrived_at=NOW - timedelta(seconds=waited), priority=5,
                                position=3, requested_at=NOW)


async def test_a_request_is_stored_once_with_the_callers_place_and_timeline(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = CallbackService(SqlCallbackStore(store), hub, TZ)
    port = StoreCallbackRequests(store, service)
    assert await port.request_callback(request()) is CallbackBooking.BOOKED
    # the same call again (a replay after a restart of the product or of Asterisk)
    assert await port.request_callback(request()) is CallbackBooking.KEPT
    # the same number from a new call while the first is open: the first keeps the place
    assert await port.request_callback(request("1795330200.4", waited=5)) \
        is CallbackBooking.KEPT
    [record] = await service.find()
    assert (record.kind, record.state, record.merchant_id, record.agent_number) == (
        CallbackKind.QUEUE_CALLBACK, CallbackState.PLANNED, seeded.shop.id, "")
    assert record.source_ref == "queue:1795330137.0"
    assert record.due_at == NOW + timedelta(hours=4)
    assert record.place == keep_place.Request(
        "1795330137.0", "13800138000", "aftersales", NOW - timedelta(seconds=95), 5)
    async with store.transaction() as s:
        events = (await s.scalars(select(CallEventRow).where(
            CallEventRow.kind == "callback_requested"))).all()
    assert [(e.linked_id, e.data["stored"], e.data["number"]) for e in events] == [
        ("1795330137.0", True, "138****8000"), ("1795330137.0", False, "138****8000"),
        ("1795330200.4", False, "138****8000")]
    assert [m["event"] for t, m in hub.messages if m.get("type") == "callback"] == ["queued"]
    # both callers left the queue for a call-back: neither is an abandon in the KPIs
    for linked_id in ("1795330137.0", "1795330200.4"):
        call = await store.calls.get(linked_id)
        assert call is not None and call.outcome == "callback_requested"


async def test_an_unknown_merchant_number_books_nothing(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = CallbackService(SqlCallbackStore(store), hub, TZ)
    port = StoreCallbackRequests(store, service)
    assert await port.request_callback(request(merchant="999999999999999")) \
        is CallbackBooking.NO_MERCHANT
    assert await service.find() == []
    assert await store.calls.get("1795330137.0") is None  # no outcome written


async def test_planning_leaves_a_kept_place_to_the_agent_free_in_turn(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    await add_agent(store, "8001")
    service = CallbackService(SqlCallbackStore(store), hub, TZ)
    await StoreCallbackRequests(store, service).request_callback(request())
    result = await service.plan_day(NOW.astimezone(TZ).date(), NOW)
    assert result.assigned == 0
    [record] = await service.find()
    assert record.agent_number == ""


async def test_a_place_is_claimed_by_one_agent_only(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    callbacks = SqlCallbackStore(store)
    service = CallbackService(callbacks, hub, TZ)
    await StoreCallbackRequests(store, service).request_callback(request())
    [record] = await callbacks.places("aftersales")
    assert record.place is not None
    before = record.place
    mine = keep_place.claim({before.call_id: before}, before.call_id, "8001", NOW)
    theirs = keep_place.claim({before.call_id: before}, before.call_id, "8002", NOW)
    assert await callbacks.save_place(record.id, before, mine[before.call_id], NOW)
    assert not await callbacks.save_place(record.id, before, theirs[before.call_id], NOW)
    [claimed] = await callbacks.places()
    assert claimed.place is not None
    assert (claimed.place.state, claimed.place.claimed_by, claimed.place.tries) == (
        PlaceState.CLAIMED, "8001", 1)
    done = replace(claimed.place, state=PlaceState.DONE)
    assert await callbacks.save_place(record.id, claimed.place, done, NOW)
    assert await callbacks.places() == []
