"""Live monitoring on a real Asterisk 22: listen, whisper and barge through ChanSpy.

The product runs in-process (no web, no FastAGI) with its AMI bridge on the test Asterisk. An
agent (``Local/8001@test-agent/n``, which answers and talks) takes a call queued through
``[cc-transfer]``; the supervisor's account has the phone ``Local/9000@test-supervisor`` (a
test context that answers). Listen must originate the supervisor's phone into ChanSpy with the
mode's options (``d``: DTMF 4/5/6 switch the mode) on the agent's device end (the ``;2`` half
of the agent's Local pair, which is the phone here; never the queue's ``;1`` half), and
Asterisk must report ChanSpyStart for it. Whisper and barge switch the SAME spy in place: no
new Originate, no ChanSpyStop, the same spy channel, and the spy channel receives the mode's
digit (DTMFEnd ``Direction: Received`` on it, seen by a test-only observer login with the
``dtmf`` class, which the product's own login does not have). Stop ends the spy (ChanSpyStop).
A second session ends when the supervisor's phone hangs up: the product sees ChanSpyStop and
ends, pushes and audits the session. Every step is audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.app import Product, build_product
from callcenter.db import migrate
from callcenter.domain import Role
from callcenter.runtime import RunOptions
from callcenter.settings import load_settings
from cti.ami_client import AmiClient
from cti.ami_protocol import AmiMessage
from tests.asterisk.conftest import AMI_SECRET, Asterisk

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(120)]

AGENT = "Local/8001@test-agent/n"
SUPERVISOR_PHONE = "Local/9000@test-supervisor"


async def until(predicate: Callable[[], bool], within: float, what: str = "") -> None:
    try:
        async with asyncio.timeout(within):
            while not predicate():
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {within} s: {what}") from None


@pytest.fixture
async def product(asterisk: Asterisk, tmp_path: Path) -> AsyncIterator[tuple[Product,
                                                                           list[AmiMessage]]]:
    await asyncio.to_thread(asterisk.cli, "channel request hangup all")
    url = f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    settings = load_settings(environ={
        "CALLCENTER_DATABASE_URL": url, "CALLCENTER_RECORDING_DIR": str(tmp_path),
        "CALLCENTER_AMI_HOST": "127.0.0.1", "CALLCENTER_AMI_PORT": str(asterisk.ami_port),
        "CALLCENTER_AMI_USERNAME": "callcenter", "CALLCENTER_AMI_SECRET": AMI_SECRET})
    product = await build_product(settings, RunOptions(web=False, fastagi=False))
    store = product.runtime.store
    now = datetime.now(UTC)
    agent_user = await store.users.add("8001", "坐席8001", Role.AGENT, "!", now)
    await store.agents.add("8001", "坐席8001", AGENT, ["aftersales"], agent_user.id,
                           state_interface="")
    boss = await store.users.add("boss", "班长", Role.SUPERVISOR, "!", now)
    await store.agents.add("9000", "班长", SUPERVISOR_PHONE, [], boss.id, state_interface="")
    seen: list[AmiMessage] = []  # what Asterisk sent, on a second connection
    # A test-only login that also reads DTMF (the product's own does not): added to this
    # test Asterisk's manager.conf and loaded with `manager reload`.
    manager = asterisk.config.parent / "manager.conf"
    if "[observer]" not in manager.read_text():
        with manager.open("a") as conf:
            conf.write(f"\n[observer]\nsecret = {AMI_SECRET}\ndeny = 0.0.0.0/0.0.0.0\n"
                       "permit = 127.0.0.1/255.255.255.255\nread = call,agent,dtmf,system,user\n"
                       "write = system\n")
        await asyncio.to_thread(asterisk.cli, "manager reload")
    watcher = AmiClient("127.0.0.1", asterisk.ami_port, "observer", AMI_SECRET,
                        events="call,agent,dtmf,system,user",
                        on_message=lambda message, _at: seen.append(message))
    await asyncio.to_thread(asterisk.cli, "dialplan set global TEST_AGENT_TALK 60")
    await watcher.start()
    await product.start()
    try:
        yield product, seen
    finally:
        await asyncio.to_thread(asterisk.cli, "dialplan set global TEST_AGENT_TALK 2")
        await asyncio.to_thread(asterisk.cli, "channel request hangup all")
        await product.stop()
        await watcher.stop()


def named(seen: list[AmiMessage], name: str) -> list[AmiMessage]:
    return [m for m in seen if m.name == name]


async def test_listen_whisper_and_barge_spy_on_the_agents_device_and_are_audited(
        product: tuple[Product, list[AmiMessage]]) -> None:
    app, seen = product
    cti, supervision = app.cti, app.supervision
    assert supervision is not None and supervision.monitoring is not None
    monitoring = supervision.monitoring
    # The AMI client connects in the background: its own resync reads the agents table first.
    await until(lambda: cti.ami is not None and bool(getattr(cti.ami, "connected", False)),
                10, "AMI connected")
    await cti.refresh_agents()
    agent = await app.runtime.store.agents.by_number("8001")
    assert agent is not None
    await cti.login(agent)
    await cti.ami.send("Originate", [  # type: ignore[union-attr]
        ("Channel", "Local/aftersales@cc-transfer"), ("Context", "merchant-sim"),
        ("Exten", "s"), ("Priority", "1"), ("CallerID", '"Merchant" <13800138000>'),
        ("Variable", "MS_KEYS="), ("Timeout", "10000"), ("Async", "true")])
    await until(lambda: bool(named(seen, "AgentConnect")), 20,
                f"the agent answered; seen {sorted({m.name for m in seen})}")
    [connect] = named(seen, "AgentConnect")
    leg = connect.get("DestChannel")
    assert leg is not None and leg.endswith(";1")
    device = leg[:-1] + "2"  # the agent's phone end, not the queue's Local half

    pushed: list[dict[str, Any]] = []  # what the console is sent
    app.runtime.hub.observe(lambda _topic, message: pushed.append(message))
    session = await monitoring.start("boss", SUPERVISOR_PHONE, "8001", "listen")
    assert session["device"] == device and session["mode"] == "listen"
    spy = session["spy_channel"]
    assert spy is not None and spy.startswith("Local/9000@test-supervisor-")
    await until(lambda: bool(named(seen, "ChanSpyStart")), 10, "ChanSpyStart")
    [start] = named(seen, "ChanSpyStart")
    assert start.get("SpyeeChannel") == device and start.get("SpyerChannel") == spy

    for mode, digit in (("whisper", "5"), ("barge", "6"), ("listen", "4")):
        switched = await monitoring.start("boss", SUPERVISOR_PHONE, "8001", mode)
        assert switched["mode"] == mode and switched["spy_channel"] == spy
        await until(lambda digit=digit: any(
            m.get("Channel") == spy and m.get("Digit") == digit
            and m.get("Direction") == "Received" for m in named(seen, "DTMFEnd")), 10,
            f"the spy channel received {digit} ({mode})")
    await asyncio.sleep(0.5)
    assert len(named(seen, "ChanSpyStart")) == 1 and named(seen, "ChanSpyStop") == []
    spies = [m.get("Data") for m in named(seen, "OriginateResponse")
             if m.get("Application") == "ChanSpy" and m.get("Response") == "Success"]
    assert spies == [f"{device},qdE"]  # one Originate for the whole session
    await monitoring.stop("boss")
    await until(lambda: len(named(seen, "ChanSpyStop")) == 1, 10, "ChanSpyStop after stop")

    # The supervisor's own phone hangs up: the session ends by itself.
    second = await monitoring.start("boss", SUPERVISOR_PHONE, "8001", "whisper")
    assert second["spy_channel"] != spy
    await until(lambda: len(named(seen, "ChanSpyStart")) == 2, 10, "second ChanSpyStart")
    phone = second["spy_channel"][:-1] + "2"  # the phone's end of the supervisor's Local
    await cti.ami.send("Hangup", [("Channel", phone)])  # type: ignore[union-attr]
    await until(lambda: len(named(seen, "ChanSpyStop")) == 2, 10, "ChanSpyStop on hang-up")
    await until(lambda: not monitoring.sessions, 10, "the session ended")
    await monitoring.flush()
    assert [(m["event"], m["agent"], m["reason"]) for m in pushed
            if m.get("type") == "monitor"] == [("ended", "8001", "hung_up")]

    entries = await app.runtime.store.audit.recent(limit=20)
    trail = [(e.action, e.target, e.details.get("mode"), e.details.get("reason"))
             for e in reversed(entries) if e.action.startswith("monitor.")]
    assert trail == [("monitor.start", "8001", "listen", None),
                     ("monitor.mode", "8001", "whisper", None),
                     ("monitor.mode", "8001", "barge", None),
                     ("monitor.mode", "8001", "listen", None),
                     ("monitor.stop", "8001", "listen", "stopped"),
                     ("monitor.start", "8001", "whisper", None),
                     ("monitor.stop", "8001", "whisper", "hung_up")]
    last = next(e for e in entries if e.action == "monitor.stop")
    assert last.details["by"] == "ChanSpyStop" and last.details["ended_at"]
    assert all(e.actor == "boss" and e.details["linked_id"] == connect.get("Linkedid")
               for e in entries if e.action.startswith("monitor."))
