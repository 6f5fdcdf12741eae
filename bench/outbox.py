"""Outbox benchmark: business records per second from the wrap-up to the business system's
acknowledgement; prints one JSON document.

A local HTTP stub (a bare asyncio HTTP/1.1 server in its own process, controlled over a
second aiohttp port) plays the business system: it checks each
signature and counts deliveries by ``Idempotency-Key`` (201 the first time, 409 after). Each
scenario starts on an empty, migrated database with the delivery workers running, then saves
``--tasks`` wrap-ups through the real use case (``BusinessService.record_wrapup``: call
disposition, task, history, outbox row in one transaction) from ``--creators`` concurrent
coroutines, and stops the clock when the stub has acknowledged every record.

Scenarios: SQLite with 1 worker (an asyncio task in this process: SQLite takes one worker);
PostgreSQL with 1 and with 4 workers. ``--worker-mode`` says what a PostgreSQL worker is:
``processes`` (default: one OS process per worker, as deployed; they cannot be woken across
processes, so a worker that found less than a full batch polls again after 20 ms times the
number of worker processes: together they claim 50 times a second, however many they are)
or ``tasks`` (concurrent asyncio tasks in this process, each with its own engine and
connection pool). The stub runs in its own process.

Three runs per scenario, each counted for loss (records never acknowledged) and duplicates
(keys posted again after they were taken: 409s) — both must be 0:

* ``wrapup_e2e``: the whole wrap-up use case from ``--creators`` coroutines while the workers
  deliver: ``tasks_per_s`` from the first save to the last acknowledgement, ``created_per_s``,
  ``latency_ms`` (save → acknowledgement, p50/p95/max);
* ``outbox_e2e``: the same with the transactional-outbox write alone as the producer;
* ``drain``: a backlog already in the outbox (as after an outage), delivery alone.

Run: ``.venv/bin/python bench/outbox.py`` (PostgreSQL from ``CALLCENTER_BENCH_POSTGRES_URL``,
else ``CALLCENTER_TEST_POSTGRES_URL``, else postgresql://postgres@127.0.0.1/postgres; skipped
with the reason when it does not answer).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
if str(ROOT) not in sys.path:  # run as a file: make callcenter/ importable
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from callcenter.business.business_client import BusinessClient  # noqa: E402
from callcenter.business.business_protocol import (  # noqa: E402
    SIGNATURE_HEADER,
    idempotency_key,
    task_payload,
    verify,
)
from callcenter.business.outbox_worker import OutboxWorker  # noqa: E402
from callcenter.business.records import NewRecord  # noqa: E402
from callcenter.business.repository import BusinessRepository, FirstDelivery  # noqa: E402
from callcenter.business.service import BusinessService  # noqa: E402
from callcenter.business.wrapup import WrapupForm  # noqa: E402
from callcenter.db import migrate  # noqa: E402
from callcenter.db.engine import create_engine, session_factory  # noqa: E402
from callcenter.db.models import CallRow, MerchantRow  # noqa: E402
from callcenter.db.repositories import Store  # noqa: E402
from callcenter.event_loop import runner  # noqa: E402
from callcenter.settings import BusinessSettings  # noqa: E402

SECRET = "bench-secret"
TZ = ZoneInfo("Asia/Shanghai")
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


class NullHub:
    def publish(self, topic: str, message: dict[str, Any]) -> int:
        return 0


# ------------------------------------------------------------------------------ the stub


class Stub:
    """The business system (in its own process): checks signatures and counts deliveries by
    Idempotency-Key. ``/_reset``, ``/_wait`` and ``/_stats`` are the benchmark's controls."""

    def __init__(self) -> None:
        self.taken: dict[str, float] = {}  # key → monotonic time of the first acknowledgement
        self.duplicates: Counter[str] = Counter()
        self.bad_signatures = 0
        self.all_in = asyncio.Event()
        self.expected = 0

    def answer(self, body: bytes, signature: str | None, key: str | None) -> tuple[int, bytes]:
        """The business system's answer to one delivery: (status, JSON body)."""
        if not verify(SECRET, body, signature):
            self.bad_signatures += 1
            return 401, b'{"error": "bad signature"}'
        if key is None:
            return 400, b'{"error": "no Idempotency-Key"}'
        if key in self.taken:
            self.duplicates[key] += 1
            return 409, b'{"error": "duplicate"}'
        self.taken[key] = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
        if self.expected and len(self.taken) >= self.expected:
            self.all_in.set()
        return 201, json.dumps({"external_id": "BMS-" + key}).encode()

    async def reset(self, request: web.Request) -> web.Response:
        self.taken.clear()
        self.duplicates.clear()
        self.bad_signatures = 0
        self.expected = int(request.query["expected"])
        self.all_in = asyncio.Event()
        return web.json_response({})

    async def wait(self, request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_in.wait(), float(request.query["timeout"]))
        return web.json_response({"all_in": self.all_in.is_set()})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"taken": self.taken,
                                  "duplicates": sum(self.duplicates.values()),
                                  "bad_signatures": self.bad_signatures})


