"""``install(runtime, options)``: what the business package adds to a running product, and the
service it returns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from callcenter.business.service import BusinessService
from callcenter.business.wiring import OutboxComponent, install
from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.runtime import RunOptions, Runtime
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from tests.web_sessions import session_headers


async def _runtime(url: str, env: dict[str, str]) -> Runtime:
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "x", **env})
    engine = create_engine(url)
    return Runtime(settings=settings, engine=engine, store=Store(session_factory(engine)))


async def test_built_in_store_mode_adds_pages_and_health_but_no_worker(sqlite_url: str) -> None:
    runtime = await _runtime(sqlite_url, {})
    try:
        service = await install(runtime, RunOptions())
        assert isinstance(service, BusinessService) and not service.external
        assert [m.name for m in runtime.modules] == ["business"]
        assert [c.name for c in runtime.components] == ["complaint-clocks"]  # no worker
        app = build_web_app(runtime.settings, runtime.store, modules=runtime.modules,
                            health=runtime.health, hub=runtime.hub)
        admin = await runtime.store.users.add("admin", "admin", Role.ADMIN, "!",
                                              datetime.now(UTC))
        headers = await session_headers(runtime.store, admin.id, datetime.now(UTC))
        async with TestClient(TestServer(app)) as client:
            anonymous: dict[str, Any] = await (await client.get("/healthz")).json()
            report: dict[str, Any] = await (await client.get("/healthz", headers=headers)).json()
        assert anonymous == {"status": "ok"}  # nothing about the installation
        assert report["status"] == "ok"
        assert report["business"] == {"ok": True, "mode": "local", "pending": 0,
                                      "in_flight": 0, "dead": 0, "oldest_pending_s": None}
    finally:
        await runtime.engine.dispose()


async def test_business_system_mode_adds_the_outbox_worker(sqlite_url: str) -> None:
    runtime = await _runtime(sqlite_url, {
        "CALLCENTER_BUSINESS_URL": "http://127.0.0.1:9/api",
        "CALLCENTER_BUSINESS_SECRET": "s3cret"})
    try:
        service = await install(runtime, RunOptions())
        assert service.external
        component, timer = runtime.components
        assert timer.name == "complaint-clocks"
        assert isinstance(component, OutboxComponent) and component.name == "business-outbox"
        await runtime.start()
        assert (await runtime.health["business"]())["mode"] == "external"
    finally:
        await runtime.stop()  # stops the worker, closes its client, disposes the engine


async def test_a_web_only_process_can_leave_the_worker_out(sqlite_url: str) -> None:
    runtime = await _runtime(sqlite_url, {
        "CALLCENTER_BUSINESS_URL": "http://127.0.0.1:9/api"})
    try:
        await install(runtime, RunOptions(outbox_worker=False))
        assert [c.name for c in runtime.components] == ["complaint-clocks"]  # no worker
        assert [m.name for m in runtime.modules] == ["business"]
    finally:
        await runtime.engine.dispose()
