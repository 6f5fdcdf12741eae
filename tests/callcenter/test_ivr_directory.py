"""The IVR on the real domain store: look-ups, recording, and a whole call over FastAGI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callcenter.domain import MerchantInput, MerchantTag
from callcenter.ivr_directory import StoreIvrDirectory
from ivr.agi_server import FastAgiServer
from ivr.calendar import ServiceMode
from ivr.menu_config import MenuRegistry
from ivr.ports import IvrOutcome, IvrResult, MerchantRef
from ivr.prompts import load_catalogue
from ivr.service import make_routes
from tests.fakes.agi_asterisk import FakeAsterisk, header_block

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # Monday 11:00 in Shanghai: day service

MERCHANTS = [
    MerchantInput("102290054110001", "上海鑫源便利店", "上海市浦东新区张杨路500号", "上海市浦东新区",
                  "王伟", ("13800138000",), "08:00-22:00", frozenset({MerchantTag.HIGH_VALUE})),
    MerchantInput("102290054110002", "上海福满超市", "址", "上海市徐汇区", "李娜",
                  ("02158881234",), "09:00-21:00"),
    MerchantInput("102290054110003", "上海华联药房", "址", "上海市静安区", "张强",
                  ("02158881234",), "09:00-21:00"),
]

TREE = str(Path(__file__).resolve().parents[2])  # the checkout these tests belong to


async def _seed(store: Any) -> StoreIvrDirectory:
    await store.merchants.upsert_many(MERCHANTS, NOW - timedelta(days=30))
    return StoreIvrDirectory(store)


def _result(directory_merchant: MerchantRef | None, outcome: IvrOutcome,
            linked_id: str = "1795330137.0") -> IvrResult:
    return IvrResult(unique_id="1795330137.1", linked_id=linked_id, caller="+86 138 0013 8000",
                     started_at=NOW, ended_at=NOW + timedelta(seconds=20), mode=ServiceMode.DAY,
                     lang="zh", merchant=directory_merchant, merchant_verified=True,
                     intent="repair", queue="aftersales", priority=10,
                     path="hello>lang:1>menu:2>merchant:ok>intent:2", outcome=outcome)


async def test_caller_id_lookup_normalises_and_reports_ambiguity(store: Any) -> None:
    d = await _seed(store)
    [one] = await d.merchants_by_phone("+8613800138000")
    assert one.merchant_number == "102290054110001" and one.high_value
    assert len(await d.merchants_by_phone("021-5888-1234")) == 2
    assert await d.merchants_by_phone("anonymous") == []
    assert await d.merchant_by_number("102290054110002") is not None
    assert await d.merchant_by_number("1022900541100") is None


async def test_ivr_result_lands_on_the_call_keyed_by_linked_id(store: Any) -> None:
    d = await _seed(store)
    merchant = await d.merchant_by_number("102290054110001")
    await d.record_ivr_result(_result(merchant, IvrOutcome.QUEUED))
    call = await store.calls.get("1795330137.0")
    assert call.caller_number == "13800138000"
    assert call.merchant_id == merchant.id and call.merchant_verified
    assert (call.intent, call.queue, call.priority) == ("repair", "aftersales", 10)
    assert call.outcome is None  # still in progress: the CTI bridge finishes it
    [event] = await store.calls.events("1795330137.0")
    assert event.kind == "ivr" and event.data["outcome"] == "queued"


async def test_hangup_in_the_ivr_is_recorded_as_ivr_only(store: Any) -> None:
    d = await _seed(store)
    await d.record_ivr_result(_result(None, IvrOutcome.IVR_HANGUP, linked_id="9.0"))
    call = await store.calls.get("9.0")
    assert call.outcome == "ivr_only" and call.ended_at is not None


async def test_recent_caller_counts_only_finished_calls(store: Any) -> None:
    d = await _seed(store)
    await store.calls.upsert("1.0", NOW - timedelta(minutes=1), caller_number="13800138000")
    assert not await d.called_recently("13800138000", NOW)  # that is the call in progress
    await store.calls.upsert("0.5", NOW - timedelta(hours=3), caller_number="13800138000",
                             ended_at=NOW - timedelta(hours=3) + timedelta(minutes=4))
    assert await d.called_recently("+86 13800138000", NOW)
    assert not await d.called_recently("13800138000", NOW + timedelta(hours=22))


async def test_satisfaction_score_is_stored_with_the_call(store: Any) -> None:
    d = await _seed(store)
    await d.record_ivr_result(_result(None, IvrOutcome.QUEUED))
    await d.record_satisfaction("1795330137.1", None, 5)
    assert (await store.calls.get("1795330137.0")).satisfaction == 5


async def test_a_whole_repair_call_over_fastagi_reaches_the_database(sqlite_store: Any) -> None:
    d = await _seed(sqlite_store)
    registry = MenuRegistry(prompt_ids=load_catalogue().ids)
    server = FastAgiServer(make_routes(d, registry, clock=lambda: NOW))
    port = await server.start("127.0.0.1", 0)
    variables: dict[str, str] = {}

    def respond(command: str) -> bytes:
        if command == "GET VARIABLE CALLERID(num)":
            return b"200 result=1 (13800138000)\n"
        if command == "GET VARIABLE CHANNEL(linkedid)":
            return b"200 result=1 (1795330137.0)\n"
        if command.startswith("SET VARIABLE"):
            _, _, name, value = command.split(" ", 3)
            variables[name] = value.strip('"')
            return b"200 result=1\n"
        if command.startswith("EXEC MSet "):  # the hand-off, as pbx_builtin_setvar_multiple
            for pair in command.removeprefix("EXEC MSet ").strip('"').split(","):
                name, _, value = pair.partition("=")
                variables[name] = value
            return b"200 result=0\n"
        if command.startswith("GET DATA"):
            prompt = command.split()[2]
            digit = {"choose_language": "1", "main_menu": "2", "aftersales_menu": "2"}
            for key, value in digit.items():
                if prompt.endswith(key):
                    return f"200 result={value}\n".encode()
            return b"200 result= (timeout)\n"
        return b"200 result=0 endpos=8000\n"

    try:
        asterisk = await FakeAsterisk.connect(port)
        await asterisk.send(header_block())
        await asterisk.serve(respond)
        await asterisk.finish()
    finally:
        await server.stop()
    assert variables["CC_MERCHANT_ID"] == "102290054110001"
    assert variables["CC_MERCHANT_VERIFIED"] == "1"
    assert variables["CC_INTENT"] == "repair"
    assert variables["CC_QUEUE"] == "aftersales"
    call = await sqlite_store.calls.get("1795330137.0")
    assert call.ivr_path == variables["CC_IVR_PATH"]
    assert call.intent == "repair" and call.merchant_verified
    assert call.priority == int(variables["CC_PRIORITY"]) > 0  # high-value merchant


async def test_classic_agi_script_runs_the_same_hotline_on_the_database(
        sqlite_url: str, sqlite_store: Any, tmp_path: Any) -> None:
    """``callcenter-agi hotline`` as Asterisk runs it: one process, stdin/stdout."""
    await _seed(sqlite_store)
    call, seen = await _run_classic_agi(sqlite_url, tmp_path)
    assert any(line.startswith("EXEC MSet ") and ",CC_INTENT=consult," in line for line in seen)
    assert call is not None and call.intent == "consult"
    # The script runs on the real clock: pre-sales by day, the night queue from 20:00 to 08:00
    # Shanghai time, after-sales on holidays (ivr/hotline.toml [modes.*]).
    assert call.queue in {"presales", "night", "aftersales"}
    [handoff] = [line for line in seen if line.startswith("EXEC MSet ")]
    assert f",CC_QUEUE={call.queue}," in handoff


async def test_classic_agi_script_follows_the_business_hours_changed_in_admin(
        sqlite_url: str, sqlite_store: Any, tmp_path: Any) -> None:
    """Business hours 00:00-23:59 and no holidays, stored as ``/admin`` stores them: the
    per-call script routes to pre-sales (day) whatever the files say, without a restart."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from callcenter.runtime_settings import validate_changes
    from callcenter.runtime_settings_store import SqlRuntimeSettingsStore

    await _seed(sqlite_store)
    await SqlRuntimeSettingsStore(sqlite_store).save(
        validate_changes({"business_hours": {"start": "00:00", "end": "23:59"},
                          "holidays": []}), [], actor="root", at=datetime.now(UTC))
    call, _seen = await _run_classic_agi(sqlite_url, tmp_path)
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    assert call is not None
    assert call.queue == ("night" if (local.hour, local.minute) == (23, 59) else "presales")


