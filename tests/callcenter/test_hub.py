"""WebSocket fan-out: a browser that stops reading is dropped; the others keep receiving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.web.hub import Hub


@pytest.fixture
async def hub_client() -> AsyncIterator[tuple[Hub, TestClient[Any, Any]]]:
    hub = Hub(queue_size=8)

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await hub.serve(ws, [request.query["topic"]], label=request.query["topic"],
                        hello={"type": "hello"})
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    async with TestClient(TestServer(app)) as client:
        yield hub, client


async def test_publish_reaches_every_subscriber_of_the_topic(
        hub_client: tuple[Hub, TestClient[Any, Any]]) -> None:
    hub, client = hub_client
    a = await client.ws_connect("/ws?topic=board")
    b = await client.ws_connect("/ws?topic=board")
    other = await client.ws_connect("/ws?topic=agent:8001")
    for ws in (a, b, other):
        assert (await ws.receive_json())["type"] == "hello"
    while hub.subscriber_count("board") < 2:
        await asyncio.sleep(0.01)
    assert hub.publish("board", {"type": "task", "id": 1}) == 2
    assert (await a.receive_json()) == {"type": "task", "id": 1}
    assert (await b.receive_json()) == {"type": "task", "id": 1}
    assert hub.publish("nobody", {"x": 1}) == 0
    for ws in (a, b, other):
        await ws.close()


async def test_a_subscriber_that_falls_behind_is_disconnected_not_waited_for(
        hub_client: tuple[Hub, TestClient[Any, Any]]) -> None:
    hub, client = hub_client
    slow = await client.ws_connect("/ws?topic=board")
    await slow.receive_json()
    while hub.subscriber_count("board") < 1:
        await asyncio.sleep(0.01)
    sub = next(iter(hub._topics["board"]))
    # Simulate a reader that never drains: fill its queue directly, then publish once more.
    while not sub.queue.full():
        sub.queue.put_nowait("{}")
    assert hub.publish("board", {"n": 1}) == 0
    assert hub.dropped == 1
    assert hub.subscriber_count("board") == 0
    msg = await slow.receive()
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
