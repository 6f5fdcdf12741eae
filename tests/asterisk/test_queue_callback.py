"""The call-back that keeps the caller's place, on a real Asterisk 22 (Local channels).

A merchant waits in ``aftersales`` (an agent is logged in but paused, so nobody answers and
the caller does not overflow at once), presses 1: app_queue takes the caller out of the queue
into ``[cc-queue-exit]`` (queues.conf ``context``), our FastAGI route ``callback`` reads the
place Queue() left on the channel (``QUEUEWAIT``, ``QUEUEPOSITION``), the caller confirms the
caller ID with 1, the request is stored through the product's port on a real (SQLite)
database with the caller's place, the AMI client sees ``UserEvent CcCallbackRequest``, and
the call ends. The product's CTI bridge (``CtiService`` on its own AMI connection, on the
IVR's clock) writes the call's row: outcome ``callback_requested``, which the day's KPIs count
apart (neither offered nor abandoned, docs/kpi.md R11). Pressing ``*`` instead sends the
caller back into the queue.

The keys in the queue are sent with AMI ``PlayDTMF`` on the merchant's half of the Local
channel (DTMF crosses the halves); the confirmation key once our IVR is reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.callbacks.keep_place import PlaceState
from callcenter.callbacks.rules import CallbackKind
from callcenter.callbacks.service import CallbackService
from callcenter.callbacks_store import SqlCallbackStore
from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db import migrate
from callcenter.db.engine import create_engine, session_factory
from callcenter.db.models import CallEventRow
from callcenter.db.repositories import Store
from callcenter.ivr_directory import StoreIvrDirectory
from callcenter.queue_callbacks import StoreCallbackRequests
from callcenter.reports.kpi import KpiPolicy, kpis, total
from callcenter.reports.periods import Group
from callcenter.reports_store import SqlReportStore
from cti.ami_client import AmiClient
from cti.service import CtiService
from ivr.ports import CallSession
from ivr.service import make_routes
from tests.business.conftest import SHOP, TZ, seed

from . import test_real_asterisk
from .conftest import AMI_SECRET, Asterisk
from .test_real_asterisk import DAYTIME, Line, StartFastAGI, menu_with_prompts, until

# The AMI line and FastAGI server fixtures of the hotline tests, shared as they are.
ami = test_real_asterisk.ami
fastagi = test_real_asterisk.fastagi

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(90)]

CALLER = "13800138000"  # the seeded shop's registered mobile: the IVR identifies it
# The IVR's clock runs at real speed from a Monday 10:00 in Shanghai (day mode: no night queue)
SHIFT = DAYTIME - datetime.now(UTC)


def daytime() -> datetime:
    return datetime.now(UTC) + SHIFT
MEMBER = "Local/8001@test-agent/n"


class Hub:
    def __init__(self) -> None:
        self.messages: list[tuple[str, Mapping[str, Any]]] = []

    def publish(self, topic: str, message: Mapping[str, Any]) -> None:
        self.messages.append((topic, message))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_engine(url)
    store = Store(session_factory(engine))
    await seed(store)
    yield store
    await engine.dispose()


class Watched:
    """Our FastAGI session, with an event set when the IVR starts reading a prompt's keys."""

    def __init__(self, session: CallSession, reading: dict[str, asyncio.Event]) -> None:
        self._session = session
        self._reading = reading

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Any:
        self._reading.setdefault(prompt.rsplit("/", 1)[1], asyncio.Event()).set()
        return await self._session.get_data(prompt, timeout_ms, max_digits)


def watched(routes: dict[str, Callable[[CallSession], Awaitable[None]]],
            reading: dict[str, asyncio.Event]) -> dict[str, Any]:
    def wrap(handler: Callable[[CallSession], Awaitable[None]]) -> Any:
        async def run(session: CallSession) -> None:
            await handler(Watched(session, reading))  # type: ignore[arg-type]
        return run
    return {name: wrap(handler) for name, handler in routes.items()}