class StubHttp(asyncio.Protocol):
    """The stub's business endpoint (``POST /tasks``) as a bare HTTP/1.1 keep-alive server.

    The stub stands for a system on another host; on this 2-core machine it shares the CPU
    with everything measured, so it is kept as cheap as a Protocol can be (aiohttp's server
    cost 0.25 ms a request). It parses only what the outbox client sends: a request line,
    headers, a Content-Length body."""

    def __init__(self, stub: Stub) -> None:
        self.stub = stub
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (line.partition(":") for line in head[1:])}
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            if head[0].startswith("POST /tasks "):
                status, out = self.stub.answer(body, headers.get(SIGNATURE_HEADER.lower()),
                                               headers.get("idempotency-key"))
            else:
                status, out = 404, b'{"error": "not found"}'
            assert self.transport is not None
            self.transport.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(out)}\r\n\r\n".encode() + out)


def _stub_process(pipe: Any) -> None:
    async def main() -> None:
        stub = Stub()
        app = web.Application()
        app.router.add_post("/_reset", stub.reset)
        app.router.add_get("/_wait", stub.wait)
        app.router.add_get("/_stats", stub.stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        tasks = await asyncio.get_running_loop().create_server(
            lambda: StubHttp(stub), "127.0.0.1", 0)
        pipe.send((f"http://127.0.0.1:{runner.addresses[0][1]}",
                   f"http://127.0.0.1:{tasks.sockets[0].getsockname()[1]}"))
        await asyncio.to_thread(pipe.recv)  # anything: stop
        await runner.cleanup()

    runner("uvloop")(main())


class StubControl:
    """Starts the stub process and drives it over HTTP."""

    def __init__(self) -> None:
        self.url = ""  # the controls (aiohttp)
        self.tasks_url = ""  # the business endpoint the workers post to
        self.process: Any = None
        self.pipe: Any = None
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.process = ctx.Process(target=_stub_process, args=(child,), daemon=True)
        self.process.start()
        self.url, self.tasks_url = await asyncio.to_thread(self.pipe.recv)
        self.http = aiohttp.ClientSession()

    async def reset(self, expected: int) -> None:
        assert self.http is not None
        async with self.http.post(f"{self.url}/_reset?expected={expected}") as r:
            r.raise_for_status()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        assert self.http is not None
        async with self.http.get(f"{self.url}/_wait?timeout={timeout}") as r:
            r.raise_for_status()

    async def stats(self) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.get(f"{self.url}/_stats") as r:
            data: dict[str, Any] = await r.json()
            return data

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        if self.pipe is not None:
            self.pipe.send("stop")
            await asyncio.to_thread(self.process.join, 10)


# ------------------------------------------------------------------------------ databases


def postgres_admin_url() -> str:
    return (os.environ.get("CALLCENTER_BENCH_POSTGRES_URL")
            or os.environ.get("CALLCENTER_TEST_POSTGRES_URL") or LOCAL_POSTGRES)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def create_postgres() -> tuple[str, str]:
    """A fresh database; returns (its URL, its name). Raises OSError-ish when unreachable."""
    import asyncpg

    admin = _plain(postgres_admin_url())
    name = f"cc_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncio.wait_for(asyncpg.connect(admin), timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{admin.rpartition('/')[0]}/{name}", name


async def drop_postgres(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_plain(postgres_admin_url()))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(store: Store, n: int, offset: int, now: datetime) -> tuple[int, list[str]]:
    """A merchant and ``n`` answered calls (not timed)."""
    async with store.transaction() as s:
        merchant_id = await s.scalar(
            insert(MerchantRow).values(
                merchant_number=f"10229005411{offset % 10000:04d}", name="鑫源便利店",
                address="上海市浦东新区张杨路 100 号", district="浦东新区",
                contact_person="王伟", business_hours="09:00-21:00", tags=[],
                created_at=now, updated_at=now).returning(MerchantRow.id))
        assert merchant_id is not None
        ids = [f"bench-{offset}-{i}" for i in range(n)]
        await s.execute(insert(CallRow), [{
            "linked_id": linked_id, "unique_id": linked_id, "caller_number": "02150551234",
            "merchant_id": merchant_id, "merchant_verified": True, "ivr_path": "",
            "intent": "repair", "lang": "zh", "queue": "hotline", "priority": 0,
            "agent_number": "8001", "started_at": now, "answered_at": now,
            "wrapup_note": "", "outcome": "answered"} for linked_id in ids])
    await analyze(store)
    return merchant_id, ids


async def analyze(store: Store) -> None:
    """Refresh PostgreSQL's planner statistics, as autovacuum does on a database in service:
    right after a bulk load they still say "40 rows" and the worker's claim would hash and
    sort every due row instead of reading the 100 it takes from ``ix_outbox_due``."""
    async with store.transaction() as s:
        if (await s.connection()).dialect.name == "postgresql":
            await s.execute(text("ANALYZE"))


# ------------------------------------------------------------------------------ workers


POLL_PER_PROCESS = 0.02  # seconds; see the module's docstring
IN_FLIGHT = 4  # posts in flight per worker: the stub is on loopback, the client CPU-bound


def _worker_process(url: str, stub_url: str, owner: str, poll: float, ready: Any, go: Any,
                    stop: Any) -> None:
    """A worker in its own process: say ready, wait for go, deliver until stop."""

    async def main() -> None:
        engine = create_engine(url)
        client = BusinessClient(BusinessSettings(stub_url, SECRET, 10.0),
                                max_connections=IN_FLIGHT)
        # Another process cannot wake it: it polls.
        worker = OutboxWorker(BusinessRepository(Store(session_factory(engine))),
                              client.deliver, clock=lambda: datetime.now(UTC), owner=owner,
                              poll_interval=poll, concurrency=IN_FLIGHT)
        async with engine.connect():  # open the pool before the clock starts
            pass
        ready.set()
        await asyncio.to_thread(go.wait)
        await worker.start()
        await asyncio.to_thread(stop.wait)
        await worker.stop()
        await client.aclose()
        await engine.dispose()

    runner("uvloop")(main())


class Workers:
    """``count`` delivery workers as asyncio tasks (own engines) or OS processes.
    :meth:`prepare` builds them (processes spawned and connected), :meth:`go` lets them run:
    the timed part starts at ``go``."""

    def __init__(self, url: str, stub_url: str, count: int, mode: str) -> None:
        self.url, self.stub_url, self.count, self.mode = url, stub_url, count, mode
        self.workers: list[OutboxWorker] = []
        self.clients: list[BusinessClient] = []
        self.engines: list[Any] = []
        self.processes: list[Any] = []
        self.go_event: Any = None
        self.stop_event: Any = None

    async def prepare(self) -> None:
        if self.mode == "processes":
            ctx = multiprocessing.get_context("spawn")
            self.go_event, self.stop_event = ctx.Event(), ctx.Event()
            readies = []
            for i in range(self.count):
                ready = ctx.Event()
                p = ctx.Process(target=_worker_process, args=(
                    self.url, self.stub_url, f"bench-p{i}", POLL_PER_PROCESS * self.count,
                    ready, self.go_event,
                    self.stop_event), daemon=True)
                p.start()
                self.processes.append(p)
                readies.append(ready)
            for ready in readies:
                await asyncio.to_thread(ready.wait, 60)
            return
        for i in range(self.count):
            engine = create_engine(self.url)
            client = BusinessClient(BusinessSettings(self.stub_url, SECRET, 10.0),
                                    max_connections=IN_FLIGHT)
            worker = OutboxWorker(BusinessRepository(Store(session_factory(engine))),
                                  client.deliver, clock=lambda: datetime.now(UTC),
                                  owner=f"bench-t{i}", poll_interval=0.05,
                                  concurrency=IN_FLIGHT)
            self.engines.append(engine)
            self.clients.append(client)
            self.workers.append(worker)

    async def go(self) -> None:
        if self.go_event is not None:
            self.go_event.set()
        for worker in self.workers:
            await worker.start()

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    async def stop(self) -> None:
        if self.stop_event is not None:
            self.stop_event.set()
            for p in self.processes:
                await asyncio.to_thread(p.join, 30)
        for worker in self.workers:
            await worker.stop()
        for client in self.clients:
            await client.aclose()
        for engine in self.engines:
            await engine.dispose()


# ------------------------------------------------------------------------------ scenario


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 1),
            "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
            "max": round(ordered[-1], 1)}


