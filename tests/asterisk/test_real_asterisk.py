"""The repository's dialplans in a real Asterisk 22, with our FastAGI IVR and AMI client.

Skipped unless ``CALLCENTER_TEST_ASTERISK`` names an Asterisk binary (see conftest.py). Calls
are placed as the fixtures' lab placed them: ``Local/4008000000@from-trunk``, whose other half
runs the test-only ``[merchant-sim]`` (extensions-test.conf) and keys the menu with SendDTMF.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.domain import HOTLINE_QUEUES
from cti.ami_client import AmiClient
from cti.ami_protocol import AmiMessage
from cti.call_state import CallQueued
from cti.dispatcher import Dispatcher
from ivr.agi_server import FastAgiServer
from ivr.menu_config import MenuRegistry
from ivr.ports import InMemoryDirectory, IvrOutcome, IvrResult, MerchantRef, TaskRef
from ivr.service import make_routes

from .conftest import AMI_SECRET, DIALPLANS, Asterisk, write_silent_menu

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(90)]

DAYTIME = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
SHOP = MerchantRef(1, "123456789012345", "Shop A")
VIP_SHOP = MerchantRef(2, "888800000000010", "Shop B", high_value=True)
CALLER = "13800138000"
VIP_CALLER = "13900139000"
HOTLINE = "Local/4008000000@from-trunk"
OURS = r"\b(extensions|queues|manager)\.conf\b"
QUEUES = HOTLINE_QUEUES
# Event classes the bridge's account must not read (manager.conf: read = call,agent,system,user)
NOT_FOR_THE_BRIDGE = {"VarSet", "Newexten", "AGIExecStart", "AGIExecEnd", "Cdr", "DTMFBegin",
                      "DTMFEnd", "SuccessfulAuth"}


# -- what our files say --------------------------------------------------------------------

def our_dialplan_lines() -> dict[str, list[tuple[int, str]]]:
    """Context → (line number, ``App(data)`` as written) for every exten/same line of ours."""
    contexts: dict[str, list[tuple[int, str]]] = {}
    context = ""
    text = (DIALPLANS / "extensions.conf").read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), start=1):
        if header := re.fullmatch(r"\[([^\]]+)\]\s*", raw):
            context = header.group(1)
            if context not in {"general", "globals"}:
                contexts[context] = []
            continue
        step = re.fullmatch(r"\s*(?:exten\s*=>\s*[^,]+,|same\s*=>\s*)[^,]+,(.*?)\s*", raw)
        if step:
            contexts[context].append((number, step.group(1)))
    return contexts


def our_manager_classes() -> tuple[set[str], set[str]]:
    text = (DIALPLANS / "manager.conf").read_text(encoding="utf-8")
    [read] = re.findall(r"(?m)^read = (.+)$", text)
    [write] = re.findall(r"(?m)^write = (.+)$", text)
    return set(read.split(",")), set(write.split(","))


# -- a call's surroundings ------------------------------------------------------------------

def menu_with_prompts(base: Path) -> MenuRegistry:
    """The built-in hotline menu with silent prompts (conftest.write_silent_menu)."""
    return MenuRegistry(write_silent_menu(base))


async def until(predicate: Callable[[], bool], within: float) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.1)


@dataclass
class Line:
    """The bridge's AMI connection (least-privilege account) and what it received."""

    client: AmiClient
    events: list[AmiMessage] = field(default_factory=list)

    def seen(self, name: str, **headers: str) -> list[AmiMessage]:
        return [e for e in self.events if e.name == name
                and all(e.get(k) == v for k, v in headers.items())]

    def ivr_results(self) -> list[AmiMessage]:
        return self.seen("UserEvent", UserEvent="CcIvrResult")

    async def call_hotline(self, caller: str, keys: str) -> None:
        """A merchant phones the hotline and keys ``keys`` (see [merchant-sim])."""
        await self.client.send("Originate", [
            ("Channel", HOTLINE), ("Context", "merchant-sim"), ("Exten", "s"),
            ("Priority", "1"), ("CallerID", f'"Merchant" <{caller}>'),
            ("Variable", f"MS_KEYS={keys}"), ("Timeout", "10000"), ("Async", "true")])

    async def getvar(self, channel: str, variable: str) -> str | None:
        reply = await self.client.send("Getvar", [("Channel", channel), ("Variable", variable)])
        return reply.response.get("Value")


async def quiet(asterisk: Asterisk) -> None:
    """Hang up every call still up and wait until Asterisk has no channel left, so that the
    next test's AMI connection sees only its own call."""
    await asyncio.to_thread(asterisk.cli, "channel request hangup all")
    async with asyncio.timeout(10):
        while not (await asyncio.to_thread(asterisk.cli, "core show channels count")
                   ).startswith("0 active channels"):
            await asyncio.sleep(0.2)