async def _run_classic_agi(sqlite_url: str, tmp_path: Any) -> tuple[Any, list[str]]:
    import asyncio
    import os
    import sys

    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store

    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env["CALLCENTER_DATABASE_URL"] = sqlite_url
    # this tree's code, also when the virtualenv's editable install points at another checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in (TREE, env.get("PYTHONPATH", "")) if p)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from callcenter.agi_routes import main; raise SystemExit(main())",
        "hotline", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
        cwd=tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(header_block(agi_network="no", agi_request="callcenter-agi"))
    seen: list[str] = []
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            break
        command = line.decode().rstrip("\n")
        seen.append(command)
        if command == "GET VARIABLE CALLERID(num)":
            reply = b"200 result=1 (13800138000)\n"
        elif command == "GET VARIABLE CHANNEL(linkedid)":
            reply = b"200 result=1 (77.0)\n"
        elif command.startswith("GET DATA"):
            prompt = command.split()[2]
            reply = (b"200 result=1\n" if prompt.endswith(("choose_language", "main_menu"))
                     else b"200 result= (timeout)\n")
        elif command.startswith("SET VARIABLE"):
            reply = b"200 result=1\n"
        else:
            reply = b"200 result=0 endpos=8000\n"
        proc.stdin.write(reply)
        await proc.stdin.drain()
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    engine = create_engine(sqlite_url)
    try:
        return await Store(session_factory(engine)).calls.get("77.0"), seen
    finally:
        await engine.dispose()