class Producer:
    """Creates business records: through the whole wrap-up use case (``wrapup``: call
    disposition, task, history and outbox row in one transaction) or the transactional-outbox
    write alone (``outbox``: task, history and outbox row in one transaction, what the
    delivery side must absorb when records arrive faster than people can type them)."""

    def __init__(self, kind: str, store: Store, service: BusinessService) -> None:
        self.kind, self.store, self.service = kind, store, service
        self.form = WrapupForm(disposition="simple_fault", description="重启后恢复正常")
        self.merchant: Any = None

    async def create(self, linked_id: str) -> str:
        now = datetime.now(UTC)
        if self.kind == "wrapup":
            outcome = await self.service.record_wrapup(linked_id, self.form,
                                                       agent_number="8001", now=now)
            assert outcome.task is not None
            return f"{outcome.task.task_number}.v1"
        repo = self.service.repo
        async with self.store.transaction() as s:
            # as a save does: the call is locked first (the merchant is the same every time)
            call = await repo.call(s, linked_id, lock=True)
            assert call is not None
            if self.merchant is None:
                self.merchant = await repo.merchant(s, 1)
            merchant = self.merchant
            first = FirstDelivery(
                lambda record, complaint: task_payload(
                    event="task.created", task=record.task, disposition="simple_fault",
                    department="", merchant_number=merchant.merchant_number,
                    merchant_name=merchant.name, calls=[], complaint=complaint),
                idempotency_key, now, now + timedelta(days=3))
            record, _ = await repo.create_record(s, NewRecord(
                task_number="", kind="simple_fault", status="done",
                merchant_id=merchant.id, linked_id=linked_id, agent_number="8001",
                terminal_serial="", product_model="", address="", site_phone="",
                business_hours="", contact_person="", description="重启后恢复正常",
                disposition="simple_fault", department="", delivery_state="pending", at=now,
                actor="bench", note="", complaint=None), "SF", now.astimezone(TZ).date(), first)
            key = idempotency_key(record.task.task_number, 1)
        self.service.on_enqueued()
        return key


