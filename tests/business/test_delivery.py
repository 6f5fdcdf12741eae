"""Delivery to the business system through the outbox, against respx (httpx is mocked; time
is a fake clock the test moves): success, 5xx, timeouts, 409, rejections, dead letters, a
one-hour outage, a worker dying mid-attempt, the 3-day window."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from callcenter.business.business_client import BusinessClient
from callcenter.business.business_protocol import SIGNATURE_HEADER, encode_body, verify
from callcenter.business.outbox_worker import OutboxWorker
from callcenter.business.records import OutboxState
from callcenter.business.service import BusinessService
from callcenter.business.wiring import health_probe
from callcenter.business.wrapup import WrapupForm
from callcenter.db.repositories import Store
from callcenter.domain import DeliveryState
from callcenter.settings import BusinessSettings

from .conftest import (
    NOW,
    TZ,
    FakeClock,
    RecordingHub,
    Seed,
    add_call,
    external_service,
    repair_form,
)

BMS = "http://bms.test/api"
SECRET = "s3cret"
SETTINGS = BusinessSettings(url=BMS, secret=SECRET, timeout=2.0)


class BusinessSystem:
    """A fake business system: checks the signature and remembers each key it took."""

    def __init__(self) -> None:
        self.taken: Counter[str] = Counter()  # successful first deliveries per key
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self._answer(request)
        self.statuses.append(response.status_code)
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if not verify(SECRET, request.content, request.headers.get(SIGNATURE_HEADER)):
            return httpx.Response(401, json={"error": "bad signature"})
        key = request.headers["Idempotency-Key"]
        if self.taken[key]:
            return httpx.Response(409, json={"error": "duplicate"})
        self.taken[key] += 1
        number = json.loads(request.content)["task_number"]
        return httpx.Response(201, json={"external_id": f"BMS-{number}"})


@pytest.fixture
async def client() -> AsyncIterator[BusinessClient]:
    # httpx's own transport: respx intercepts it (our AiohttpTransport is tested apart)
    c = BusinessClient(SETTINGS, transport=httpx.AsyncHTTPTransport())
    yield c
    await c.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(sqlite_store: Store, hub: RecordingHub) -> BusinessService:
    return external_service(sqlite_store, hub)


def worker_for(service: BusinessService, client: BusinessClient, clock: FakeClock,
               owner: str = "w1", **kwargs: Any) -> OutboxWorker:
    return OutboxWorker(service.repo, client.deliver, clock=clock, jitter=lambda: 1.0,
                        owner=owner, on_completed=service.delivered, **kwargs)


async def make_records(service: BusinessService, store: Store, seed: Seed, n: int,
                       clock: FakeClock, prefix: str = "call") -> list[str]:
    """``n`` simple-fault records (one call each); returns their task numbers."""
    numbers = []
    for i in range(n):
        linked_id = f"{prefix}-{i}"
        await add_call(store, linked_id, merchant_id=seed.shop.id, started_at=clock.now)
        outcome = await service.record_wrapup(
            linked_id, WrapupForm(disposition="simple_fault", description=f"故障 {i}"),
            agent_number="8001", now=clock.now)
        assert outcome.task is not None
        numbers.append(outcome.task.task_number)
    return numbers


async def delivery_states(service: BusinessService, number: str) -> list[str]:
    detail = await service.detail(number)
    return [d.state.value for d in detail.deliveries]


async def test_a_record_is_posted_signed_once_and_marked_delivered(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock, hub: RecordingHub) -> None:
    [number] = await make_records(service, sqlite_store, sqlite_seeded, 1, clock)
    system = BusinessSystem()
    with respx.mock(base_url=BMS) as router:
        route = router.post("/tasks").mock(side_effect=system.answer)
        report = await worker_for(service, client, clock).run_once()
    assert (report.claimed, report.delivered) == (1, 1)
    request = route.calls.last.request
    assert request.headers["Idempotency-Key"] == f"{number}.v1"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    detail = await service.detail(number)
    assert request.content == encode_body(detail.deliveries[0].payload)
    assert json.loads(request.content)["task_number"] == number
    task = detail.view.task
    assert (task.delivery_state, task.external_id) == (DeliveryState.DELIVERED, f"BMS-{number}")
    assert detail.deliveries[0].delivered_at == NOW
    assert hub.sent["board"][-1] == {"type": "delivery", "task_number": number,
                                     "state": "delivered", "delivery_state": "delivered"}


async def test_server_errors_are_retried_with_the_same_key_and_body(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock) -> None:
    [number] = await make_records(service, sqlite_store, sqlite_seeded, 1, clock)
    worker = worker_for(service, client, clock)
    with respx.mock(base_url=BMS) as router:
        route = router.post("/tasks").mock(side_effect=[
            httpx.Response(503, text="maintenance"), httpx.Response(502),
            httpx.Response(200, json={})])
        assert (await worker.run_once()).retried == 1
        detail = await service.detail(number)
        [entry] = detail.deliveries
        assert (entry.state, entry.attempts) == (OutboxState.PENDING, 1)
        assert entry.next_attempt_at == NOW + timedelta(seconds=5)
        assert "HTTP 503: maintenance" in entry.last_error
        assert detail.view.task.delivery_state is DeliveryState.PENDING
        assert (await worker.run_once()).claimed == 0  # not due yet
        clock.advance(seconds=5)
        assert (await worker.run_once()).retried == 1
        clock.advance(seconds=10)  # second back-off doubles
        assert (await worker.run_once()).delivered == 1
    bodies = {c.request.content for c in route.calls}
    keys = {c.request.headers["Idempotency-Key"] for c in route.calls}
    assert route.call_count == 3 and len(bodies) == 1 and keys == {f"{number}.v1"}
    assert await delivery_states(service, number) == ["delivered"]


@pytest.mark.parametrize("failure", [httpx.ConnectTimeout("connect"),
                                     httpx.ReadTimeout("read"), httpx.ConnectError("refused")])
async def test_timeouts_and_refused_connections_are_retried(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock, failure: Exception) -> None:
    [number] = await make_records(service, sqlite_store, sqlite_seeded, 1, clock)
    worker = worker_for(service, client, clock)
    with respx.mock(base_url=BMS) as router:
        router.post("/tasks").mock(side_effect=[failure, httpx.Response(201, json={})])
        await worker.run_once()
        [entry] = (await service.detail(number)).deliveries
        assert entry.state is OutboxState.PENDING
        assert ("timeout" in entry.last_error) or ("no connection" in entry.last_error)
        clock.advance(seconds=5)
        await worker.run_once()
    assert await delivery_states(service, number) == ["delivered"]


async def test_409_duplicate_counts_as_delivered(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock) -> None:
    [number] = await make_records(service, sqlite_store, sqlite_seeded, 1, clock)
    with respx.mock(base_url=BMS) as router:
        router.post("/tasks").mock(return_value=httpx.Response(409, json={"external_id": "B7"}))
        report = await worker_for(service, client, clock).run_once()
    assert report.delivered == 1
    detail = await service.detail(number)
    assert detail.view.task.delivery_state is DeliveryState.DELIVERED
    assert detail.view.task.external_id == "B7"


async def test_a_rejected_record_is_a_dead_letter_raised_until_requeued(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock, hub: RecordingHub) -> None:
    [number] = await make_records(service, sqlite_store, sqlite_seeded, 1, clock)
    worker = worker_for(service, client, clock)
    probe = health_probe(service)
    with respx.mock(base_url=BMS) as router:
        route = router.post("/tasks").mock(side_effect=[
            httpx.Response(422, json={"error": "unknown merchant"}),
            httpx.Response(201, json={})])
        assert (await worker.run_once()).dead == 1
        clock.advance(days=5)
        assert (await worker.run_once()).claimed == 0  # dead rows are never retried alone
        assert route.call_count == 1
        detail = await service.detail(number)
        assert detail.view.task.delivery_state is DeliveryState.DEAD
        [entry] = detail.deliveries
        assert entry.dead_at == NOW and "HTTP 422" in entry.last_error
        assert {"type": "alert", "alert": "dead_letter", "outbox_id": entry.id,
                "task_number": number} in hub.sent["board"]
        assert [d.task_number for d in (await service.alerts(clock.now)).dead_letters] == [
            number]
        assert (await probe())["ok"] is False and (await probe())["dead"] == 1
        await service.requeue(entry.id, clock.now)
        assert (await worker.run_once()).delivered == 1
    assert (await service.detail(number)).view.task.delivery_state is DeliveryState.DELIVERED
    assert (await probe())["ok"] is True


async def test_later_versions_wait_for_the_earlier_one(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock) -> None:
    await add_call(sqlite_store, "first", merchant_id=sqlite_seeded.shop.id)
    created = await service.record_wrapup("first", repair_form(), agent_number="8001",
                                          now=clock.now)
    assert created.task is not None
    number = created.task.task_number
    await add_call(sqlite_store, "follow-up", merchant_id=sqlite_seeded.shop.id)
    await service.record_wrapup("follow-up", repair_form(description="商户催修",
                                                         link_task_number=number),
                                agent_number="8001", now=clock.now)
    worker = worker_for(service, client, clock)
    with respx.mock(base_url=BMS) as router:
        route = router.post("/tasks").mock(side_effect=[
            httpx.Response(500), httpx.Response(201, json={}), httpx.Response(201, json={})])
        report = await worker.run_once()
        assert (report.claimed, report.retried) == (1, 1)  # v2 is not claimed while v1 waits
        clock.advance(seconds=5)
        await worker.run_once()
        await worker.run_once()
    assert [c.request.headers["Idempotency-Key"] for c in route.calls] == [
        f"{number}.v1", f"{number}.v1", f"{number}.v2"]
    detail = await service.detail(number)
    assert [(d.task_version, d.state.value) for d in detail.deliveries] == [
        (1, "delivered"), (2, "delivered")]


async def test_one_hour_outage_loses_and_duplicates_nothing(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock) -> None:
    """Records keep coming during a one-hour outage; after recovery each is delivered once."""
    outage_end = NOW + timedelta(hours=1)
    system = BusinessSystem()
    refused = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal refused
        if clock.now < outage_end:
            refused += 1
            raise httpx.ConnectError("connection refused")
        return system.answer(request)

    worker = worker_for(service, client, clock, batch_size=7)
    numbers: list[str] = []
    with respx.mock(base_url=BMS) as router:
        router.post("/tasks").mock(side_effect=answer)
        # 2 hours in 1-minute steps: 4 records every 10 minutes, the worker runs each step
        for step in range(120):
            if step % 10 == 0:
                numbers += await make_records(service, sqlite_store, sqlite_seeded, 4, clock,
                                              prefix=f"s{step}")
            await worker.run_until_idle()
            clock.advance(minutes=1)
    assert len(numbers) == 48 and refused > 0
    keys = {f"{n}.v1" for n in numbers}
    assert set(system.taken) == keys  # none lost
    assert all(count == 1 for count in system.taken.values())  # none taken twice
    duplicates = [r for r in system.requests if r.headers["Idempotency-Key"] in keys]
    assert len(duplicates) == len(keys)  # and none even posted twice after recovery
    stats = await service.repo.outbox_stats()
    assert (stats.pending, stats.in_flight, stats.dead) == (0, 0, 0)


async def test_a_worker_dying_mid_attempt_is_covered_by_its_lease(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock) -> None:
    numbers = await make_records(service, sqlite_store, sqlite_seeded, 3, clock)
    system = BusinessSystem()
    dying = worker_for(service, client, clock, owner="dies")
    with respx.mock(base_url=BMS) as router:
        router.post("/tasks").mock(side_effect=system.answer)

        async def die(results: Any, *args: Any) -> Any:
            raise asyncio.CancelledError  # the process is gone before it writes the outcome

        dying.repo = type("Dying", (), {"claim": service.repo.claim, "complete": die})()
        with pytest.raises(asyncio.CancelledError):
            await dying.run_once()
        assert sum(system.taken.values()) == 3  # posted, but not recorded as delivered
        survivor = worker_for(service, client, clock, owner="survives")
        assert (await survivor.run_once()).claimed == 0  # still leased to the dead worker
        clock.advance(seconds=61)
        assert (await survivor.run_once()).delivered == 3  # 409 each time: already there
    assert all(count == 1 for count in system.taken.values())
    assert system.statuses == [201] * 3 + [409] * 3
    for number in numbers:
        assert await delivery_states(service, number) == ["delivered"]


async def test_delivery_is_given_up_at_the_end_of_the_retry_window(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        client: BusinessClient, clock: FakeClock) -> None:
    # 3 days in production (test_outbox_state walks those); 2 hours keep this test short
    service.retry_window = timedelta(hours=2)
    [number] = await make_records(service, sqlite_store, sqlite_seeded, 1, clock)
    worker = worker_for(service, client, clock)
    with respx.mock(base_url=BMS) as router:
        route = router.post("/tasks").mock(return_value=httpx.Response(503))
        while True:
            [entry] = (await service.detail(number)).deliveries
            if entry.state is OutboxState.DEAD:
                break
            clock.now = max(clock.now, entry.next_attempt_at)
            await worker.run_once()
    assert clock.now == NOW + timedelta(hours=2)
    assert route.call_count == entry.attempts > 8
    assert "retry window" in entry.last_error


async def test_running_worker_delivers_as_soon_as_it_is_woken(
        sqlite_store: Store, sqlite_seeded: Seed, hub: RecordingHub,
        client: BusinessClient) -> None:
    from datetime import UTC, datetime

    service = external_service(sqlite_store, hub)
    worker = OutboxWorker(service.repo, client.deliver, clock=lambda: datetime.now(UTC),
                          poll_interval=30.0, on_completed=service.delivered)
    service.on_enqueued = worker.wake
    delivered = asyncio.Event()

    def done(request: httpx.Request) -> httpx.Response:
        delivered.set()
        return httpx.Response(201, json={})

    with respx.mock(base_url=BMS) as router:
        router.post("/tasks").mock(side_effect=done)
        await worker.start()
        try:
            now = datetime.now(UTC)
            await add_call(sqlite_store, "live", merchant_id=sqlite_seeded.shop.id,
                           started_at=now)
            outcome = await service.record_wrapup("live", WrapupForm(
                disposition="simple_fault", description="x"), agent_number="8001", now=now)
            await asyncio.wait_for(delivered.wait(), 10)  # woken, not the 30 s poll
        finally:
            await worker.stop()
    assert outcome.task is not None
    for _ in range(100):
        if (await service.detail(outcome.task.task_number)).view.task.delivery_state \
                is DeliveryState.DELIVERED:
            break
        await asyncio.sleep(0.01)
    assert (await service.detail(outcome.task.task_number)).view.task.delivery_state \
        is DeliveryState.DELIVERED


async def test_every_saved_wrap_up_is_told_to_the_cti_and_a_failing_listener_is_harmless(
        service: BusinessService, sqlite_store: Store, sqlite_seeded: Seed,
        clock: FakeClock) -> None:
    told: list[str] = []
    service.on_wrapped_up = told.append
    await make_records(service, sqlite_store, sqlite_seeded, 1, clock)
    assert told == ["call-0"]

    def broken(linked_id: str) -> None:
        raise RuntimeError("the CTI is gone")

    service.on_wrapped_up = broken
    [number] = await make_records(service, sqlite_store, sqlite_seeded, 1, clock, prefix="x")
    assert number  # saved all the same


async def test_tasks_recorded_before_the_business_system_existed_are_delivered_once_it_does(
        sqlite_store: Store, sqlite_seeded: Seed, hub: RecordingHub, client: BusinessClient,
        clock: FakeClock) -> None:
    local = BusinessService(sqlite_store, hub, tz=TZ, external=False)
    numbers = await make_records(local, sqlite_store, sqlite_seeded, 2, clock)
    assert await local.deliver_backlog(clock.now) == 0  # still no business system
    assert await local.repo.count_local() == 2
    service = external_service(sqlite_store, hub)
    assert await service.deliver_backlog(clock.now) == 2
    assert await service.repo.count_local() == 0
    assert await service.deliver_backlog(clock.now) == 0  # queued once
    system = BusinessSystem()
    with respx.mock(base_url=BMS) as router:
        router.post("/tasks").mock(side_effect=system.answer)
        report = await worker_for(service, client, clock).run_once()
    assert report.delivered == 2
    for number in numbers:
        assert await delivery_states(service, number) == ["delivered"]
