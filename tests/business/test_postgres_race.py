"""PostgreSQL: two workers (separate engines and connection pools, as two processes would have)
race over 1,000 outbox rows; ``FOR UPDATE SKIP LOCKED`` and the lease make each row posted
exactly once. Skipped with the reason when no PostgreSQL answers."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert, select

from callcenter.business.business_client import BusinessClient
from callcenter.business.business_protocol import (
    IDEMPOTENCY_HEADER,
    Acknowledgement,
    idempotency_key,
)
from callcenter.business.outbox_worker import OutboxWorker
from callcenter.business.records import OutboxEntry
from callcenter.business.repository import BusinessRepository
from callcenter.db import migrate
from callcenter.db.engine import create_engine, session_factory
from callcenter.db.models import MerchantRow, OutboxRow, TaskRow
from callcenter.db.repositories import Store
from callcenter.settings import BusinessSettings
from tests.conftest import create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.postgres

N = 1000
T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture
def pg_url() -> Iterator[str]:
    url, admin, name = create_postgres_database()  # skips with the reason if unreachable
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_postgres_database(admin, name)


async def _fill(store: Store) -> None:
    """1,000 tasks with one pending outbox row each, written in bulk."""
    async with store.transaction() as s:
        merchant = (await s.execute(insert(MerchantRow).values(
            merchant_number="102290054110001", name="鑫源便利店", address="张杨路 100 号",
            district="浦东新区", contact_person="王伟", business_hours="09:00-21:00",
            tags=[], created_at=T0, updated_at=T0).returning(MerchantRow.id))).scalar_one()
        numbers = [f"SF20261122-{i:04d}" for i in range(1, N + 1)]
        await s.execute(insert(TaskRow), [{
            "task_number": n, "kind": "simple_fault", "status": "done", "merchant_id": merchant,
            "agent_number": "8001", "delivery_state": "pending", "version": 1, "created_at": T0,
            "updated_at": T0, "disposition": "simple_fault", "department": ""} for n in numbers])
        ids = dict((await s.execute(select(TaskRow.task_number, TaskRow.id))).all())
        await s.execute(insert(OutboxRow), [{
            "task_id": ids[n], "task_version": 1, "idempotency_key": idempotency_key(n, 1),
            "payload": {"task_number": n}, "state": "pending", "attempts": 0, "created_at": T0,
            "next_attempt_at": T0, "give_up_at": T0 + timedelta(days=3), "last_error": "",
            "lease_owner": ""} for n in numbers])


class Counting:
    """A worker's deliver function that counts what this worker posted."""

    def __init__(self, client: BusinessClient, owner: str, counter: Counter[str]) -> None:
        self.client, self.owner, self.counter = client, owner, counter

    async def __call__(self, entry: OutboxEntry) -> Acknowledgement:
        self.counter[self.owner] += 1
        return await self.client.deliver(entry)


async def test_two_workers_deliver_each_of_1000_rows_exactly_once(pg_url: str) -> None:
    posted: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()

    async def business_system(request: httpx.Request) -> httpx.Response:
        posted[request.headers[IDEMPOTENCY_HEADER]] += 1
        await asyncio.sleep(0.001)  # let the other worker's claim run meanwhile
        return httpx.Response(201, json={"external_id": json.loads(request.content)[
            "task_number"]})

    engines = [create_engine(pg_url) for _ in range(2)]
    clients = [BusinessClient(BusinessSettings("http://bms.test", "s3cret", 5.0),
                              transport=httpx.MockTransport(business_system))
               for _ in engines]
    try:
        stores = [Store(session_factory(e)) for e in engines]
        await _fill(stores[0])
        workers = [OutboxWorker(BusinessRepository(store), Counting(client, f"w{i}", by_worker),
                                owner=f"w{i}", clock=lambda: T0 + timedelta(seconds=1),
                                batch_size=25, concurrency=10)
                   for i, (store, client) in enumerate(zip(stores, clients, strict=True),
                                                       start=1)]
        reports = await asyncio.gather(*(w.run_until_idle() for w in workers))
        assert len(posted) == N and set(posted.values()) == {1}  # none lost, none twice
        assert sum(r.delivered for r in reports) == N
        assert all(r.lost == 0 for r in reports)
        assert by_worker["w1"] > 0 and by_worker["w2"] > 0  # they really raced
        stats = await BusinessRepository(stores[0]).outbox_stats()
        assert (stats.pending, stats.in_flight, stats.dead) == (0, 0, 0)
        async with stores[0].transaction() as s:
            states = set((await s.scalars(select(TaskRow.delivery_state))).all())
        assert states == {"delivered"}
    finally:
        for client in clients:
            await client.aclose()
        for engine in engines:
            await engine.dispose()