@pytest.fixture
async def ami(asterisk: Asterisk) -> AsyncIterator[Line]:
    await quiet(asterisk)
    events: list[AmiMessage] = []
    client = AmiClient("127.0.0.1", asterisk.ami_port, "callcenter", AMI_SECRET,
                       on_message=lambda message, _at: events.append(message))
    await client.start()
    try:
        yield Line(client, events)
    finally:
        await client.stop()


StartFastAGI = Callable[[dict[str, Any]], Awaitable[FastAgiServer]]


@pytest.fixture
async def fastagi(asterisk: Asterisk) -> AsyncIterator[StartFastAGI]:
    """Starts our FastAGI server on the port ``CC_FASTAGI`` names, with the given routes."""
    servers: list[FastAgiServer] = []

    async def start(routes: dict[str, Any]) -> FastAgiServer:
        server = FastAgiServer(routes)
        await server.start("127.0.0.1", asterisk.fastagi_port)
        servers.append(server)
        return server

    yield start
    # Calls first: a server stopped under a running IVR would send the caller on to noivr.
    await quiet(asterisk)
    for server in servers:
        await server.stop()


# -- the tests ------------------------------------------------------------------------------

def test_our_dialplan_queues_and_manager_account_load_cleanly(asterisk: Asterisk) -> None:
    ours = our_dialplan_lines()
    written = (DIALPLANS / "extensions.conf").read_text(encoding="utf-8")
    assert sum(map(len, ours.values())) == len(re.findall(r"(?m)^\s*(?:exten|same)\s*=>", written))
    for context, lines in ours.items():
        shown = asterisk.cli(f"dialplan show {context}")
        assert f"[ Context '{context}' created by 'pbx_config' ]" in shown, shown
        # Every line of ours was loaded whole: a ';' inside an application's data would start
        # a comment and cut it short, which only Asterisk's own parser shows.
        for number, app in lines:
            assert re.search(rf"{re.escape(app)}\s+\[extensions\.conf:{number}\]", shown), (
                f"extensions.conf:{number} [{context}] {app!r} not loaded as written:\n{shown}")
    globals_ = re.search(r"(?ms)^\[globals\]\n(.*?)^\[", written)
    assert globals_
    ours_globals = re.findall(r"(?m)^(CC_\w+) =", globals_.group(1))  # "X =": empty
    shown_globals = re.findall(r"(?m)^\s+(CC_\w+)=", asterisk.cli("dialplan show globals"))
    assert sorted(shown_globals) == sorted(ours_globals) and ours_globals
    for queue in QUEUES:
        shown = asterisk.cli(f"queue show {queue}")
        # the [hotline-queue](!) template reached every queue
        assert re.match(rf"{queue} has 0 calls .* in 'rrmemory' strategy .* within 20s$",
                        shown.splitlines()[0]), shown
        assert "No Members" in shown  # agents are dynamic: the desktop logs them in and out
    assert ", W:10," in asterisk.cli("queue show complaints")
    user = asterisk.cli("manager show user callcenter")
    read, write = our_manager_classes()
    [shown_read] = re.findall(r"read perm: (\S+)", user)
    [shown_write] = re.findall(r"write perm: (\S+)", user)
    assert (set(shown_read.split(",")), set(shown_write.split(","))) == (read, write)
    # Errors about other modules' missing configs (cdr.conf, ari.conf …) are expected here.
    complaints = [line for line in asterisk.problems_since(0)
                  if re.search(rf"{OURS}|\b(pbx_config|app_queue|manager)\.c:", line)]
    assert complaints == []