async def _waiting_caller(ami: Line, fastagi: StartFastAGI, store: Store, tmp_path: Path,
                          reading: dict[str, asyncio.Event]) -> tuple[str, CallbackService]:
    """The shop calls, keys 1-2-2 (Chinese, after-sales, fault) and waits in aftersales;
    returns the merchant's own channel (the ;1 half) and the service behind the port."""
    service = CallbackService(SqlCallbackStore(store), Hub(), TZ)
    routes = make_routes(StoreIvrDirectory(store), menu_with_prompts(tmp_path / "prompts"),
                         daytime, callbacks=StoreCallbackRequests(store, service))
    await fastagi(watched(routes, reading))
    await ami.client.send("QueueAdd", [("Queue", "aftersales"), ("Interface", MEMBER),
                                       ("Paused", "true")])
    await ami.call_hotline(CALLER, "122")
    await until(lambda: bool(ami.seen("QueueCallerJoin", Queue="aftersales")), within=30)
    [join] = ami.seen("QueueCallerJoin", Queue="aftersales")
    caller = join.get("Channel") or ""
    assert caller.endswith(";2")
    return caller[:-1] + "1", service


@contextlib.asynccontextmanager
async def bridge(asterisk: Asterisk, store: Store) -> AsyncIterator[CtiService]:
    """The product's CTI bridge on its own AMI connection, as ``cti.wiring`` connects it, on
    the IVR's clock (so that the call's row has one day)."""
    def clock() -> float:
        return time.time() + SHIFT.total_seconds()

    service = CtiService(StoreCtiDirectory(store), Hub(), clock=clock)
    client = AmiClient("127.0.0.1", asterisk.ami_port, "callcenter", AMI_SECRET,
                       on_message=service.on_message, on_connected=service.on_connected,
                       clock=clock)
    service.attach(client)
    await service.start()
    await client.start()
    try:
        yield service
    finally:
        await client.stop()
        await service.stop()


async def ended(service: CtiService, store: Store, linked_id: str) -> Any:
    """The call's row once the bridge (on its own connection) has written its end."""
    async with asyncio.timeout(10):
        while True:
            await service.settle()
            call = await store.calls.get(linked_id)
            if call is not None and call.outcome is not None:
                return call
            await asyncio.sleep(0.1)


async def _key(ami: Line, channel: str, digit: str) -> None:
    await ami.client.send("PlayDTMF", [("Channel", channel), ("Digit", digit),
                                       ("Duration", "250")])


