"""The AMI server over real loopback sockets, with a raw client that reads bytes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from simulator.ami_server import AmiServer
from simulator.ami_session import SessionHub
from simulator.config import AmiAccount, PbxConfig, QueueConfig
from simulator.engine import AsyncioScheduler, Engine
from simulator.pbx import CallArrives, IvrDone, VariableSet
from simulator.virtual import ManualIvr

ACCOUNTS = {"callcenter": AmiAccount("callcenter", "s3cret"),
            "wallboard": AmiAccount("wallboard", "w", read="agent")}


class NoPhones:
    def ring(self, effect: object, feed: object) -> None: ...

    def stop_ringing(self, effect: object) -> None: ...

    def connected(self, effect: object, feed: object) -> None: ...

    def released(self, effect: object) -> None: ...


@dataclass
class Pbx:
    server: AmiServer
    engine: Engine
    host: str
    port: int


@pytest.fixture
async def pbx() -> AsyncIterator[Pbx]:
    scheduler = AsyncioScheduler()
    hub = SessionHub(ACCOUNTS, scheduler.now() - 2)
    engine = Engine(PbxConfig(queues=(QueueConfig("presales"), QueueConfig("aftersales"))),
                    scheduler, ami=hub, ivr=ManualIvr(), phones=NoPhones())  # type: ignore[arg-type]
    server = AmiServer(hub, engine)
    host, port = await server.start("127.0.0.1", 0)
    yield Pbx(server, engine, host, port)
    engine.cancel_all_timers()
    await server.stop()


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, *lines: str) -> None:
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def message(self) -> bytes:
        async with asyncio.timeout(5):
            return await self.reader.readuntil(b"\r\n\r\n")

    async def until(self, marker: bytes) -> list[bytes]:
        seen = []
        while True:
            seen.append(await self.message())
            if marker in seen[-1]:
                return seen

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def connect(pbx: Pbx) -> RawClient:
    reader, writer = await asyncio.open_connection(pbx.host, pbx.port)
    async with asyncio.timeout(5):
        assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
    return RawClient(reader, writer)


async def logged_in(pbx: Pbx, user: str = "callcenter", secret: str = "s3cret",
                    events: str = "on") -> RawClient:
    client = await connect(pbx)
    await client.send("Action: Login", "ActionID: l1", f"Username: {user}",
                      f"Secret: {secret}", f"Events: {events}")
    assert await client.message() == (b"Response: Success\r\nActionID: l1\r\n"
                                      b"Message: Authentication accepted\r\n\r\n")
    return client


async def test_login_is_followed_by_fullybooted(pbx: Pbx) -> None:
    client = await logged_in(pbx)
    assert await client.message() == (b"Event: FullyBooted\r\nPrivilege: system,all\r\n"
                                      b"Uptime: 2\r\nLastReload: 2\r\nStatus: Fully Booted\r\n\r\n")
    await client.close()


async def test_a_wrong_secret_is_refused_and_the_connection_closed(pbx: Pbx) -> None:
    client = await connect(pbx)
    await client.send("Action: Login", "ActionID: l1", "Username: callcenter", "Secret: nope")
    assert await client.message() == (b"Response: Error\r\nActionID: l1\r\n"
                                      b"Message: Authentication failed\r\n\r\n")
    async with asyncio.timeout(5):
        assert await client.reader.read() == b""
    await client.close()


async def test_actions_before_login_are_refused(pbx: Pbx) -> None:
    client = await connect(pbx)
    await client.send("Action: QueueStatus", "ActionID: q1")
    assert await client.message() == (b"Response: Error\r\nActionID: q1\r\n"
                                      b"Message: Permission denied\r\n\r\n")
    await client.close()


async def test_ping_answers_pong_with_a_timestamp(pbx: Pbx) -> None:
    client = await logged_in(pbx)
    await client.message()  # FullyBooted
    await client.send("Action: Ping", "ActionID: p1")
    reply = await client.message()
    assert re.fullmatch(rb"Response: Success\r\nActionID: p1\r\nPing: Pong\r\n"
                        rb"Timestamp: \d+\.\d{6}\r\n\r\n", reply)
    await client.close()


async def test_logoff_says_goodbye_and_closes(pbx: Pbx) -> None:
    client = await logged_in(pbx)
    await client.message()
    await client.send("Action: Logoff", "ActionID: o1")
    assert await client.message() == (b"Response: Goodbye\r\nActionID: o1\r\n"
                                      b"Message: Thanks for all the fish.\r\n\r\n")
    async with asyncio.timeout(5):
        assert await client.reader.read() == b""
    await client.close()


async def test_queue_actions_reply_then_send_their_events(pbx: Pbx) -> None:
    client = await logged_in(pbx)
    await client.message()
    await client.send("Action: QueueAdd", "ActionID: a1", "Queue: aftersales",
                      "Interface: PJSIP/8001", "Penalty: 0", "MemberName: Agent 8001")
    assert await client.message() == (b"Response: Success\r\nActionID: a1\r\n"
                                      b"Message: Added interface to queue\r\n\r\n")
    added = await client.message()
    assert added.startswith(b"Event: QueueMemberAdded\r\nPrivilege: agent,all\r\n"
                            b"Queue: aftersales\r\nMemberName: Agent 8001\r\n"
                            b"Interface: PJSIP/8001\r\nStateInterface: PJSIP/8001\r\n"
                            b"Membership: dynamic\r\n")
    await client.send("Action: QueueAdd", "ActionID: a2", "Queue: aftersales",
                      "Interface: PJSIP/8001")
    assert b"Message: Unable to add interface: Already there" in await client.message()
    await client.send("Action: QueuePause", "ActionID: a3", "Interface: PJSIP/8001",
                      "Paused: true", "Reason: lunch")
    assert b"Message: Interface paused successfully" in await client.message()
    assert b"PausedReason: lunch" in await client.message()
    await client.send("Action: QueueRemove", "ActionID: a4", "Queue: aftersales",
                      "Interface: PJSIP/8001")
    assert b"Message: Removed interface from queue" in await client.message()
    assert (await client.message()).startswith(b"Event: QueueMemberRemoved\r\n")
    await client.close()


async def test_list_actions_answer_start_items_complete(pbx: Pbx) -> None:
    client = await logged_in(pbx)
    await client.message()
    await client.send("Action: QueueSummary", "ActionID: s1")
    messages = await client.until(b"QueueSummaryComplete")
    assert messages[0] == (b"Response: Success\r\nActionID: s1\r\nEventList: start\r\n"
                           b"Message: Queue summary will follow\r\n\r\n")
    assert [m.split(b"\r\n")[1] for m in messages[1:3]] == [b"Queue: presales",
                                                             b"Queue: aftersales"]
    assert messages[-1] == (b"Event: QueueSummaryComplete\r\nActionID: s1\r\n"
                            b"EventList: Complete\r\nListItems: 2\r\n\r\n")
    await client.send("Action: CoreShowChannels", "ActionID: c1")
    assert (await client.until(b"CoreShowChannelsComplete"))[-1] == (
        b"Event: CoreShowChannelsComplete\r\nActionID: c1\r\nEventList: Complete\r\n"
        b"ListItems: 0\r\n\r\n")
    await client.close()


async def test_events_go_only_to_sessions_that_read_their_class(pbx: Pbx) -> None:
    cti = await logged_in(pbx)
    await cti.message()
    wallboard = await logged_in(pbx, "wallboard", "w")  # read = agent: no FullyBooted
    quiet = await logged_in(pbx, events="off")
    pbx.engine.feed(CallArrives("c1", "13800138000", "Merchant"))
    pbx.engine.feed(VariableSet("c1", "CC_QUEUE", "aftersales"))
    pbx.engine.feed(IvrDone("c1"))
    cti_names = [m.split(b"\r\n")[0] for m in await cti.until(b"Event: MusicOnHoldStart")]
    assert cti_names == [b"Event: Newchannel", b"Event: Newstate", b"Event: UserEvent",
                         b"Event: QueueCallerJoin", b"Event: MusicOnHoldStart"]
    # wallboard reads only 'agent': its first message is the QueueCallerJoin.
    assert (await wallboard.message()).startswith(b"Event: QueueCallerJoin\r\n")
    await quiet.send("Action: Ping", "ActionID: p")
    assert (await quiet.message()).startswith(b"Response: Success\r\nActionID: p\r\nPing: Pong")
    for client in (cti, wallboard, quiet):
        await client.close()


async def test_a_client_that_does_not_read_is_dropped_not_buffered(pbx: Pbx) -> None:
    import socket

    pbx.server.max_backlog = 10_000
    slow = await logged_in(pbx)
    # Small kernel buffers on both sides, so that unread bytes pile up in the transport.
    slow.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    for connection in pbx.server.connections:
        assert connection.transport is not None
        connection.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    fast = await logged_in(pbx)
    await fast.message()
    calls = 1000

    async def read_all() -> int:
        seen = 0
        while seen < 2 * calls:  # Newchannel + Newstate per call
            if (await fast.message()).startswith(b"Event: New"):
                seen += 1
        return seen

    reader = asyncio.create_task(read_all())
    for i in range(calls):
        pbx.engine.feed(CallArrives(f"c{i}", "13800138000", "Merchant"))
        if i % 20 == 0:
            await asyncio.sleep(0.001)
    assert await reader == 2 * calls
    assert len(pbx.server.connections) == 1  # the slow one is gone, the reader is not
    slow.writer.close()
    await fast.close()