async def test_the_bridge_account_may_queue_but_not_configure_run_commands_or_programs(
        ami: Line, tmp_path: Path) -> None:
    assert (await ami.client.send("Ping")).response.get("Response") == "Success"
    summary = await ami.client.send("QueueSummary", final_event="QueueSummaryComplete")
    assert {m.get("Queue") for m in summary.items} == set(QUEUES)
    for action, headers in [
            ("Command", [("Command", "core show version")]),
            ("GetConfig", [("Filename", "manager.conf")]),
            ("UpdateConfig", [("SrcFilename", "manager.conf"), ("DstFilename", "manager.conf"),
                              ("Action-000000", "NewCat"), ("Cat-000000", "intruder")]),
            ("Reload", []),
            ("ShowDialPlan", [("Context", "from-trunk")])]:
        refused = await ami.client.send(action, headers, check=False)
        assert refused.response.get("Response") == "Error", action
        assert refused.response.get("Message") == "Permission denied", action
    # The resync after every connect reads its three lists with this account: Status (class
    # call) for the channels, not CoreShowChannels (system/reporting only, refused).
    refused = await ami.client.send("CoreShowChannels", check=False)
    assert (refused.response.get("Response"), refused.response.get("Message")) == (
        "Error", "Permission denied")
    snapshot = await ami.client.resync_snapshot()
    assert snapshot.failures == ()
    assert snapshot.channels is not None and snapshot.channels.complete is not None
    assert snapshot.channels.complete.name == "StatusComplete"
    assert snapshot.queue_status is not None and snapshot.queue_summary is not None
    dispatcher = Dispatcher()
    dispatcher.resync(0.0, channels=snapshot.channels, queue_status=snapshot.queue_status,
                      queue_summary=snapshot.queue_summary)
    assert set(dispatcher.state.calls.queues) == set(QUEUES)
    # 'originate' without 'system' may not start System/Exec (CVE-2024-42365's door).
    proof = tmp_path / "ran"
    for app, data in (("System", f"touch {proof}"), ("Exec", f"System(touch {proof})")):
        refused = await ami.client.send("Originate", [
            ("Channel", "Local/s@merchant-sim"), ("Application", app), ("Data", data),
            ("Async", "false")], check=False)
        assert refused.response.get("Response") == "Error", app
        assert "Forbidden" in (refused.response.get("Message") or ""), refused.response
    assert not proof.exists()


async def test_a_merchant_call_runs_our_ivr_and_is_connected_to_an_agent_then_surveyed(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, tmp_path: Path) -> None:
    directory = InMemoryDirectory()
    directory.add_merchant(SHOP, [CALLER])
    routes = make_routes(directory, menu_with_prompts(tmp_path / "prompts"), lambda: DAYTIME)
    await fastagi(routes)
    log_mark = asterisk.log_size()
    await ami.client.send("QueueAdd", [("Queue", "aftersales"),
                                       ("Interface", "Local/8001@test-agent/n"),
                                       ("MemberName", "Agent 8001")])
    try:
        # 1 = Chinese, 2 = after-sales (the caller ID identifies the shop), 2 = report a fault;
        # after the agent has hung up (~8 s after the answer), 4 for the survey (~10 s).
        await ami.call_hotline(CALLER, "122www4")
        await until(lambda: bool(directory.results), within=30)
        [result] = directory.results
        assert result.caller == CALLER
        assert result.outcome is IvrOutcome.QUEUED
        assert (result.queue, result.intent, result.lang) == ("aftersales", "repair", "zh")
        assert result.merchant == SHOP and result.merchant_verified
        assert result.path == "hello>lang:1>menu:2>merchant:cid>intent:2"

        await until(lambda: bool(ami.seen("AgentConnect")), within=20)
        [ivr] = ami.ivr_results()
        assert ivr.get("Uniqueid") == result.unique_id
        assert_published(ivr, result)
        [join] = ami.seen("QueueCallerJoin")
        assert (join.get("Queue"), join.get("CallerIDNum")) == ("aftersales", CALLER)
        assert join.get("Uniqueid") == result.unique_id
        [connect] = ami.seen("AgentConnect")
        assert connect.get("Interface") == "Local/8001@test-agent/n"
        assert connect.get("Uniqueid") == result.unique_id

        # The agent hangs up after 2 s (Queue option c): the caller goes on to the survey,
        # keys 4, and the score is recorded against the call.
        await until(lambda: bool(directory.scores), within=25)
        [score] = directory.scores
        assert (score.unique_id, score.score) == (result.unique_id, 4)
        # queues.conf monitor-format=wav recorded the call where extensions.conf said.
        recording = asterisk.monitor_dir / f"{result.unique_id}.wav"
        assert recording.is_file()
        assert {e.name for e in ami.events}.isdisjoint(NOT_FOR_THE_BRIDGE)
        assert asterisk.problems_since(log_mark) == []
    finally:
        await ami.client.send("QueueRemove", [("Queue", "aftersales"),
                                              ("Interface", "Local/8001@test-agent/n")],
                              check=False)


def assert_published(ivr: AmiMessage, result: IvrResult) -> None:
    """The UserEvent CcIvrResult carries the CC_* values the IVR handed to the dialplan."""
    assert ivr.get("CcQueue") == result.queue
    assert ivr.get("CcMerchantId") == (result.merchant.merchant_number if result.merchant
                                       else "")
    assert ivr.get("CcMerchantVerified") == ("1" if result.merchant_verified else "0")
    assert ivr.get("CcIntent") == result.intent
    assert ivr.get("CcIvrPath") == result.path
    assert ivr.get("CcPriority") == str(result.priority)
    assert ivr.get("CcLang") == result.lang
    assert ivr.get("CcIvrOutcome") == result.outcome.value