async def run_pipeline(kind: str, store: Store, url: str, stub: StubControl, *, tasks: int,
                       workers: int, creators: int, mode: str, offset: int
                       ) -> dict[str, Any]:
    """Records created from ``creators`` coroutines while the workers deliver."""
    _, calls = await seed(store, tasks, offset, datetime.now(UTC))
    pool = Workers(url, stub.tasks_url, workers, mode)
    service = BusinessService(store, NullHub(), tz=TZ, external=True, on_enqueued=pool.wake)
    producer = Producer(kind, store, service)
    await stub.reset(tasks)
    await pool.prepare()
    await pool.go()
    saved_at: dict[str, float] = {}
    queue = list(reversed(calls))

    async def creator() -> None:
        while queue:
            key = await producer.create(queue.pop())
            saved_at[key] = time.monotonic()

    try:
        start = time.monotonic()
        await asyncio.gather(*(creator() for _ in range(creators)))
        created = time.monotonic()
        await stub.wait(timeout=max(60.0, tasks / 20))
        end = time.monotonic()
    finally:
        await pool.stop()
    stats = await stub.stats()
    taken: dict[str, float] = stats["taken"]
    acked = [k for k in saved_at if k in taken]
    return {
        "tasks": tasks, "seconds": round(end - start, 3),
        "tasks_per_s": round(tasks / (end - start), 1),
        "created_per_s": round(tasks / (created - start), 1),
        "latency_ms": _percentiles([(taken[k] - saved_at[k]) * 1000 for k in acked]),
        "lost": tasks - len(acked), "duplicates": stats["duplicates"],
        "bad_signatures": stats["bad_signatures"],
    }


