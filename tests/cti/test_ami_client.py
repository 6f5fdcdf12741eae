"""The AMI client against a scripted fake Asterisk on loopback (tests/fakes/ami_server.py),
and against the real Asterisk 22 restart captures replayed byte-exact."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from cti.ami_client import AmiClient, Backoff, ConnectionState
from cti.ami_protocol import ActionResult, AmiMessage
from cti.dispatcher import Dispatcher
from cti.errors import (
    AmiActionError,
    AmiDisconnected,
    AmiEncodeError,
    AmiLoginError,
    AmiTimeout,
)
from cti.ports import ResyncSnapshot
from tests.conftest import ASTERISK_FIXTURES
from tests.fakes.ami_server import FakeAmiServer, FakeSession, Replay, event, wire

FAST_RETRY = Backoff(initial=0.01, factor=2.0, maximum=0.05)


@dataclass
class Harness:
    """A client wired to lists the tests look at."""

    fake: FakeAmiServer
    client: AmiClient
    messages: list[tuple[AmiMessage, float]] = field(default_factory=list)
    resyncs: int = 0
    states: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [m.name for m, _ in self.messages]

    async def wait(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        await self.fake.wait_until(predicate, within)


def make_client(fake: FakeAmiServer, harness_box: list[Harness], *,
                on_message: Callable[[AmiMessage, float], object] | None = None,
                on_connected: Callable[[], Awaitable[None]] | None = None,
                port: int | None = None, **kwargs: Any) -> Harness:
    def record(message: AmiMessage, received_at: float) -> None:
        harness.messages.append((message, received_at))
        if on_message is not None:
            on_message(message, received_at)

    async def connected() -> None:
        harness.resyncs += 1
        if on_connected is not None:
            await on_connected()

    kwargs.setdefault("backoff", FAST_RETRY)
    kwargs.setdefault("ping_interval", 0)  # the watchdog has its own test
    client = AmiClient("127.0.0.1", fake.port if port is None else port, "callcenter",
                       "changeme", on_message=record, on_connected=connected,
                       on_state=lambda s: harness.states.append(s), **kwargs)
    harness = Harness(fake, client)
    harness_box.append(harness)
    return harness


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmiServer]:
    async with FakeAmiServer() as server:
        yield server


@pytest.fixture
async def clients() -> AsyncIterator[list[Harness]]:
    """Every client made in a test is stopped at its end, whatever happened."""
    box: list[Harness] = []
    yield box
    for harness in box:
        await harness.client.stop()


async def started(fake: FakeAmiServer, box: list[Harness], **kwargs: Any) -> Harness:
    harness = make_client(fake, box, **kwargs)
    await harness.client.start()
    await harness.wait(lambda: harness.resyncs >= 1)
    return harness


# --------------------------------------------------------------------------- login


async def test_login_sends_least_privilege_event_classes_and_resyncs_once(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = await started(fake, clients)

    assert bytes(fake.sessions[0].raw) == (
        b"Action: Login\r\nActionID: c1:cc-1\r\nUsername: callcenter\r\nSecret: changeme\r\n"
        b"Events: call,agent,system,user\r\n\r\n"
    )
    assert h.client.state is ConnectionState.CONNECTED
    assert h.states == ["connecting", "connected"]
    health = h.client.health()
    assert health["ok"] is True
    assert health["state"] == "connected"
    assert health["host"] == f"127.0.0.1:{fake.port}"
    assert health["reconnects"] == 0
    # the login-time FullyBooted is delivered as an event and does not cause a second resync
    await h.wait(lambda: h.names() == ["FullyBooted"])
    await asyncio.sleep(0.05)
    assert h.resyncs == 1
    assert "changeme" not in repr(h.client)


async def test_wrong_secret_raises_login_error_and_is_not_retried(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    fake.secret = "something-else"
    h = make_client(fake, clients, backoff=Backoff(initial=0.001, maximum=0.001))

    with pytest.raises(AmiLoginError, match="Authentication failed"):
        await h.client.start()

    await asyncio.sleep(0.3)  # a retry loop would have made dozens of connections by now
    assert len(fake.sessions) == 1
    assert h.client.state is ConnectionState.AUTH_FAILED
    health = h.client.health()
    assert health["ok"] is False
    assert health["state"] == "auth_failed"
    assert "Authentication failed" in health["last_error"]
    assert h.resyncs == 0


async def test_unreachable_asterisk_is_retried_in_the_background_until_it_answers(
    clients: list[Harness],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on (yet)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = FakeAmiServer()
    h = make_client(fake, clients, port=port)

    await h.client.start()  # returns: a network failure is not the caller's problem
    assert h.client.state in (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING)
    assert "ConnectionRefusedError" in (h.client.health()["last_error"] or "")

    await fake.start(port)
    try:
        await h.wait(lambda: h.client.state is ConnectionState.CONNECTED)
        await h.wait(lambda: h.resyncs == 1)
        await h.client.stop()
    finally:
        await fake.close()


# --------------------------------------------------------------------------- reconnect


async def test_server_closing_the_connection_reconnects_within_the_first_backoff_step(
    fake: FakeAmiServer, clients: list[Harness], caplog: pytest.LogCaptureFixture
) -> None:
    # The default backoff: the first retry is at most 0.2 s (rand() < 1).
    h = await started(fake, clients, backoff=Backoff(), rand=lambda: 0.999)
    caplog.set_level(logging.WARNING, logger="cti.ami_client")

    fake.sessions[0].close()

    await fake.wait_connections(2)
    await h.wait(lambda: h.resyncs == 2)  # on_connected again: the service resyncs
    assert "reconnecting in 0.20 s" in caplog.text
    assert h.client.health()["reconnects"] == 1
    assert h.states == ["connecting", "connected", "disconnected", "connecting", "connected"]
    assert [a.get("Action") for a in fake.sessions[1].received] == ["Login"]
    assert fake.sessions[1].received[0].get("ActionID") == "c2:cc-2"


def test_backoff_is_exponential_capped_and_fully_jittered() -> None:
    backoff = Backoff()
    assert backoff.delay(0, 0.999) < 0.2
    assert backoff.delay(0, 0.0) == 0.0
    assert backoff.delay(3, 0.5) == pytest.approx(0.8)
    assert backoff.delay(50, 0.999) < 30.0
    assert backoff.delay(10_000, 0.5) == pytest.approx(15.0)
    assert Backoff(jitter=False).delay(2, 0.1) == pytest.approx(0.8)


async def test_fully_booted_later_on_the_same_connection_triggers_a_resync(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = await started(fake, clients)

    fake.current.send_event("FullyBooted", ("Privilege", "system,all"),
                            ("Status", "Fully Booted"), ("Uptime", "0"), ("LastReload", "0"))

    await h.wait(lambda: h.resyncs == 2)
    assert h.names() == ["FullyBooted", "FullyBooted"]


async def test_login_without_system_class_resyncs_after_waiting_for_fully_booted(
    clients: list[Harness],
) -> None:
    async with FakeAmiServer(fully_booted=False) as fake:
        h = await started(fake, clients, fully_booted_wait=0.05)
        assert h.resyncs == 1
        assert h.messages == []


async def test_stop_cancels_a_scheduled_reconnect(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = await started(fake, clients, backoff=Backoff(initial=0.3, jitter=False))
    fake.sessions[0].close()
    await h.wait(lambda: h.client.state is ConnectionState.DISCONNECTED)

    await h.client.stop()

    await asyncio.sleep(0.6)  # twice the scheduled delay
    assert len(fake.sessions) == 1
    assert h.client.state is ConnectionState.STOPPED
    assert h.states[-1] == "stopped"


async def test_stop_logs_off_and_fails_nothing_it_did_not_owe(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = await started(fake, clients)

    await h.client.stop()

    assert [a.get("Action") for a in fake.sessions[0].received] == ["Login", "Logoff"]
    assert h.client.state is ConnectionState.STOPPED
    with pytest.raises(AmiDisconnected):
        await h.client.send("Ping")
    await h.client.stop()  # idempotent


# --------------------------------------------------------------------------- actions


async def test_action_reply_resolves_send_with_the_response(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = await started(fake, clients)

    result = await h.client.send("Ping")

    assert result.ok
    assert result.action == "Ping"
    assert result.response.get("Ping") == "Pong"
    assert h.names() == ["FullyBooted"]  # a reply is not an event


async def test_error_response_raises_action_error_unless_check_is_off(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    fake.handlers["QueueAdd"] = lambda s, a: s.reply(
        a, "Error", ("Message", "Unable to add interface: Already there"))
    h = await started(fake, clients)

    with pytest.raises(AmiActionError) as info:
        await h.client.send("QueueAdd", {"Queue": "aftersales",
                                         "Interface": "Local/8001@agents/n"})
    assert info.value.message == "Unable to add interface: Already there"

    result = await h.client.send("QueueAdd", {"Queue": "aftersales"}, check=False)
    assert not result.ok
    assert result.message == "Unable to add interface: Already there"


async def test_action_timeout_raises_and_the_connection_keeps_working(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    fake.silent.add("QueueStatus")
    h = await started(fake, clients)

    with pytest.raises(AmiTimeout):
        await h.client.send("QueueStatus", timeout=0.1)

    # The late reply is ignored (not an event, not a crash) and the next action works.
    late = fake.current.actions("QueueStatus")[0]
    fake.current.reply(late, "Success", ("EventList", "start"))
    fake.current.send(event("QueueStatusComplete", ("ActionID", late.get("ActionID") or ""),
                            ("EventList", "Complete"), ("ListItems", "0")))
    assert (await h.client.send("Ping")).ok
    assert h.client.state is ConnectionState.CONNECTED
    assert len(fake.sessions) == 1
    assert h.names() == ["FullyBooted", "QueueStatusComplete"]


async def test_pending_action_fails_on_disconnect_and_is_never_resent(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    fake.silent.add("QueuePause")
    h = await started(fake, clients)
    pending = asyncio.create_task(h.client.send(
        "QueuePause", {"Interface": "Local/8001@agents/n", "Paused": "true"}))
    await fake.wait_action("QueuePause")

    fake.sessions[0].close()

    with pytest.raises(AmiDisconnected):
        await pending
    await fake.wait_connections(2)
    await h.wait(lambda: h.resyncs == 2)
    await asyncio.sleep(0.05)
    assert len(fake.actions("QueuePause")) == 1
    assert [a.get("Action") for a in fake.sessions[1].received] == ["Login"]


async def test_send_while_disconnected_raises_at_once(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = make_client(fake, clients)
    with pytest.raises(AmiDisconnected, match="not connected"):
        await h.client.send("Ping")


async def test_header_injection_is_refused_before_anything_is_sent(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = await started(fake, clients)

    with pytest.raises(AmiEncodeError):
        await h.client.send("QueuePause", {"Reason": "lunch\r\nAction: Originate"})

    assert (await h.client.send("Ping")).ok
    assert [a.get("Action") for a in fake.current.received] == ["Login", "Ping"]


async def test_list_actions_collect_their_items_for_the_resync(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    def queue_status(session: FakeSession, action: AmiMessage) -> None:
        action_id = ("ActionID", action.get("ActionID") or "")
        session.reply(action, "Success", ("EventList", "start"),
                      ("Message", "Queue status will follow"))
        session.send(event("QueueMember", ("Queue", "aftersales"), ("Name", "Agent 8001"),
                           ("Location", "Local/8001@agents/n"),
                           ("StateInterface", "Local/8001@agents/n"),
                           ("Membership", "dynamic"), ("Penalty", "0"), ("CallsTaken", "0"),
                           ("LastCall", "0"), ("LastPause", "0"), ("LoginTime", "0"),
                           ("InCall", "0"), ("Status", "1"), ("Paused", "1"),
                           ("PausedReason", "meeting"), ("Wrapuptime", "0"), action_id))
        session.send(event("QueueStatusComplete", action_id, ("EventList", "Complete"),
                           ("ListItems", "1")))

    fake.handlers["QueueStatus"] = queue_status
    h = await started(fake, clients)

    snapshot = await h.client.resync_snapshot()
    channels, queue_status_result = snapshot.channels, snapshot.queue_status
    queue_summary = snapshot.queue_summary

    assert [a.get("Action") for a in fake.current.received] == [
        "Login", "Status", "QueueStatus", "QueueSummary"]
    assert snapshot.failures == ()
    assert snapshot.lost_at is None  # the first connection lost nothing
    assert queue_status_result is not None and queue_summary is not None
    assert channels is not None
    assert [i.name for i in queue_status_result.items] == ["QueueMember"]
    assert channels.items == ()
    assert channels.complete is not None
    assert channels.complete.name == "StatusComplete"
    assert queue_summary.action == "QueueSummary"
    dispatcher = Dispatcher()
    dispatcher.resync(1.0, channels=channels, queue_status=queue_status_result,
                      queue_summary=queue_summary)
    agent = dispatcher.state.agents.agents["Local/8001@agents/n"]
    assert agent.paused
    assert agent.pause_reason == "meeting"
    assert h.names() == ["FullyBooted"]  # list items went to the result, not on_message


# --------------------------------------------------------------------------- originate


async def test_originate_sends_explicit_async_and_awaits_the_originate_response(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = await started(fake, clients)

    result = await h.client.originate(
        "Local/8001@agents", context="outbound", exten="13800138000", caller_id="<8001>",
        timeout_ms=20000, variables={"CC_AGENT": "8001", "CC_DIAL_KEY": "k1"},
        idempotency_key="k1")

    sent = fake.actions("Originate")[0]
    assert sent.headers == (
        ("Action", "Originate"), ("ActionID", result.action_id),
        ("Channel", "Local/8001@agents"), ("Context", "outbound"), ("Exten", "13800138000"),
        ("Priority", "1"), ("CallerID", "<8001>"), ("Timeout", "20000"),
        ("Variable", "CC_AGENT=8001"), ("Variable", "CC_DIAL_KEY=k1"), ("Async", "true"))
    assert result.message == "Originate successfully queued"
    assert result.final is not None
    assert result.final.name == "OriginateResponse"
    assert "OriginateResponse" not in h.names()


async def test_send_originate_without_async_gets_an_explicit_async_header(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    h = await started(fake, clients)

    await h.client.send("Originate", {"Channel": "Local/8001@agents", "Application": "Wait",
                                      "Data": "1"})
    await h.client.send("Originate", {"Channel": "Local/8002@agents", "Application": "Wait"},
                        final_event="OriginateResponse")

    assert [a.get("Async") for a in fake.actions("Originate")] == ["false", "true"]


async def test_originate_same_key_twice_dials_once(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    gate = asyncio.Event()

    async def slow_originate(session: FakeSession, action: AmiMessage) -> None:
        await gate.wait()
        session.reply(action, "Success", ("Message", "Originate successfully queued"))
        session.send(event("OriginateResponse", ("ActionID", action.get("ActionID") or ""),
                           ("Response", "Success"), ("Reason", "4")))

    fake.handlers["Originate"] = slow_originate
    h = await started(fake, clients)

    def dial() -> Coroutine[Any, Any, ActionResult]:
        return h.client.originate("Local/8001@agents", context="outbound", exten="100",
                                  idempotency_key="click-1")

    first, second = asyncio.create_task(dial()), asyncio.create_task(dial())  # double click
    await fake.wait_action("Originate")
    gate.set()
    results = await asyncio.gather(first, second)
    again = await dial()  # a retry after it finished

    assert len(fake.actions("Originate")) == 1
    assert results[0] is results[1] is again
    other = await h.client.originate("Local/8001@agents", context="outbound", exten="100",
                                     idempotency_key="click-2")
    assert other.action_id != again.action_id
    assert len(fake.actions("Originate")) == 2


async def test_originate_pending_across_a_reconnect_is_never_sent_again(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    fake.silent.add("Originate")
    h = await started(fake, clients)
    first = asyncio.create_task(h.client.originate(
        "Local/8001@agents", context="outbound", exten="100", idempotency_key="click-9"))
    await fake.wait_action("Originate")

    fake.sessions[0].close()
    with pytest.raises(AmiDisconnected):
        await first
    await h.wait(lambda: h.resyncs == 2)

    with pytest.raises(AmiDisconnected):  # the first attempt's outcome, not a new dial
        await h.client.originate("Local/8001@agents", context="outbound", exten="100",
                                 idempotency_key="click-9")
    assert len(fake.actions("Originate")) == 1


async def test_originate_failure_raises_and_a_key_that_was_never_sent_can_be_retried(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    def no_answer(session: FakeSession, action: AmiMessage) -> None:
        session.reply(action, "Success", ("Message", "Originate successfully queued"))
        session.send(event("OriginateResponse", ("ActionID", action.get("ActionID") or ""),
                           ("Response", "Failure"), ("Reason", "0")))

    fake.handlers["Originate"] = no_answer
    h = make_client(fake, clients)
    with pytest.raises(AmiDisconnected):  # not connected yet: nothing written, key not kept
        await h.client.originate("Local/8001@agents", context="c", exten="1",
                                 idempotency_key="k")
    await h.client.start()
    await h.wait(lambda: h.resyncs == 1)

    with pytest.raises(AmiActionError, match="Failure"):
        await h.client.originate("Local/8001@agents", context="c", exten="1",
                                 idempotency_key="k")
    with pytest.raises(AmiActionError, match="Failure"):
        await h.client.originate("Local/8001@agents", context="c", exten="1",
                                 idempotency_key="k")
    assert len(fake.actions("Originate")) == 1


# --------------------------------------------------------------------------- watchdog


async def test_half_open_connection_is_detected_by_the_ping_watchdog_and_replaced(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    def ping(session: FakeSession, action: AmiMessage) -> None:
        if session.index > 0:  # the first connection went silent
            session.reply(action, "Success", ("Ping", "Pong"))

    fake.handlers["Ping"] = ping
    h = await started(fake, clients, ping_interval=0.05, ping_timeout=0.1)

    await fake.wait_connections(2)
    await h.wait(lambda: h.resyncs == 2)
    assert "Ping" in (h.client.health()["last_error"] or "")
    await fake.wait_until(lambda: len(fake.sessions[1].actions("Ping")) >= 2)
    assert len(fake.sessions) == 2  # the answered pings keep the new connection


# --------------------------------------------------------------------------- events


async def test_raising_on_message_is_logged_with_the_call_ids_and_later_events_go_on(
    fake: FakeAmiServer, clients: list[Harness], caplog: pytest.LogCaptureFixture
) -> None:
    def explode_on_hangup(message: AmiMessage, _received_at: float) -> None:
        if message.name == "Hangup":
            raise RuntimeError("handler bug")

    h = await started(fake, clients, on_message=explode_on_hangup)
    caplog.set_level(logging.ERROR, logger="cti.ami_client")

    fake.current.send(
        event("Hangup", ("Uniqueid", "1795330401.1"), ("Linkedid", "1795330401.0"))
        + event("Hangup", ("Uniqueid", "1795330401.0"), ("Linkedid", "1795330401.0"))
        + event("UserEvent", ("UserEvent", "CcIvrResult")))

    await h.wait(lambda: h.names()[-1:] == ["UserEvent"])
    assert h.names() == ["FullyBooted", "Hangup", "Hangup", "UserEvent"]
    assert "1795330401.0" in caplog.text
    assert "1795330401.1" in caplog.text
    assert h.client.health()["handler_errors"] == 2
    assert h.client.state is ConnectionState.CONNECTED


async def test_malformed_blocks_are_skipped_and_the_stream_goes_on(
    fake: FakeAmiServer, clients: list[Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = await started(fake, clients)
    caplog.set_level(logging.WARNING, logger="cti.ami_client")

    fake.current.send(
        event("Newchannel", ("Linkedid", "1.0"))
        + b"this is not an AMI header\r\nnor this\r\n\r\n"
        + b"\x00\xff garbage\r\n\r\n"
        + event("Hangup", ("Linkedid", "1.0")))

    await h.wait(lambda: h.names()[-1:] == ["Hangup"])
    assert h.names() == ["FullyBooted", "Newchannel", "Hangup"]
    assert h.client.health()["malformed"] == 2
    assert caplog.text.count("malformed") == 1  # rate-limited


async def test_events_carry_the_receive_clock(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    ticks = iter(range(1000, 100000))
    h = await started(fake, clients, clock=lambda: float(next(ticks)))
    before = h.messages[-1][1]

    fake.current.send(event("Newchannel", ("Linkedid", "1.0")))

    await h.wait(lambda: h.names()[-1:] == ["Newchannel"])
    assert h.messages[-1][1] > before


async def test_event_queue_overflow_drops_the_backlog_and_requests_a_resync(
    fake: FakeAmiServer, clients: list[Harness], caplog: pytest.LogCaptureFixture
) -> None:
    h = await started(fake, clients, max_queued_events=5)
    caplog.set_level(logging.ERROR, logger="cti.ami_client")

    fake.current.send(b"".join(event("DeviceStateChange", ("Device", f"Local/{n}"))
                               for n in range(20)))

    await h.wait(lambda: h.resyncs == 2)
    assert h.client.health()["dropped_events"] >= 6
    assert "overflow" in caplog.text
    assert (await h.client.send("Ping")).ok  # replies are never dropped


# --------------------------------------------------------------------------- replay


async def test_replay_of_the_real_restart_and_reconnect_captures(
    clients: list[Harness],
) -> None:
    """Scenario 8: connection 1 ends with Shutdown + EOF after `core restart now`; the client
    reconnects, logs in, waits for FullyBooted and resyncs (connection 2), then logs off."""
    replays = [Replay.load(ASTERISK_FIXTURES / "08-asterisk-restart.ami"),
               Replay.load(ASTERISK_FIXTURES / "08-asterisk-restart.reconnect.ami")]
    dispatcher = Dispatcher()
    first_results: list[ActionResult] = []
    snapshots: list[ResyncSnapshot] = []
    box: list[Harness] = []

    async def on_connected() -> None:
        client = box[0].client
        if client.health()["connection"] == 1:
            # What the captured client sent on connection 1 (.ami-actions.txt).
            for name, interface in (("QueueAdd", "8001"), ("QueueAdd", "8002"),
                                    ("QueuePause", "8001"), ("QueuePause", "8002")):
                headers = {"Queue": "aftersales", "Interface": f"Local/{interface}@agents/n"}
                if name == "QueueAdd":
                    headers |= {"Penalty": "0", "MemberName": f"Agent {interface}"}
                else:
                    headers |= {"Paused": "true", "Reason": "meeting"}
                first_results.append(await client.send(name, headers))
            first_results.append(await client.send("QueueStatus", {"Queue": "aftersales"}))
        else:
            snapshot = await client.resync_snapshot()
            dispatcher.resync(client.health()["for_s"], channels=snapshot.channels,
                              queue_status=snapshot.queue_status,
                              queue_summary=snapshot.queue_summary)
            snapshots.append(snapshot)

    async with FakeAmiServer(replays=replays, stand_ins={"CoreShowChannels": "Status"}) as fake:
        h = make_client(fake, clients, on_connected=on_connected,
                        on_message=dispatcher.handle_message,
                        backoff=Backoff())
        box.append(h)
        await h.client.start()
        await h.wait(lambda: len(snapshots) == 1)
        await h.client.stop()

        assert [a.get("Action") for a in fake.sessions[0].received] == [
            "Login", "QueueAdd", "QueueAdd", "QueuePause", "QueuePause", "QueueStatus"]
        assert [a.get("Action") for a in fake.sessions[1].received] == [
            "Login", "Status", "QueueStatus", "QueueSummary", "Logoff"]

    # Connection 1: 83 events, 5 of them QueueStatus list items -> 78 delivered;
    # connection 2: 10 events, 9 list items -> only FullyBooted delivered.
    names = h.names()
    assert len(names) == 79
    assert names[0] == "FullyBooted"
    assert names[-2:] == ["Shutdown", "FullyBooted"]
    assert Counter(names) == Counter(
        {"DTMFBegin": 18, "DTMFEnd": 18, "DeviceStateChange": 12, "SoftHangupRequest": 4,
         "QueueMemberAdded": 2, "QueueMemberPause": 2, "Newchannel": 2, "NewCallerid": 2,
         "NewConnectedLine": 2, "Newstate": 2, "Hangup": 2, "FullyBooted": 2,
         "LocalBridge": 1, "DialBegin": 1, "DialEnd": 1, "UserEvent": 1, "QueueCallerJoin": 1,
         "MusicOnHoldStart": 1, "MusicOnHoldStop": 1, "QueueCallerAbandon": 1,
         "QueueCallerLeave": 1, "HangupRequest": 1, "Shutdown": 1})  # README's counts
    assert [r.message for r in first_results] == [
        "Added interface to queue", "Added interface to queue",
        "Interface paused successfully", "Interface paused successfully",
        "Queue status will follow"]
    assert [i.name for i in first_results[-1].items] == [
        "QueueParams", "QueueMember", "QueueMember", "QueueEntry"]
    channels, queue_status, queue_summary = (snapshots[0].channels, snapshots[0].queue_status,
                                             snapshots[0].queue_summary)
    assert channels is not None and queue_status is not None and queue_summary is not None
    assert channels.items == ()
    assert len(queue_status.items) == 4
    assert len(queue_summary.items) == 2
    assert h.resyncs == 2
    assert h.client.health()["reconnects"] == 1
    # The restart left both members paused with their reason (astdb), as the resync shows.
    agents = dispatcher.state.agents.agents
    assert {i: (a.paused, a.pause_reason) for i, a in agents.items()} == {
        "Local/8001@agents/n": (True, "meeting"), "Local/8002@agents/n": (True, "meeting")}


def test_wire_helper_matches_the_capture_format() -> None:
    assert wire(("Response", "Success"), ("ActionID", "x")) == (
        b"Response: Success\r\nActionID: x\r\n\r\n")


# --------------------------------------------------------------------------- resync lists


async def test_a_refused_list_is_reported_and_the_other_lists_are_kept(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    """An account without the class of one list action (as CoreShowChannels was refused to
    ours) loses that list only: QueueStatus and QueueSummary still arrive."""
    fake.handlers["Status"] = lambda session, action: session.reply(
        action, "Error", ("Message", "Permission denied"))
    h = await started(fake, clients)

    snapshot = await h.client.resync_snapshot()

    assert snapshot.channels is None
    [(action, error)] = snapshot.failures
    assert action == "Status" and isinstance(error, AmiActionError)
    assert error.message == "Permission denied"
    assert snapshot.queue_status is not None and snapshot.queue_status.ok
    assert snapshot.queue_summary is not None and snapshot.queue_summary.ok


async def test_the_resync_after_a_lost_connection_says_when_it_was_lost(
    fake: FakeAmiServer, clients: list[Harness]
) -> None:
    clock = [1000.0]
    h = await started(fake, clients, clock=lambda: clock[0])
    assert (await h.client.resync_snapshot()).lost_at is None

    clock[0] = 1010.0
    fake.current.close()  # kill -9: EOF, no Shutdown
    await fake.wait_connections(2)
    await h.wait(lambda: h.client.connected)
    clock[0] = 1090.0  # Asterisk took its time to come back

    first = await h.client.resync_snapshot()
    assert first.lost_at == 1010.0
    assert (await h.client.resync_snapshot()).lost_at is None  # the channels covered it