async def test_a_valued_repeat_caller_waits_in_the_chosen_queue_with_the_ivr_priority(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, tmp_path: Path) -> None:
    log_mark = asterisk.log_size()
    directory = InMemoryDirectory()
    directory.add_merchant(VIP_SHOP, [VIP_CALLER])
    directory.add_call(VIP_CALLER, DAYTIME - timedelta(hours=3))
    routes = make_routes(directory, menu_with_prompts(tmp_path / "prompts"), lambda: DAYTIME)
    await fastagi(routes)
    # 2 = English, 2 = after-sales, 4 = complaint. Nobody is logged in: the caller waits.
    await ami.call_hotline(VIP_CALLER, "224")
    await until(lambda: bool(ami.seen("QueueCallerJoin")), within=30)
    [result] = directory.results
    assert (result.queue, result.intent, result.lang) == ("complaints", "complaint", "en")
    assert result.priority == 15  # high-value +10, called within 24 h +5
    [ivr] = ami.ivr_results()
    assert_published(ivr, result)
    [join] = ami.seen("QueueCallerJoin")
    assert join.get("Queue") == "complaints"
    caller = join.get("Channel") or ""

    status = await ami.client.send("QueueStatus", [("Queue", "complaints")],
                                   final_event="QueueStatusComplete")
    [entry] = [m for m in status.items if m.name == "QueueEntry"]
    assert (entry.get("Channel"), entry.get("Priority")) == (caller, "15")
    # The hand-off variables are on the caller's channel, as the IVR set them.
    assert await ami.getvar(caller, "CC_MERCHANT_ID") == VIP_SHOP.merchant_number
    assert await ami.getvar(caller, "CC_QUEUE") == "complaints"
    assert await ami.getvar(caller, "QUEUE_PRIO") == "15"
    assert await ami.getvar(caller, "CHANNEL(language)") == "en"

    await ami.client.send("Hangup", [("Channel", caller)])
    await until(lambda: bool(ami.seen("QueueCallerAbandon")), within=10)
    assert ami.seen("QueueCallerAbandon")[0].get("Queue") == "complaints"
    assert asterisk.problems_since(log_mark) == []


async def test_a_call_is_queued_by_default_when_the_fastagi_server_is_down(
        asterisk: Asterisk, ami: Line) -> None:
    log_mark = asterisk.log_size()
    # Someone (paused) is logged in to aftersales, so the caller waits there rather than
    # overflowing at once to the night queue (see the overflow tests below).
    await ami.client.send("QueueAdd", [("Queue", "aftersales"),
                                       ("Interface", "Local/8001@test-agent/n"),
                                       ("Paused", "true")])
    # Nothing listens on CC_FASTAGI's port: AGI() fails at connect (AGISTATUS=FAILURE).
    try:
        await ami.call_hotline(CALLER, "")
        await until(lambda: bool(ami.seen("QueueCallerJoin")), within=15)
    finally:
        await ami.client.send("QueueRemove", [("Queue", "aftersales"),
                                              ("Interface", "Local/8001@test-agent/n")])
    [ivr] = ami.ivr_results()
    assert (ivr.get("CcQueue"), ivr.get("CcIvrPath"), ivr.get("CcIvrOutcome")) == (
        "aftersales", "noivr", "failed")
    assert (ivr.get("CcIntent"), ivr.get("CcPriority")) == ("agent", "0")
    assert ami.seen("QueueCallerJoin")[0].get("Queue") == "aftersales"
    # The only complaint is res_agi's about the connect that failed.
    assert all("res_agi.c" in line for line in asterisk.problems_since(log_mark))


async def test_self_service_ends_the_call_without_queueing(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, tmp_path: Path) -> None:
    log_mark = asterisk.log_size()
    directory = InMemoryDirectory()
    directory.add_merchant(SHOP, [CALLER])
    directory.add_task(SHOP.id, TaskRef("T20261123001", "repair", "assigned"))
    routes = make_routes(directory, menu_with_prompts(tmp_path / "prompts"), lambda: DAYTIME)
    await fastagi(routes)
    # 1 = Chinese, 3 = my task's status (read out), then 9 = goodbye. The 9 is keyed again
    # twice: res_agi drops a key that lands while the read-out still plays (seen on a loaded
    # machine), and once the first 9 is taken the IVR hangs up and the rest go nowhere.
    await ami.call_hotline(CALLER, "13www9ww9ww9")
    await until(lambda: bool(directory.results), within=30)
    [result] = directory.results
    assert result.outcome is IvrOutcome.SELF_SERVICE, result.path
    caller_hung_up = {"Uniqueid": result.unique_id}
    await until(lambda: bool(ami.seen("Hangup", **caller_hung_up)), within=10)
    [ivr] = ami.ivr_results()
    assert_published(ivr, result)
    assert ivr.get("CcQueue") == ""
    assert ami.seen("QueueCallerJoin") == []
    assert asterisk.problems_since(log_mark) == []