async def test_key_1_in_the_queue_books_a_call_back_that_keeps_the_callers_place(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, store: Store,
        tmp_path: Path) -> None:
    log_mark = asterisk.log_size()
    reading: dict[str, asyncio.Event] = {}
    cti = contextlib.AsyncExitStack()
    try:
        bridged = await cti.enter_async_context(bridge(asterisk, store))
        merchant, service = await _waiting_caller(ami, fastagi, store, tmp_path, reading)
        joined_at = daytime()
        await asyncio.sleep(2)  # the caller has waited a little
        await _key(ami, merchant, "1")
        # app_queue let the caller out with the key (not an abandon) into [cc-queue-exit]
        await until(lambda: bool(ami.seen("QueueCallerLeave", Queue="aftersales")), within=10)
        reading.setdefault("callback_confirm_keys", asyncio.Event())
        async with asyncio.timeout(15):
            await reading["callback_confirm_keys"].wait()
        await asyncio.sleep(0.2)
        await _key(ami, merchant, "1")  # "press 1 to confirm" the caller ID read out
        await until(lambda: bool(ami.seen("UserEvent", UserEvent="CcCallbackRequest")),
                    within=15)
        [event] = ami.seen("UserEvent", UserEvent="CcCallbackRequest")
        [ivr] = ami.ivr_results()
        linked = ivr.get("Linkedid") or ""
        assert (event.get("CcQueue"), event.get("CcCallbackOutcome"),
                event.get("CcCallbackRef")) == ("aftersales", "requested", linked)
        assert event.get("CcQueuePosition") == "1"
        waited = int(event.get("CcQueueWait") or "-1")
        assert 1 <= waited <= 15
        assert ami.seen("QueueCallerAbandon") == []
        # booked: the dialplan hangs up
        await until(lambda: bool(ami.seen("Hangup", Uniqueid=event.get("Uniqueid") or "")),
                    within=10)

        [record] = await service.find()
        assert record.kind is CallbackKind.QUEUE_CALLBACK
        assert record.source_ref == f"queue:{linked}"
        assert record.merchant_number == SHOP
        assert record.place is not None
        assert (record.place.queue, record.place.number, record.place.state) == (
            "aftersales", CALLER, PlaceState.WAITING)
        # the place is the arrival in the queue, not the key press
        assert abs(record.place.arrived_at - joined_at) < timedelta(seconds=3)

        # The bridge saw the UserEvent: the call is a call-back requested, not an abandon
        call = await ended(bridged, store, linked)
        assert (call.outcome, call.queue) == ("callback_requested", "aftersales")
        async with store.transaction() as s:
            [key] = (await s.scalars(select(CallEventRow).where(
                CallEventRow.linked_id == linked, CallEventRow.kind == "queue_exit_key"))).all()
        assert (key.data["callback"], key.data["queue"]) == ("requested", "aftersales")
        assert call.wait_s is not None and 1 <= call.wait_s <= 15
        # ... and the day's KPIs count it apart: neither offered nor abandoned (R11)
        reports = SqlReportStore(store, policy=KpiPolicy(), tz=TZ)
        await reports.refresh(daytime())
        day = daytime().astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
        cells = await reports.cells(day, day + timedelta(days=1), Group.TOTAL)
        figures = kpis(total(cell.tally for cell in cells))
        assert (figures["callback_requested"], figures["offered"], figures["abandoned"],
                figures["short_abandoned"]) == (1, 0, 0, 0)
        assert figures["answer_rate"] is None  # no other call today: no rate (R10)
        assert asterisk.problems_since(log_mark) == []
    finally:
        await ami.client.send("QueueRemove", [("Queue", "aftersales"), ("Interface", MEMBER)],
                              check=False)
        await cti.aclose()


async def test_star_at_the_offer_puts_the_caller_back_in_the_queue_without_a_booking(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, store: Store,
        tmp_path: Path) -> None:
    log_mark = asterisk.log_size()
    reading: dict[str, asyncio.Event] = {}
    cti = contextlib.AsyncExitStack()
    try:
        bridged = await cti.enter_async_context(bridge(asterisk, store))
        merchant, service = await _waiting_caller(ami, fastagi, store, tmp_path, reading)
        await asyncio.sleep(1)
        await _key(ami, merchant, "7")  # not an extension of [cc-queue-exit]: ignored
        await asyncio.sleep(1)
        assert ami.seen("QueueCallerLeave") == []
        await _key(ami, merchant, "1")
        reading.setdefault("callback_confirm_keys", asyncio.Event())
        async with asyncio.timeout(15):
            await reading["callback_confirm_keys"].wait()
        await asyncio.sleep(0.2)
        await _key(ami, merchant, "*")
        await until(lambda: len(ami.seen("QueueCallerJoin", Queue="aftersales")) == 2,
                    within=15)
        [event] = ami.seen("UserEvent", UserEvent="CcCallbackRequest")
        assert event.get("CcCallbackOutcome") == "cancelled"
        assert await service.find() == []
        await ami.client.send("Hangup", [("Channel", merchant)])
        await until(lambda: bool(ami.seen("QueueCallerAbandon")), within=10)
        # no call-back booked: the caller who then hung up in the queue abandoned
        await until(lambda: bool(ami.seen("Hangup", Uniqueid=event.get("Linkedid") or "")),
                    within=10)
        call = await ended(bridged, store, event.get("Linkedid") or "")
        assert call.outcome == "abandoned"
        assert asterisk.problems_since(log_mark) == []
    finally:
        await ami.client.send("QueueRemove", [("Queue", "aftersales"), ("Interface", MEMBER)],
                              check=False)
        await cti.aclose()
