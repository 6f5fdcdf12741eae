"""The business client over its default wire (AiohttpTransport) against a real local HTTP
server: what arrives, what comes back, and how failures are classified."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from callcenter.business.business_client import BusinessClient
from callcenter.business.business_protocol import SIGNATURE_HEADER, encode_body, verify
from callcenter.business.errors import DeliveryRejected, DeliveryTemporary
from callcenter.business.records import OutboxEntry, OutboxState
from callcenter.settings import BusinessSettings

SECRET = "s3cret"
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
PAYLOAD = {"task_number": "RP20261122-0001", "merchant": {"name": "鑫源便利店"}}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def entry() -> OutboxEntry:
    return OutboxEntry(
        id=1, task_id=1, task_version=1, idempotency_key="RP20261122-0001.v1",
        payload=PAYLOAD, state=OutboxState.IN_FLIGHT, attempts=0, created_at=NOW,
        next_attempt_at=NOW, give_up_at=NOW + timedelta(days=3), delivered_at=None,
        dead_at=None, last_error="", lease_owner="w")


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/tasks", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}/api"

    yield start
    for runner in runners:
        await runner.cleanup()


async def deliver(url: str, timeout: float = 2.0) -> object:  # noqa: ASYNC109 - the HTTP setting
    client = BusinessClient(BusinessSettings(url=url, secret=SECRET, timeout=timeout))
    try:
        return await client.deliver(entry())
    finally:
        await client.aclose()


async def test_signed_body_and_key_arrive_intact_and_the_ack_is_read(serve) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, bytes, dict[str, str]]] = []

    async def tasks(request: web.Request) -> web.Response:
        seen.append((request.method, await request.read(), dict(request.headers)))
        return web.json_response({"external_id": "BMS-1"}, status=201)

    ack = await deliver(await serve(tasks))
    [(method, body, headers)] = seen
    assert method == "POST"
    assert body == encode_body(PAYLOAD)
    assert verify(SECRET, body, headers[SIGNATURE_HEADER])
    assert headers["Idempotency-Key"] == "RP20261122-0001.v1"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Content-Length"] == str(len(body))
    assert (ack.external_id, ack.duplicate) == ("BMS-1", False)  # type: ignore[attr-defined]


async def test_409_is_an_acknowledgement_of_an_earlier_delivery(serve) -> None:  # type: ignore[no-untyped-def]
    async def tasks(request: web.Request) -> web.Response:
        return web.json_response({"error": "duplicate"}, status=409)

    ack = await deliver(await serve(tasks))
    assert ack.duplicate  # type: ignore[attr-defined]


async def test_server_error_is_temporary_with_its_status(serve) -> None:  # type: ignore[no-untyped-def]
    async def tasks(request: web.Request) -> web.Response:
        return web.Response(status=503, text="maintenance")

    with pytest.raises(DeliveryTemporary, match="HTTP 503: maintenance") as caught:
        await deliver(await serve(tasks))
    assert caught.value.http_status == 503


async def test_redirect_is_not_followed_and_rejected(serve) -> None:  # type: ignore[no-untyped-def]
    async def tasks(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://elsewhere.test/")

    with pytest.raises(DeliveryRejected, match="HTTP 302"):
        await deliver(await serve(tasks))


async def test_refused_connection_is_temporary() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeliveryTemporary, match="no connection"):
        await deliver(f"http://127.0.0.1:{port}/api")


async def test_a_server_slower_than_the_timeout_is_temporary(serve) -> None:  # type: ignore[no-untyped-def]
    async def tasks(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({}, status=201)

    with pytest.raises(DeliveryTemporary, match="timeout"):
        await deliver(await serve(tasks), timeout=0.2)


async def test_keep_alive_reuses_one_connection_for_many_posts(serve) -> None:  # type: ignore[no-untyped-def]
    peers: set[object] = set()

    async def tasks(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response({}, status=201)

    url = await serve(tasks)
    client = BusinessClient(BusinessSettings(url=url, secret=SECRET, timeout=2.0),
                            max_connections=1)
    try:
        for _ in range(5):
            await client.deliver(entry())
    finally:
        await client.aclose()
    assert len(peers) == 1
