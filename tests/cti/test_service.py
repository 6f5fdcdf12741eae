"""CtiService: real Asterisk 22 captures replayed into the service on a real SQLite store.

The captures are framed with AmiFramer and correlated with ActionTracker exactly as the AMI
client does, at their recorded pace (``.ami-timing.tsv``); the assertions read the database
the service wrote (calls, call_events, agent_state_log, recordings) and the messages it
published on the hub. Agent actions go to a fake AmiActions that records what it was asked
and encodes every action with the real ``encode_action``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from callcenter.auth import hash_password
from callcenter.cti_directory import StoreCtiDirectory
from callcenter.db.models import (
    AgentStateLogRow,
    CallEventRow,
    CallRow,
    ComplaintRow,
    RecordingRow,
    TaskRow,
)
from callcenter.db.repositories import Store
from callcenter.domain import Agent, MerchantInput, MerchantTag, Role, TerminalInput
from callcenter.errors import ValidationError
from cti.agent_state import AgentConfig
from cti.ami_protocol import (
    ActionResult,
    ActionTracker,
    AmiFramer,
    AmiMessage,
    MessageKind,
)
from cti.errors import AgentActionError, AmiActionError
from cti.ports import RecordingFinish, RecordingRegister, ResyncSnapshot
from cti.service import CtiService
from cti.wiring import CtiComponent
from tests.conftest import ASTERISK_FIXTURES
from tests.fakes.ami_actions import FakeAmiActions, ok
from tests.fakes.hub import RecordingHub

MERCHANT = "123456789012345"
PHONE = "13800138000"
BASE = 1795330124.0  # the lab clock: scenario 01's AgentCalled arrives at BASE + 13.359
NOW = datetime.fromtimestamp(BASE, UTC)
PASSWORD = "password-1"


def lab(n: str) -> str:
    return f"Local/{n}@agents/n"


# --------------------------------------------------------------------------- doubles


# --------------------------------------------------------------------------- seed and replay


@dataclass
class Env:
    store: Store
    hub: RecordingHub
    ami: FakeAmiActions
    service: CtiService
    merchant_id: int
    agents: dict[str, Agent]
    clock: list[float]


async def seed(store: Store, *, interfaces: Mapping[str, str] | None = None) -> int:
    """The fixtures' merchant (number 123456789012345, phone 13800138000) with two
    terminals, an open repair, a complaint, six earlier calls; agents 8001-8004 and 8099."""
    await store.merchants.upsert_many([
        MerchantInput(MERCHANT, "鑫源便利店", "上海市浦东新区张杨路 100 号", "上海市浦东新区",
                      "王伟", (PHONE, "02150551234"), "09:00-21:00",
                      frozenset({MerchantTag.HIGH_VALUE.value})),
        MerchantInput("102290054110002", "福满餐厅", "上海市徐汇区漕溪北路 8 号", "上海市徐汇区",
                      "李娜", ("02164001234",), "10:00-22:00"),
    ], NOW - timedelta(days=30))
    async with store.transaction() as s:
        ids = await store.merchants.by_numbers([MERCHANT], session=s)
        await store.terminals.upsert_many([
            TerminalInput("LA0000101", "LANDI A8", MERCHANT, date(2025, 1, 1)),
            TerminalInput("PA0000102", "PAX A920", MERCHANT, date(2025, 6, 1)),
        ], ids, session=s)
    merchant_id = ids[MERCHANT]
    async with store.transaction() as s:
        s.add(TaskRow(task_number="RP20261120-0003", kind="repair", status="assigned",
                      merchant_id=merchant_id, agent_number="8002", terminal_serial="LA0000101",
                      description="打印机不出纸", engineer="李工",
                      created_at=NOW - timedelta(days=2), updated_at=NOW - timedelta(days=1)))
        s.add(TaskRow(task_number="IN20261001-0001", kind="installation", status="done",
                      merchant_id=merchant_id, created_at=NOW - timedelta(days=50),
                      updated_at=NOW - timedelta(days=49)))
        s.add(ComplaintRow(merchant_id=merchant_id, complaint_class=1,
                           description="维修人员迟到", result="已道歉",
                           created_at=NOW - timedelta(days=10),
                           closed_at=NOW - timedelta(days=9)))
    for i in range(6):
        await store.calls.upsert(f"1795000000.{i}", NOW - timedelta(days=i + 1),
                                 caller_number=PHONE, merchant_id=merchant_id,
                                 queue="aftersales", agent_number="8002", outcome="answered",
                                 talk_s=60.0 + i, disposition="consultation")
    interfaces = dict(interfaces or {n: lab(n) for n in ("8001", "8002", "8003", "8004", "8099")})
    for number, interface in interfaces.items():
        user = await store.users.add(number, f"坐席{number}", Role.AGENT,
                                     password_hash(), NOW)
        await store.agents.add(number, f"坐席{number}", interface, ("aftersales", "presales"),
                               user.id)
    return merchant_id


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 takes ~0.4 s: once per run


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test run; each test works on a copy (migrating costs
    almost a second per test)."""
    from callcenter.db import migrate

    path = tmp_path_factory.mktemp("cti-template") / "cc.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def cti_store(template_db: Path, tmp_path: Path) -> AsyncIterator[Store]:
    from callcenter.db.engine import create_engine, session_factory

    path = tmp_path / "cc.db"
    shutil.copyfile(template_db, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        yield Store(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture
async def env(cti_store: Store) -> AsyncIterator[Env]:
    sqlite_store = cti_store
    merchant_id = await seed(sqlite_store)
    hub = RecordingHub()
    ami = FakeAmiActions()
    clock = [BASE]
    service = CtiService(StoreCtiDirectory(sqlite_store), hub, clock=lambda: clock[-1])
    service.attach(ami)
    await service.start()
    agents = {a.agent_number: a for a in await sqlite_store.agents.list()}
    try:
        yield Env(sqlite_store, hub, ami, service, merchant_id, agents, clock)
    finally:
        await service.stop()


def chunks(name: str) -> list[tuple[bytes, float]]:
    path = ASTERISK_FIXTURES / name
    data = path.read_bytes()
    out = []
    timing = Path(str(path).removesuffix(".ami") + ".ami-timing.tsv")
    for line in timing.read_text().splitlines():
        if not line.startswith("#"):
            offset, length, t = line.split("\t")
            out.append((data[int(offset):int(offset) + int(length)], float(t)))
    return out


def sent_actions(name: str) -> list[tuple[str, str]]:
    path = ASTERISK_FIXTURES / (name.removesuffix(".ami") + ".ami-actions.txt")
    return [(aid, act) for act, aid in
            re.findall(r"^Action: (\S+)\nActionID: (\S+)$", path.read_text(), re.M)]


@dataclass
class Replayed:
    results: list[ActionResult] = field(default_factory=list)
    end: float = 0.0


async def replay(env: Env, name: str, *, offset: float = BASE, settle: bool = True,
                 stop_before: str | None = None, start_at: float | None = None) -> Replayed:
    """Feed a capture to ``env.service`` as the AMI client would (events only; responses and
    list items go to the tracker). ``settle``: let card loads and writes finish after each
    recv() chunk, as they would in the real gaps between chunks. ``stop_before``: stop at the
    first event of that name (not fed). ``start_at``: skip chunks received before that t."""
    run = Replayed()
    framer, tracker = AmiFramer(), ActionTracker()
    for action_id, action in sent_actions(name):
        tracker.register(action_id, action)
    for chunk, t in chunks(name):
        now = offset + t
        for frame in framer.feed(chunk):
            if not isinstance(frame, AmiMessage):
                continue
            routed = tracker.feed(frame)
            if isinstance(routed, ActionResult):
                run.results.append(routed)
            elif routed is frame and frame.kind is MessageKind.EVENT:
                if start_at is not None and t < start_at:
                    continue
                if frame.name == stop_before:
                    run.end = now
                    return run
                env.clock.append(now)
                env.service.on_message(frame, now)
        run.end = now
        if settle:
            await env.service.settle()
    return run


async def call_row(store: Store, linked_id: str) -> CallRow:
    async with store.transaction() as s:
        row = await s.scalar(select(CallRow).where(CallRow.linked_id == linked_id))
        assert row is not None, f"no call row {linked_id}"
        return row


async def timeline(store: Store, linked_id: str) -> list[str]:
    async with store.transaction() as s:
        rows = await s.scalars(select(CallEventRow).where(CallEventRow.linked_id == linked_id)
                               .order_by(CallEventRow.id))
        return [r.kind for r in rows]


async def state_log(store: Store, agent_number: str) -> list[tuple[str, str, str, str]]:
    async with store.transaction() as s:
        rows = await s.scalars(select(AgentStateLogRow)
                               .where(AgentStateLogRow.agent_number == agent_number)
                               .order_by(AgentStateLogRow.id))
        return [(r.old_state, r.new_state, r.reason, r.cause) for r in rows]


async def recordings(store: Store) -> list[RecordingRow]:
    async with store.transaction() as s:
        return list(await s.scalars(select(RecordingRow).order_by(RecordingRow.id)))


async def call_count(store: Store) -> int:
    async with store.transaction() as s:
        return len(list(await s.scalars(select(CallRow.linked_id)
                                        .where(CallRow.linked_id.not_like("1795000000.%")))))


# --------------------------------------------------------------------------- persistence


async def test_answered_call_is_stored_with_outcome_wait_talk_agent_and_merchant(
        env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami")
    row = await call_row(env.store, "1795330137.0")
    assert row.outcome == "answered"
    assert row.queue == "aftersales" and row.agent_number == "8001"
    assert row.caller_number == PHONE and row.merchant_id == env.merchant_id
    assert row.unique_id == "1795330137.1"  # the inbound ;2 channel (the survey looks it up)
    assert row.wait_s == pytest.approx(2.0, abs=0.01)
    assert row.talk_s == pytest.approx(11.78, abs=0.01)
    assert row.answered_at == datetime.fromtimestamp(BASE + 15.360, UTC).replace(
        microsecond=row.answered_at.microsecond) and row.ended_at is not None
    assert await call_count(env.store) == 1


async def test_timeline_of_an_answered_call_is_written_in_order(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami")
    kinds = await timeline(env.store, "1795330137.0")
    assert kinds[0] == "created"
    for earlier, later in [("ivr_result", "queued"), ("queued", "agent_called"),
                           ("agent_called", "connected"), ("recording_started", "connected"),
                           ("connected", "agent_leg_ended"), ("agent_leg_ended", "ended")]:
        assert kinds.index(earlier) < kinds.index(later), kinds
    assert kinds[-1] == "ended"


async def test_agent_transitions_of_a_call_land_in_the_state_log(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami")
    env.service.tick(BASE + 40)  # the 5 s wrap-up is over
    await env.service.settle()
    assert await state_log(env.store, "8001") == [
        ("logged_out", "available", "", "QueueMemberAdded"),
        ("available", "ringing", "", "AgentCalled"),
        ("ringing", "on_call", "", "AgentConnect"),
        ("on_call", "wrap_up", "", "AgentComplete"),
        ("wrap_up", "available", "", "wrap-up time over"),
    ]
    assert await state_log(env.store, "8002") == [
        ("logged_out", "available", "", "QueueMemberAdded")]


async def test_recording_is_registered_at_start_and_closed_when_the_call_ends(
        env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami")
    (rec,) = await recordings(env.store)
    assert (rec.linked_id, rec.path) == ("1795330137.0", "1795330137.1.wav")
    assert rec.started_at is not None and rec.ended_at is not None
    assert (rec.ended_at - rec.started_at).total_seconds() == pytest.approx(11.78, abs=0.01)
    assert len(rec.token) >= 20 and "1795330137" not in rec.token


async def test_abandoned_call_and_lunch_pauses_are_recorded(env: Env) -> None:
    await replay(env, "02-abandoned-in-queue.ami")
    row = await call_row(env.store, "1795330205.0")
    assert row.outcome == "abandoned"
    assert row.answered_at is None and row.agent_number == ""
    assert row.wait_s == pytest.approx(8.78, abs=0.01)
    assert row.talk_s == 0
    for agent in ("8001", "8002"):
        assert ("available", "paused", "lunch", "QueueMemberPause") in await state_log(
            env.store, agent)
    assert await recordings(env.store) == []


async def test_ring_no_answer_then_answer_pops_both_agents_and_counts_the_wait(
        env: Env) -> None:
    await replay(env, "03-ring-no-answer-then-answer.ami")
    row = await call_row(env.store, "1795330233.0")
    assert (row.outcome, row.agent_number) == ("answered", "8002")
    assert row.wait_s == pytest.approx(19.0, abs=0.02)
    assert row.talk_s == pytest.approx(6.0, abs=0.01)
    assert "ring_no_answer" in await timeline(env.store, "1795330233.0")
    assert ("ringing", "available", "", "AgentRingNoAnswer") in await state_log(env.store, "8099")
    # each ringing agent: the minimal card at once, the full one as soon as it is loaded
    for agent in ("8099", "8002"):
        pops = env.hub.to(f"agent:{agent}", "pop")
        assert {p["linked_id"] for p in pops} == {"1795330233.0"}
        assert pops[-1]["partial"] is False and pops[-1]["card"]["merchant"]["id"] == \
            env.merchant_id


async def test_pause_reasons_survive_in_the_log_though_asterisk_forgets_them(env: Env) -> None:
    await replay(env, "04-pause-unpause-with-reason-and-logoff.ami")
    log_8001 = await state_log(env.store, "8001")
    assert ("available", "paused", "training", "QueueMemberPause") in log_8001
    assert ("paused", "available", "", "QueueMemberPause") in log_8001
    assert log_8001[-1][:2] == ("available", "logged_out")
    assert ("available", "paused", "lunch", "QueueMemberPause") in await state_log(
        env.store, "8002")
    today = await env.service.today("8001", BASE + 10)
    assert today["pause_by_reason"]["training"] == pytest.approx(1.514 - 1.010, abs=0.01)


async def test_blind_transfer_keeps_one_row_two_recordings_and_the_second_agent(
        env: Env) -> None:
    await replay(env, "06-blind-transfer.ami")
    row = await call_row(env.store, "1795330300.0")
    assert (row.outcome, row.queue, row.agent_number) == ("answered", "presales", "8003")
    assert row.talk_s == pytest.approx(4.007 + 21.771, abs=0.05)
    paths = [r.path for r in await recordings(env.store)]
    assert paths == ["1795330300.1.wav", "1795330300.1-presales.wav"]
    assert await call_count(env.store) == 1
    assert ("on_call", "available", "", "Hangup") in await state_log(env.store, "8001") or \
        ("on_call", "wrap_up", "", "Hangup") in await state_log(env.store, "8001")


async def test_supervisor_spy_legs_are_not_stored_as_merchant_calls(env: Env) -> None:
    await replay(env, "07-supervisor-spy.ami")
    assert await call_count(env.store) == 1
    assert (await call_row(env.store, "1795330349.0")).outcome == "answered"
    kinds = await timeline(env.store, "1795330349.0")
    assert kinds.count("spy_started") == 3


async def test_ivr_fields_already_in_the_row_are_not_overwritten(env: Env) -> None:
    # The IVR (callcenter/ivr_directory.py) wrote its result into the row first.
    await env.store.calls.upsert("1795330137.0", NOW, ivr_path="hello>lang:1>menu:2",
                                 intent="install", merchant_id=None, merchant_verified=True,
                                 lang="zh", priority=15, caller_number="13800138000",
                                 unique_id="1795330137.1")
    await replay(env, "01-agent-login-and-answered-call.ami")
    row = await call_row(env.store, "1795330137.0")
    assert (row.ivr_path, row.intent, row.lang, row.priority) == (
        "hello>lang:1>menu:2", "install", "zh", 15)
    assert row.merchant_verified is True
    assert row.merchant_id == env.merchant_id  # was empty: filled from the pop card
    assert row.started_at == NOW
    assert row.outcome == "answered"


async def test_restarted_bridge_adopts_the_call_in_progress_without_a_second_row(
        env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentComplete")
    assert await call_count(env.store) == 1
    # A new bridge process starts mid-call and resyncs from Asterisk's lists.
    hub = RecordingHub()
    fresh = CtiService(StoreCtiDirectory(env.store), hub, clock=lambda: BASE + 20)
    fresh.attach(env.ami)
    await fresh.start()
    try:
        env.ami.snapshot = channels_during_call_01()
        await fresh.on_connected()
        await fresh.settle()
        agent = fresh.dispatcher.state.agents.agents[lab("8001")]
        assert agent.status.value == "on_call"
        second = Env(env.store, hub, env.ami, fresh, env.merchant_id, env.agents, [BASE + 20])
        await replay(second, "01-agent-login-and-answered-call.ami", start_at=27.0)
        row = await call_row(env.store, "1795330137.0")
        assert row.outcome == "answered" and row.agent_number == "8001"
        assert row.started_at == datetime.fromtimestamp(BASE + 1.507, UTC).replace(
            microsecond=row.started_at.microsecond)
        assert await call_count(env.store) == 1
        assert "adopted" in await timeline(env.store, "1795330137.0")
    finally:
        await fresh.stop()


def channels_during_call_01() -> ResyncSnapshot:
    """Status/QueueStatus/QueueSummary as a bridge restarted at t=20 s of scenario 01 gets
    them (built from that call's own channel values, with the Status item's headers)."""
    def item(**h: str) -> AmiMessage:
        return AmiMessage.from_headers(list(h.items()))

    chans = [("Local/4008000000@from-trunk-00000000;1", "1795330137.0", "merchant-sim", ""),
             ("Local/4008000000@from-trunk-00000000;2", "1795330137.1", "from-trunk", "b1"),
             ("Local/8001@agents-00000001;1", "1795330149.2", "agents", "b1"),
             ("Local/8001@agents-00000001;2", "1795330149.3", "agents", "")]
    items = tuple(item(Event="Status", Channel=c, Context=ctx, Exten="4008000000",
                       Uniqueid=u, Linkedid="1795330137.0", CallerIDNum=PHONE, BridgeID=b,
                       Seconds="18", ActionID="r-1") for c, u, ctx, b in chans)
    channels = ActionResult("r-1", "Status", ok("r-1"), items,
                            item(Event="StatusComplete", ListItems="4", Items="4"))
    members = tuple(item(Event="QueueMember", ActionID="r-2", Queue="aftersales",
                         Location=lab(n), Name=f"Agent {n}", Paused="0", InCall=incall,
                         Status=st) for n, incall, st in (("8001", "1", "2"), ("8002", "0", "1")))
    status = ActionResult("r-2", "QueueStatus", ok("r-2"), members,
                          item(Event="QueueStatusComplete", ListItems="2"))
    summary = ActionResult("r-3", "QueueSummary", ok("r-3"), (),
                           item(Event="QueueSummaryComplete", ListItems="0"))
    return ResyncSnapshot(channels, status, summary)


# --------------------------------------------------------------------------- screen pop


async def test_screen_pop_reaches_the_ringing_agent_with_the_full_merchant_card(
        env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentCalled")
    await env.service.settle()  # the prefetch started at QueueCallerJoin is done
    await replay(env, "01-agent-login-and-answered-call.ami", start_at=13.0)
    pops = env.hub.to("agent:8001", "pop")
    assert pops[0]["partial"] is False
    card = pops[0]["card"]
    assert card["caller"] == PHONE and card["queue"] == "aftersales"
    merchant = card["merchant"]
    assert (merchant["merchant_number"], merchant["name"]) == (MERCHANT, "鑫源便利店")
    assert merchant["verified"] is True and merchant["tags"] == ["high_value"]
    assert merchant["business_hours"] == "09:00-21:00" and merchant["contact_person"] == "王伟"
    assert [t["serial"] for t in card["terminals"]] == ["LA0000101", "PA0000102"]
    assert card["ivr"]["path"] == "hello>menu:2>merchant:ok>intent:1"
    assert card["ivr"]["intent"] == "repair"
    assert [t["task_number"] for t in card["open_tasks"]] == ["RP20261120-0003"]
    assert len(card["recent_calls"]) == 5
    assert card["recent_calls"][0]["linked_id"] == "1795000000.0"  # newest first
    assert [c["description"] for c in card["complaints"]] == ["维修人员迟到"]
    assert env.hub.to("agent:8002", "pop") == []


async def test_ring_path_runs_no_database_query_between_agent_called_and_the_pop(
        env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentCalled")
    await env.service.settle()
    engine = env.store.sessions.kw["bind"]
    queries: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        queries.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        frame = first_event("01-agent-login-and-answered-call.ami", "AgentCalled")
        before = len(env.hub.messages)
        env.service.on_message(frame, BASE + 13.359)  # synchronous: returns after the publish
        published = env.hub.messages[before:]
        assert queries == []
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    (pop,) = [m for t, m in published if t == "agent:8001" and m["type"] == "pop"]
    assert pop["card"]["merchant"]["name"] == "鑫源便利店"


def first_event(name: str, event_name: str) -> AmiMessage:
    framer = AmiFramer()
    for chunk, _ in chunks(name):
        for frame in framer.feed(chunk):
            if isinstance(frame, AmiMessage) and frame.name == event_name:
                return frame
    raise AssertionError(f"no {event_name} in {name}")


async def test_pop_is_minimal_at_once_and_complete_when_the_card_has_loaded(env: Env) -> None:
    # In the capture the phone rings in the same millisecond the caller joins the queue:
    # the card cannot be loaded yet.
    await replay(env, "01-agent-login-and-answered-call.ami", settle=False,
                 stop_before="MixMonitorStart")
    pops = env.hub.to("agent:8001", "pop")
    assert len(pops) == 1 and pops[0]["partial"] is True
    assert pops[0]["card"]["caller"] == PHONE
    assert pops[0]["card"]["merchant_number"] == MERCHANT
    assert pops[0]["card"]["merchant"] is None
    await env.service.settle()
    pops = env.hub.to("agent:8001", "pop")
    assert [p["partial"] for p in pops] == [True, False]
    assert pops[1]["card"]["merchant"]["name"] == "鑫源便利店"


async def test_desk_is_told_connect_recording_end_and_wrapup(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami")
    calls = [(m["event"], m.get("recording")) for m in env.hub.to("agent:8001", "call")]
    assert calls[0] == ("recording", True) or calls[0][0] == "connected"
    events = [e for e, _ in calls]
    assert "connected" in events and events[-1] == "ended"
    assert [m["linked_id"] for m in env.hub.to("agent:8001", "wrapup")] == ["1795330137.0"]
    (today,) = env.hub.to("agent:8001", "today")
    assert today["today"]["calls"] == 1
    assert today["today"]["talk_s"] == pytest.approx(11.8, abs=0.05)
    states = [m["agent"]["status"] for m in env.hub.to("agent:8001", "state")]
    assert states == ["available", "ringing", "on_call", "wrap_up"]


async def test_hello_snapshot_has_the_state_the_card_and_today(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentComplete")
    env.clock.append(BASE + 20)
    hello = await env.service.desk_state(env.agents["8001"])
    assert hello["type"] == "hello" and hello["agent"]["status"] == "on_call"
    assert hello["call"]["linked_id"] == "1795330137.0"
    assert hello["call"]["recording"] is True
    assert hello["card"]["merchant"]["merchant_number"] == MERCHANT
    assert hello["today"]["calls"] == 1
    assert hello["demo_phone"] is False


# --------------------------------------------------------------------------- agent actions


async def test_login_adds_the_agent_to_each_queue_as_a_dynamic_member(env: Env) -> None:
    await env.service.login(env.agents["8001"])
    # the account's queues, then night: an aftersales/presales agent takes the night calls
    assert env.ami.sent == [
        ("QueueAdd", {"Queue": q, "Interface": lab("8001"), "MemberName": "8001 坐席8001",
                      "Penalty": "0", "Paused": "false", "StateInterface": "PJSIP/8001"})
        for q in ("aftersales", "presales", "night")]


async def test_login_is_refused_when_already_logged_in(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="Newchannel")
    with pytest.raises(AgentActionError) as refused:
        await env.service.login(env.agents["8001"])
    assert refused.value.error_id == "already_logged_in"
    assert env.ami.sent == []


async def test_login_tolerates_a_member_already_there(env: Env) -> None:
    env.ami.errors["QueueAdd"] = "Unable to add interface: Already there"
    assert (await env.service.login(env.agents["8002"]))["queues"] == ["aftersales", "presales",
                                                                      "night"]


async def test_pause_and_resume_use_queuepause_without_queue_and_keep_the_reason(
        env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="Newchannel")
    await env.service.pause(env.agents["8002"], "lunch")
    assert env.ami.sent[-1] == ("QueuePause", {"Interface": lab("8002"), "Paused": "true",
                                               "Reason": "lunch"})
    with pytest.raises(AgentActionError) as refused:
        await env.service.resume(env.agents["8002"])  # Asterisk has not confirmed the pause
    assert refused.value.error_id == "not_paused"
    pause = AmiMessage("Event: QueueMemberPause\r\nPrivilege: agent,all\r\nQueue: aftersales\r\n"
                       f"MemberName: Agent 8002\r\nInterface: {lab('8002')}\r\n"
                       f"StateInterface: {lab('8002')}\r\nMembership: dynamic\r\nPenalty: 0\r\n"
                       "CallsTaken: 0\r\nLastCall: 0\r\nInCall: 0\r\nStatus: 1\r\nPaused: 1\r\n"
                       "PausedReason: lunch")
    env.service.on_message(pause, BASE + 2)
    with pytest.raises(AgentActionError) as again:
        await env.service.pause(env.agents["8002"], "training")
    assert again.value.error_id == "already_paused"
    await env.service.resume(env.agents["8002"])
    assert env.ami.sent[-1] == ("QueuePause", {"Interface": lab("8002"), "Paused": "false"})


async def test_pause_refuses_unknown_reasons_and_logged_out_agents(env: Env) -> None:
    with pytest.raises(AgentActionError) as refused:
        await env.service.pause(env.agents["8001"], "lunch")
    assert refused.value.error_id == "not_logged_in"
    with pytest.raises(ValidationError) as bad:
        await env.service.pause(env.agents["8001"], "lunch\r\nAction: Originate")
    assert bad.value.field == "reason"
    assert env.ami.sent == []


async def test_logout_removes_every_membership_and_is_refused_on_a_call(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentComplete")
    with pytest.raises(AgentActionError) as busy:
        await env.service.logout(env.agents["8001"])
    assert busy.value.error_id == "agent_busy"
    await env.service.logout(env.agents["8002"])
    assert env.ami.sent == [("QueueRemove", {"Queue": "aftersales", "Interface": lab("8002")})]


async def test_click_to_dial_originates_from_the_agents_phone_once_per_key(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="Newchannel")
    env.ami.originate_delay = 0.05
    agent = env.agents["8002"]
    first, second = await asyncio.gather(
        env.service.dial(agent, "138-0013-8000", idempotency_key="k-0001-double", label="鑫源"),
        env.service.dial(agent, "138-0013-8000", idempotency_key="k-0001-double", label="鑫源"))
    (originate,) = env.ami.originates
    assert originate["Channel"] == lab("8002")
    assert (originate["Context"], originate["Exten"], originate["Priority"]) == (
        "cc-outbound", PHONE, "1")
    assert originate["CallerID"] == '"鑫源" <13800138000>'
    assert originate["key"] == "k-0001-double"
    assert originate["variables"]["CC_AGENT"] == "8002"
    assert first["number"] == PHONE and second.get("repeated") is True
    third = await env.service.dial(agent, PHONE, idempotency_key="k-0001-double")
    assert third["repeated"] is True and len(env.ami.originates) == 1
    await env.service.dial(agent, PHONE, idempotency_key="k-0002-next")
    assert len(env.ami.originates) == 2


async def test_click_to_dial_is_refused_when_not_available_or_the_number_is_bad(
        env: Env) -> None:
    with pytest.raises(AgentActionError) as refused:
        await env.service.dial(env.agents["8001"], PHONE, idempotency_key="k-logged-out")
    assert refused.value.error_id == "not_logged_in"
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentComplete")
    with pytest.raises(AgentActionError) as on_call:
        await env.service.dial(env.agents["8001"], PHONE, idempotency_key="k-on-a-call")
    assert on_call.value.error_id == "not_available"
    with pytest.raises(ValidationError):
        await env.service.dial(env.agents["8002"], "13800138000\r\nAction: Hangup",
                               idempotency_key="k-injection")
    with pytest.raises(ValidationError):
        await env.service.dial(env.agents["8002"], PHONE, idempotency_key="bad key\n")
    assert env.ami.originates == []


async def test_blind_transfer_redirects_the_callers_channel(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentComplete")
    await env.service.transfer(env.agents["8001"], "presales")
    assert env.ami.sent[-1] == ("Redirect", {
        "Channel": "Local/4008000000@from-trunk-00000000;2", "Context": "cc-transfer",
        "Exten": "presales", "Priority": "1"})
    await env.service.transfer(env.agents["8001"], "8003")
    assert env.ami.sent[-1][1]["Context"] == "agents"


async def test_attended_transfer_and_hangup_act_on_the_agents_leg(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentComplete")
    await env.service.transfer(env.agents["8001"], "8003", attended=True)
    assert env.ami.sent[-1] == ("Atxfer", {"Channel": "Local/8001@agents-00000001;1",
                                           "Exten": "8003", "Context": "agents"})
    await env.service.hangup(env.agents["8001"])
    assert env.ami.sent[-1] == ("Hangup", {"Channel": "Local/8001@agents-00000001;1",
                                           "Cause": "16"})


async def test_transfer_and_hangup_are_refused_without_a_call(env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="AgentComplete")
    for action in (env.service.hangup(env.agents["8002"]),
                   env.service.transfer(env.agents["8002"], "presales")):
        with pytest.raises(AgentActionError) as refused:
            await action
        assert refused.value.error_id == "not_on_call"
    with pytest.raises(ValidationError):
        await env.service.transfer(env.agents["8001"], "presales\r\nAction: Originate")
    assert env.ami.sent == []


async def test_a_value_asterisk_cannot_carry_becomes_a_validation_error(env: Env) -> None:
    bad = Agent(id=99, agent_number="8005", name="x", interface="PJSIP/8005\r\nAction: Hangup",
                queues=("aftersales",), skills=(), user_id=None)
    with pytest.raises(ValidationError) as refused:
        await env.service.login(bad)
    assert refused.value.field == "interface"
    assert env.ami.sent == []


async def test_an_asterisk_error_reaches_the_caller_with_its_message(env: Env) -> None:
    env.ami.errors["QueueAdd"] = "Unable to add interface: No such queue"
    with pytest.raises(AmiActionError) as failed:
        await env.service.login(env.agents["8001"])
    assert "No such queue" in failed.value.message


async def test_a_failed_login_removes_the_agent_from_the_queues_it_was_added_to(
        env: Env) -> None:
    env.ami.queue_errors["night"] = "Unable to add interface: No such queue"
    with pytest.raises(AmiActionError):
        await env.service.login(env.agents["8001"])
    assert [(a, h["Queue"]) for a, h in env.ami.sent] == [
        ("QueueAdd", "aftersales"), ("QueueAdd", "presales"), ("QueueAdd", "night"),
        ("QueueRemove", "presales"), ("QueueRemove", "aftersales")]


async def test_a_login_failing_on_its_first_queue_removes_nothing(env: Env) -> None:
    env.ami.queue_errors["aftersales"] = "Unable to add interface: No such queue"
    with pytest.raises(AmiActionError):
        await env.service.login(env.agents["8001"])
    assert [a for a, _h in env.ami.sent] == ["QueueAdd"]


async def test_a_held_wrap_up_pauses_the_agent_until_the_wrap_up_is_saved(env: Env) -> None:
    # issue 13: Asterisk's 5 s wrap-up would ring the agent over a half-typed form
    held = CtiService(StoreCtiDirectory(env.store), env.hub, clock=lambda: env.clock[-1],
                      agent_config=AgentConfig(wrap_up_s=5.0, hold_wrap_up_s=300.0))
    held.attach(env.ami)
    await held.start()
    try:
        second = Env(env.store, env.hub, env.ami, held, env.merchant_id, env.agents, env.clock)
        await replay(second, "01-agent-login-and-answered-call.ami")
        await held.settle()
        assert ("QueuePause", {"Interface": lab("8001"), "Paused": "true",
                               "Reason": "acw"}) in env.ami.sent
        hello = held.snapshot(env.agents["8001"])
        assert hello["agent"]["status"] == "wrap_up"
        assert hello["unsaved"] == ["1795330137.0"]
        env.ami.sent.clear()
        held.wrapup_saved("1795330137.0")
        await held.settle()
        assert env.ami.sent == [("QueuePause", {"Interface": lab("8001"), "Paused": "false"})]
        after = held.snapshot(env.agents["8001"])
        assert after["agent"]["status"] == "available" and after["unsaved"] == []
        assert {"type": "wrapup_saved", "linked_id": "1795330137.0"} in env.hub.to(
            "agent:8001")
    finally:
        await held.stop()


async def test_an_agent_whose_desk_stays_closed_is_paused_disconnected(env: Env) -> None:
    away = CtiService(StoreCtiDirectory(env.store), env.hub, clock=lambda: env.clock[-1],
                      agent_config=AgentConfig(desk_grace_s=60.0))
    away.attach(env.ami)
    await away.start()
    try:
        second = Env(env.store, env.hub, env.ami, away, env.merchant_id, env.agents, env.clock)
        await replay(second, "01-agent-login-and-answered-call.ami", stop_before="Newchannel")
        agent = env.agents["8001"]
        env.clock.append(BASE + 10)
        away.desk_opened(agent)
        away.desk_closed(agent)  # the browser is closed
        away.tick(BASE + 69)
        await away.settle()
        assert env.ami.sent == []
        away.tick(BASE + 70)
        await away.settle()
        assert env.ami.sent == [("QueuePause", {"Interface": lab("8001"), "Paused": "true",
                                                "Reason": "disconnected"})]
    finally:
        await away.stop()


# --------------------------------------------------------------------------- issue #12


@pytest.mark.parametrize(("own", "interface", "sent"), [
    (None, lab("8001"), "PJSIP/8001"),  # the configured template, as before
    ("", lab("8001"), None),  # the account says: no state interface
    ("PJSIP/desk-8001", lab("8001"), "PJSIP/desk-8001"),  # the account's own device
    (None, "PJSIP/8001", None),  # a device interface follows itself
])
async def test_login_sends_the_accounts_state_interface(
        env: Env, own: str | None, interface: str, sent: str | None) -> None:
    agent = replace(env.agents["8001"], interface=interface, state_interface=own)
    await env.service.login(agent)
    headers = [h for action, h in env.ami.sent if action == "QueueAdd"]
    assert headers and all(h.get("StateInterface") == sent for h in headers)


async def test_a_resync_that_cannot_read_a_list_keeps_the_rest_and_says_degraded(
        env: Env) -> None:
    lists = channels_during_call_01()
    refused = AmiActionError("Permission denied", action="Status", action_id="r-1")
    env.ami.snapshot = ResyncSnapshot(None, lists.queue_status, lists.queue_summary,
                                      (("Status", refused),))
    await env.service.on_connected()
    resync = env.service.health()["resync"]
    assert resync["ok"] is False
    assert resync["failed"] == {"Status": "AmiActionError: Status [r-1]: Permission denied"}
    # QueueStatus still counted: the agents are there.
    assert env.service.dispatcher.state.agents.agents[lab("8002")].status.value == "available"
    component = CtiComponent(env.service, client=None)
    report = await component.health()
    assert report["ok"] is False and report["resync_failed"] == resync["failed"]
    env.ami.snapshot = lists
    await env.service.on_connected()
    assert env.service.health()["resync"]["ok"] is True


async def test_a_finished_recording_gets_the_size_of_its_file(
        cti_store: Store, tmp_path: Path) -> None:
    directory = StoreCtiDirectory(cti_store, tmp_path)
    at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    await directory.register_recording(RecordingRegister(
        "1796199319.0", "/var/spool/asterisk/monitor/1796199319.1.wav", at))
    await directory.register_recording(RecordingRegister(
        "1796199319.0", "/var/spool/asterisk/monitor/gone.wav", at))
    (tmp_path / "1796199319.1.wav").write_bytes(b"RIFF" + bytes(8000))
    await directory.finish_recordings(RecordingFinish("1796199319.0", at))
    sizes = {r.path: (r.size_bytes, r.ended_at) for r in
             await directory.recordings.for_call("1796199319.0")}
    assert sizes == {"1796199319.1.wav": (8004, at), "gone.wav": (None, at)}


async def test_a_click_to_dial_call_is_kept_with_its_row_timeline_and_recording(
        env: Env) -> None:
    await replay(env, "01-agent-login-and-answered-call.ami", stop_before="Newchannel")
    linked, leg = "1795339999.0", "Local/8002@agents-0000000a;1"

    def event(name: str, **headers: str) -> AmiMessage:
        return AmiMessage.from_headers([("Event", name), ("Privilege", "call,all"),
                                        *headers.items()])

    # The Originate's channel appears, [cc-outbound] starts MixMonitor, then the answer.
    env.service.on_message(event("Newchannel", Channel=leg, ChannelState="0",
                                 CallerIDNum="<unknown>", Context="agents", Exten="8002",
                                 Uniqueid=linked, Linkedid=linked), BASE + 100)
    env.service.on_message(event("MixMonitorStart", Channel=leg, Uniqueid=linked,
                                 Linkedid=linked), BASE + 101)
    env.ami.answered_leg = (linked, leg)
    env.clock.append(BASE + 101.5)
    result = await env.service.dial(env.agents["8002"], "13800138000",
                                    idempotency_key="click-to-dial-0001")
    assert result["status"] == "answered"
    assert env.service.dispatcher.state.agents.agents[lab("8002")].status.value == "on_call"
    # [cc-outbound] dials the merchant from the agent's leg: the desk hears how it goes
    trunk = {"DestChannel": "PJSIP/trunk-0000000b", "DestUniqueid": "1795339999.1"}
    env.service.on_message(event("DialBegin", Channel=leg, Uniqueid=linked, Linkedid=linked,
                                 DialString="13800138000@trunk", **trunk), BASE + 101.6)
    env.service.on_message(event("DialEnd", Channel=leg, Uniqueid=linked, Linkedid=linked,
                                 DialStatus="ANSWER", **trunk), BASE + 108)
    assert [m["status"] for m in env.hub.to("agent:8002", "dial")] == [
        "answered", "ringing", "connected"]
    env.service.on_message(event("Hangup", Channel=leg, Uniqueid=linked, Linkedid=linked,
                                 Cause="16"), BASE + 130)
    await env.service.settle()

    row = await call_row(env.store, linked)
    assert (row.caller_number, row.agent_number, row.intent, row.outcome) == (
        "13800138000", "8002", "outbound", "answered")
    assert row.talk_s == pytest.approx(28.5) and row.ended_at is not None
    assert "reclassified" in await timeline(env.store, linked)
    [recording] = await StoreCtiDirectory(env.store).recordings.for_call(linked)
    assert recording.path == f"{linked}.wav" and recording.ended_at is not None
    pushed = env.hub.to("agent:8002", "call")
    assert [(m["event"], m.get("recording")) for m in pushed] == [
        ("connected", True), ("recording", False), ("ended", None)]
