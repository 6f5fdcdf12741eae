"""A monitoring session on the real capture of scenario 07 (three spies, each ended by the
supervisor's phone hanging up): a mode switch goes to the running ChanSpy (PlayDTMF of the
mode's digit, received on the spy channel), never a new Originate; the session ends when the
supervisor hangs up: the CTI routes ChanSpyStop (or, failing it, the Hangup of the spy
channel) to one ``SpyEnded`` per spy, and the monitoring service ends the session, pushes it
to the console and audits its end time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.topics import WALLBOARD_TOPIC
from cti.ami_protocol import AmiMessage
from cti.call_state import CallEventLogged, SpyEnded
from cti.dispatcher import Dispatcher
from cti.errors import AgentActionError
from cti.service import CtiService
from supervision.monitoring import Monitoring
from tests.cti import test_service
from tests.cti.test_desktop_browser import events
from tests.cti.test_service import BASE, password_hash, seed
from tests.fakes.ami_actions import FakeAmiActions
from tests.fakes.hub import RecordingHub

template_db = test_service.template_db
cti_store = test_service.cti_store

SCENARIO = "07-supervisor-spy.ami"
SPIES = ["Local/9000@supervisor-00000002;1", "Local/9000@supervisor-00000003;1",
         "Local/9000@supervisor-00000004;1"]
SPIED = "1795330349.0"  # the merchant call's Linkedid


def spy_effects(stream: list[tuple[AmiMessage, float]]) -> tuple[list[SpyEnded],
                                                                  list[CallEventLogged]]:
    dispatcher = Dispatcher()
    ended: list[SpyEnded] = []
    logged: list[CallEventLogged] = []
    for message, at in stream:
        for effect in dispatcher.handle_message(message, at):
            if isinstance(effect, SpyEnded):
                ended.append(effect)
            elif isinstance(effect, CallEventLogged) and effect.kind.startswith("spy_"):
                logged.append(effect)
    assert dispatcher.state.calls.spies == {}
    return ended, logged


def test_each_spy_ends_once_at_its_chanspystop() -> None:
    ended, logged = spy_effects(events(SCENARIO))
    assert [(e.spyer_channel, e.spyee_linked_id, e.by) for e in ended] == [
        (spy, SPIED, "ChanSpyStop") for spy in SPIES]
    assert [e.spyer_linked_id for e in ended] == ["1795330364.4", "1795330369.6",
                                                  "1795330375.8"]
    assert [(e.kind, e.linked_id) for e in logged] == [
        (kind, SPIED) for _ in SPIES for kind in ("spy_started", "spy_stopped")]


def test_without_chanspystop_the_hangup_of_the_spy_channel_ends_it() -> None:
    stream = [(m, at) for m, at in events(SCENARIO) if m.name != "ChanSpyStop"]
    ended, _logged = spy_effects(stream)
    assert [(e.spyer_channel, e.by) for e in ended] == [(spy, "Hangup") for spy in SPIES]


@dataclass
class Console:
    service: CtiService
    monitoring: Monitoring
    hub: RecordingHub
    store: Store
    stream: list[tuple[AmiMessage, float]]
    clock: list[float]
    position: int = 0

    def feed_until(self, name: str) -> None:
        while self.position < len(self.stream):
            message, at = self.stream[self.position]
            self.clock[0] = at
            self.service.on_message(message, at)
            self.position += 1
            if message.name == name:
                return


@pytest.fixture
async def console(cti_store: Store) -> AsyncIterator[Console]:
    await seed(cti_store)
    now = datetime.fromtimestamp(BASE, UTC)
    boss = await cti_store.users.add("boss", "王班长", Role.SUPERVISOR, password_hash(), now)
    await cti_store.agents.add("9000", "王班长", "PJSIP/9000", [], boss.id)
    hub = RecordingHub()
    clock = [BASE]
    service = CtiService(StoreCtiDirectory(cti_store), hub, clock=lambda: clock[0])
    service.attach(FakeAmiActions(spy_leg=("1795330364.4", SPIES[0])))
    await service.start()
    monitoring = Monitoring(service, cti_store.audit, clock=lambda: clock[0], hub=hub)
    try:
        yield Console(service, monitoring, hub, cti_store, events(SCENARIO), clock)
    finally:
        await service.stop()


async def test_the_supervisor_hanging_up_ends_the_session_on_the_console_and_in_the_audit(
        console: Console) -> None:
    console.feed_until("AgentConnect")
    session = await console.monitoring.start("boss", "PJSIP/9000", "8001", "listen")
    assert session["spy_channel"] == SPIES[0]
    assert console.monitoring.session_of("boss") is not None
    console.feed_until("ChanSpyStop")
    stop_at = console.clock[0]
    assert console.monitoring.sessions == {}
    [pushed] = console.hub.to(WALLBOARD_TOPIC, "monitor")
    assert pushed == {"type": "monitor", "event": "ended", "supervisor": "boss",
                      "agent": "8001", "mode": "listen", "reason": "hung_up",
                      "ended_at": datetime.fromtimestamp(stop_at, UTC).isoformat()}
    await console.monitoring.flush()
    entries = [e for e in await console.store.audit.recent(limit=10)
               if e.action.startswith("monitor.")]
    assert [e.action for e in entries] == ["monitor.stop", "monitor.start"]
    stop = entries[0]
    assert stop.at == datetime.fromtimestamp(stop_at, UTC)
    assert stop.details["ended_at"] == pushed["ended_at"]
    assert stop.details["by"] == "ChanSpyStop" and stop.details["reason"] == "hung_up"
    assert stop.details["started_at"] == entries[1].details["started_at"]
    # the other spies of the capture (not ours) end nothing more
    console.feed_until("\0")
    await console.monitoring.flush()
    assert len(console.hub.to(WALLBOARD_TOPIC, "monitor")) == 1


async def test_a_mode_switch_keys_the_running_spy_and_never_rings_the_phone_again(
        console: Console) -> None:
    console.feed_until("AgentConnect")
    ami = console.service.ami
    assert isinstance(ami, FakeAmiActions)
    await console.monitoring.start("boss", "PJSIP/9000", "8001", "listen")
    for mode in ("whisper", "barge", "listen", "listen"):
        session = await console.monitoring.start("boss", "PJSIP/9000", "8001", mode)
        assert session["mode"] == mode and session["spy_channel"] == SPIES[0]
    assert [a for a, _h in ami.sent].count("Originate") == 1
    assert [h for a, h in ami.sent if a == "PlayDTMF"] == [
        {"Channel": SPIES[0], "Digit": digit, "Receive": "true"} for digit in "564"]
    entries = [e for e in reversed(await console.store.audit.recent(limit=10))
               if e.action.startswith("monitor.")]
    assert [(e.action, e.details["mode"], e.details.get("previous_mode")) for e in entries] == [
        ("monitor.start", "listen", None), ("monitor.mode", "whisper", "listen"),
        ("monitor.mode", "barge", "whisper"), ("monitor.mode", "listen", "barge")]


async def test_a_switch_after_the_spy_vanished_ends_the_session(console: Console) -> None:
    console.feed_until("AgentConnect")
    ami = console.service.ami
    assert isinstance(ami, FakeAmiActions)
    await console.monitoring.start("boss", "PJSIP/9000", "8001", "listen")
    ami.errors["PlayDTMF"] = "Channel not found"  # what manager_play_dtmf answers
    with pytest.raises(AgentActionError) as raised:
        await console.monitoring.start("boss", "PJSIP/9000", "8001", "barge")
    assert raised.value.error_id == "not_monitoring"
    assert console.monitoring.sessions == {}
    [pushed] = console.hub.to(WALLBOARD_TOPIC, "monitor")
    assert pushed["reason"] == "spy_gone"
