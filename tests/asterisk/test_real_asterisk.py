"""The repository's dialplans in a real Asterisk 22, with our FastAGI IVR and AMI client.

Skipped unless ``CALLCENTER_TEST_ASTERISK`` names an Asterisk binary (see conftest.py)."""

from __future__ import annotations

import asyncio
import re
import wave
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cti.ami_client import AmiClient
from cti.ami_protocol import AmiMessage
from ivr.agi_server import AGISession, FastAGIServer
from ivr.menu_config import DEFAULT_MENU_PATH, MenuRegistry
from ivr.ports import InMemoryDirectory, IvrOutcome, MerchantRef
from ivr.prompts import load_catalogue
from ivr.service import make_routes

from .conftest import AMI_SECRET, Asterisk

pytestmark = pytest.mark.asterisk

DAYTIME = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
SHOP = MerchantRef(1, "123456789012345", "Shop A")
CALLER = "13800138000"
OUR_FILES = ("extensions.conf", "queues.conf", "manager.conf")


def test_our_dialplan_queues_and_manager_account_load_cleanly(asterisk: Asterisk) -> None:
    contexts = asterisk.cli("dialplan show")
    for context in ("from-trunk", "cc-transfer", "agents", "supervisor", "cc-outbound"):
        assert f"Context '{context}' created by 'pbx_config'" in contexts
    hotline = asterisk.cli("dialplan show 4008000000@from-trunk")
    assert "AGI(agi://${CC_FASTAGI}/hotline)" in hotline
    assert "Queue(${CC_QUEUE},tc,,,300,,,,,)" in hotline
    # A ";" inside an application's data starts a comment: the whole text must survive.
    assert "NoOp(IVR unavailable - AGISTATUS ${AGISTATUS} - default routing)" in hotline
    queues = asterisk.cli("queue show")
    for queue in ("presales", "aftersales", "complaints", "techsupport", "night"):
        assert re.search(rf"(?m)^{queue} has 0 calls", queues), queues
    user = asterisk.cli("manager show user callcenter")
    assert re.search(r"read perm: system,call,agent,user\s*$", user, re.M), user
    assert re.search(r"write perm: call,agent,user,originate\s*$", user, re.M), user
    complaints = [line for line in asterisk.messages().splitlines()
                  if ("WARNING" in line or "ERROR" in line) and any(f in line for f in OUR_FILES)]
    assert complaints == []


async def _client(asterisk: Asterisk, events: list[AmiMessage]) -> AmiClient:
    client = AmiClient("127.0.0.1", asterisk.ami_port, "callcenter", AMI_SECRET,
                       on_message=lambda message, _at: events.append(message))
    await client.start()
    return client


async def test_the_bridge_account_can_queue_but_not_run_cli_commands(asterisk: Asterisk) -> None:
    client = await _client(asterisk, [])
    try:
        assert (await client.send("Ping")).response.get("Response") == "Success"
        status = await client.send("QueueSummary", final_event="QueueSummaryComplete")
        assert {m.get("Queue") for m in status.items} >= {"aftersales", "presales", "night"}
        refused = await client.send("Command", [("Command", "core show version")], check=False)
        assert refused.response.get("Response") == "Error"
        assert "Permission denied" in (refused.response.get("Message") or "")
    finally:
        await client.stop()


def menu_with_prompts(base: Path) -> MenuRegistry:
    """The built-in hotline menu with every prompt as 0.4 s of silence under ``base``: Asterisk
    answers GET DATA on a missing prompt file with ``200 result=-1`` at once, without waiting
    for a key (seen here), so a menu without its sound files cannot take input."""
    for lang in ("zh_CN", "en"):
        (base / lang).mkdir(parents=True)
        for prompt in load_catalogue().ids:
            with wave.open(str(base / lang / f"{prompt}.wav"), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(8000)
                out.writeframes(b"\0\0" * 3200)
    menu = re.sub(r'(?m)^prompt_base = .*$', f'prompt_base = "{base}"',
                  DEFAULT_MENU_PATH.read_text(encoding="utf-8"))
    (base / "hotline.toml").write_text(menu, encoding="utf-8")
    return MenuRegistry(base / "hotline.toml")


async def until(predicate: Callable[[], bool], within: float) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.1)


async def test_a_merchant_call_runs_our_ivr_and_is_connected_to_an_agent(
        asterisk: Asterisk, tmp_path: Path) -> None:
    directory = InMemoryDirectory()
    directory.add_merchant(SHOP, [CALLER])
    routes = make_routes(directory, menu_with_prompts(tmp_path / "prompts"), lambda: DAYTIME)
    surveyed: list[str] = []
    survey = routes["survey"]

    async def survey_seen(session: AGISession) -> None:
        surveyed.append(session.request.unique_id)
        await survey(session)

    routes["survey"] = survey_seen
    server = FastAGIServer(routes)
    await server.start("127.0.0.1", asterisk.fastagi_port)
    events: list[AmiMessage] = []
    client = await _client(asterisk, events)

    def seen(name: str) -> list[AmiMessage]:
        return [e for e in events if e.name == name]

    try:
        await client.send("QueueAdd", [("Queue", "aftersales"),
                                       ("Interface", "Local/8001@test-agent/n"),
                                       ("MemberName", "Agent 8001")])
        # Keys: 1 = Chinese, 2 = after-sales, 2 = report a fault. The caller ID is the shop's.
        await client.send("Originate", [
            ("Channel", "Local/4008000000@from-trunk"), ("Context", "merchant-sim"),
            ("Exten", "s"), ("Priority", "1"), ("CallerID", f'"Merchant" <{CALLER}>'),
            ("Variable", "MS_KEYS=122"), ("Timeout", "10000"), ("Async", "true")])
        await until(lambda: bool(directory.results), within=30)
        [result] = directory.results
        assert result.caller == CALLER
        assert result.outcome is IvrOutcome.QUEUED
        assert (result.queue, result.intent, result.lang) == ("aftersales", "repair", "zh")
        assert result.merchant == SHOP and result.merchant_verified
        assert result.path.startswith("hello>lang:1>menu:2>")

        await until(lambda: bool(seen("AgentConnect")), within=20)
        [ivr] = [e for e in seen("UserEvent") if e.get("UserEvent") == "CcIvrResult"]
        assert ivr.get("CcQueue") == "aftersales"
        assert ivr.get("CcMerchantId") == SHOP.merchant_number
        assert ivr.get("CcIntent") == "repair"
        assert ivr.get("CcIvrPath") == result.path
        assert ivr.get("CcPriority") == str(result.priority)
        [join] = seen("QueueCallerJoin")
        assert join.get("Queue") == "aftersales"
        assert join.get("CallerIDNum") == CALLER
        assert seen("AgentConnect")[0].get("Interface") == "Local/8001@test-agent/n"
        # The agent hangs up after 2 s (Queue option c): the caller goes on to the survey.
        await until(lambda: bool(surveyed), within=20)
        assert surveyed == [result.unique_id]
    finally:
        await client.send("QueueRemove", [("Queue", "aftersales"),
                                          ("Interface", "Local/8001@test-agent/n")], check=False)
        await client.stop()
        await server.stop()