async def run_drain(store: Store, url: str, stub: StubControl, *, tasks: int, workers: int,
                    mode: str, offset: int) -> dict[str, Any]:
    """Delivery alone: a backlog of ``tasks`` rows (as after an outage), then the workers."""
    _, calls = await seed(store, tasks, offset, datetime.now(UTC))
    service = BusinessService(store, NullHub(), tz=TZ, external=True)
    producer = Producer("outbox", store, service)
    for linked_id in calls:
        await producer.create(linked_id)
    await analyze(store)
    await stub.reset(tasks)
    pool = Workers(url, stub.tasks_url, workers, mode)
    await pool.prepare()
    start = time.monotonic()
    await pool.go()
    await stub.wait(timeout=max(60.0, tasks / 20))
    end = time.monotonic()
    await pool.stop()
    stats = await stub.stats()
    return {"tasks": tasks, "seconds": round(end - start, 3),
            "tasks_per_s": round(len(stats["taken"]) / (end - start), 1),
            "lost": tasks - len(stats["taken"]), "duplicates": stats["duplicates"]}


async def scenario(name: str, url: str, stub: StubControl, *, tasks: int, workers: int,
                   creators: int, mode: str) -> dict[str, Any]:
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_engine(url)
    store = Store(session_factory(engine))
    try:
        result: dict[str, Any] = {"scenario": name, "workers": workers, "worker_mode": mode,
                                  "creators": creators}
        result["wrapup_e2e"] = await run_pipeline("wrapup", store, url, stub, tasks=tasks,
                                                  workers=workers, creators=creators,
                                                  mode=mode, offset=0)
        result["outbox_e2e"] = await run_pipeline("outbox", store, url, stub, tasks=tasks,
                                                  workers=workers, creators=creators,
                                                  mode=mode, offset=1)
        result["drain"] = await run_drain(store, url, stub, tasks=tasks, workers=workers,
                                          mode=mode, offset=2)
        return result
    finally:
        await engine.dispose()


async def _round_trip_us() -> float | str:
    """One trivial PostgreSQL round trip (what this machine charges per statement)."""
    try:
        import asyncpg

        conn = await asyncio.wait_for(asyncpg.connect(_plain(postgres_admin_url())), 5)
    except Exception as exc:  # reported, not fatal
        return f"{type(exc).__name__}: {exc}"
    try:
        start = time.perf_counter()
        for _ in range(500):
            await conn.fetchval("SELECT 1")
        return round((time.perf_counter() - start) / 500 * 1e6, 1)
    finally:
        await conn.close()


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--sqlite-tasks", type=int, default=1000)
    parser.add_argument("--creators", type=int, default=8)
    parser.add_argument("--worker-mode", choices=("tasks", "processes"), default="processes")
    parser.add_argument("--workers", default="1,4",
                        help="PostgreSQL worker counts to run, comma-separated")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite scenario")
    args = parser.parse_args(argv)
    stub = StubControl()
    await stub.start()
    report: dict[str, Any] = {
        "benchmark": "outbox", "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "what": "wrap-up saved -> outbox -> worker -> HTTP stub acknowledged",
        "scenarios": [],
    }
    try:
        if not args.no_sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
                report["scenarios"].append(await scenario(
                    "sqlite", url, stub, tasks=args.sqlite_tasks, workers=1,
                    creators=args.creators, mode="tasks"))
        report["postgres_select1_us"] = await _round_trip_us()
        for workers in (int(w) for w in args.workers.split(",")):
            try:
                url, name = await create_postgres()
            except Exception as exc:  # the reason goes into the report
                report["scenarios"].append({"scenario": "postgresql", "workers": workers,
                                            "skipped": f"{type(exc).__name__}: {exc}"})
                continue
            try:
                report["scenarios"].append(await scenario(
                    "postgresql", url.replace("postgresql://", "postgresql+asyncpg://"), stub,
                    tasks=args.tasks, workers=workers, creators=args.creators,
                    mode=args.worker_mode))
            finally:
                await drop_postgres(name)
    finally:
        await stub.stop()
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    runs = [r for s in report["scenarios"] for k, r in s.items()
            if k in ("wrapup_e2e", "outbox_e2e", "drain")]
    report["zero_loss"] = all(r["lost"] == 0 for r in runs)
    report["zero_duplicates"] = all(r["duplicates"] == 0 for r in runs)
    return report


if __name__ == "__main__":
    # uvloop everywhere, as `callcenter serve` runs (callcenter/event_loop.py)
    print(json.dumps(runner("uvloop")(main()), ensure_ascii=False, indent=2))