# -- queue overflow ------------------------------------------------------------------------


def _overflows(ami: Line) -> list[tuple[str, str | None]]:
    """Replay what the bridge received through the CTI: (queue, overflow_from) per join."""
    dispatcher = Dispatcher()
    joined: list[tuple[str, str | None]] = []
    for at, message in enumerate(ami.events):
        for effect in dispatcher.handle_message(message, float(at)):
            if isinstance(effect, CallQueued):
                joined.append((effect.queue, effect.overflow_from))
    return joined


async def _vip_calls_presales(ami: Line, fastagi: StartFastAGI, tmp_path: Path) -> None:
    directory = InMemoryDirectory()
    directory.add_merchant(VIP_SHOP, [VIP_CALLER])
    directory.add_call(VIP_CALLER, DAYTIME - timedelta(hours=3))
    await fastagi(make_routes(directory, menu_with_prompts(tmp_path / "prompts"),
                              lambda: DAYTIME))
    await ami.call_hotline(VIP_CALLER, "21")  # 2 = English, 1 = pre-sales


async def _waiting_in(ami: Line, queue: str) -> AmiMessage:
    status = await ami.client.send("QueueStatus", [("Queue", queue)],
                                   final_event="QueueStatusComplete")
    [entry] = [m for m in status.items if m.name == "QueueEntry"]
    return entry


async def test_a_caller_overflows_at_once_past_queues_nobody_is_logged_in_to(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, tmp_path: Path) -> None:
    log_mark = asterisk.log_size()
    await _vip_calls_presales(ami, fastagi, tmp_path)
    # presales and aftersales are empty: straight on to night, the end of the chain
    await until(lambda: bool(ami.seen("QueueCallerJoin")), within=30)
    [ivr] = ami.ivr_results()
    assert (ivr.get("CcQueue"), ivr.get("CcPriority")) == ("presales", "15")
    assert [j.get("Queue") for j in ami.seen("QueueCallerJoin")] == ["night"]
    entry = await _waiting_in(ami, "night")
    assert entry.get("Priority") == "15"  # the IVR's priority kept
    caller = entry.get("Channel") or ""
    assert await ami.getvar(caller, "CC_OVERFLOW_FROM") == "aftersales"
    assert _overflows(ami) == [("night", "presales")]  # the pop: overflow from presales
    await ami.client.send("Hangup", [("Channel", caller)])
    await until(lambda: bool(ami.seen("QueueCallerAbandon")), within=10)
    assert asterisk.problems_since(log_mark) == []


async def test_a_caller_unanswered_for_the_overflow_wait_moves_on_keeping_priority(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, tmp_path: Path) -> None:
    log_mark = asterisk.log_size()
    await asyncio.to_thread(asterisk.cli, "dialplan set global CC_OVERFLOW_WAIT 3")
    for queue in ("presales", "aftersales"):  # logged in, paused: nobody answers
        await ami.client.send("QueueAdd", [("Queue", queue),
                                           ("Interface", "Local/8001@test-agent/n"),
                                           ("Paused", "true")])
    try:
        await _vip_calls_presales(ami, fastagi, tmp_path)
        await until(lambda: len(ami.seen("QueueCallerJoin")) >= 3, within=40)
        assert [j.get("Queue") for j in ami.seen("QueueCallerJoin")] == [
            "presales", "aftersales", "night"]
        entry = await _waiting_in(ami, "night")
        assert entry.get("Priority") == "15"
        assert _overflows(ami) == [("presales", None), ("aftersales", "presales"),
                                   ("night", "presales")]
        await ami.client.send("Hangup", [("Channel", entry.get("Channel") or "")])
        await until(lambda: bool(ami.seen("QueueCallerAbandon")), within=10)
    finally:
        await asyncio.to_thread(asterisk.cli, "dialplan set global CC_OVERFLOW_WAIT 60")
        for queue in ("presales", "aftersales"):
            await ami.client.send("QueueRemove", [("Queue", queue),
                                                  ("Interface", "Local/8001@test-agent/n")])
    assert asterisk.problems_since(log_mark) == []
