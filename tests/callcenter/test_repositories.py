"""Repository behaviour, run on SQLite and on PostgreSQL (when reachable)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from callcenter.domain import MerchantInput, Role, TerminalInput
from callcenter.errors import Conflict, NotFound, ValidationError
from callcenter.service import add_user, import_merchants, import_terminals, set_agent_queues

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

MERCHANTS = (
    "merchant_number,name,address,district,contact_person,phones,business_hours,tags\n"
    "310115000000001,浦东便利店,上海市浦东新区张杨路500号,浦东新区,王伟,13800138000,08:00-22:00,high_value\n"
    "310115000000002,徐汇面馆,上海市徐汇区漕溪北路1号,徐汇区,李娜,13900139000;02158881234,10:00-22:00,\n"
    "310115000000003,静安药房,上海市静安区南京西路2号,静安区,张强,02158881234,09:00-21:00,new\n"
)
TERMINALS = (
    "serial,model,merchant_number,install_date,status\n"
    "LA80001,LANDI A8,310115000000001,2025-03-18,active\n"
    "PA90001,PAX A920,310115000000002,2024-01-02,active\n"
)


def m(number: str, phones: tuple[str, ...] = ("13800138000",), name: str = "店") -> MerchantInput:
    return MerchantInput(number, name, "地址", "区", "人", phones, "09:00-21:00")


async def test_reimporting_the_same_csv_changes_nothing(store: Any) -> None:
    first = await import_merchants(store, MERCHANTS, NOW)
    assert (first.created, first.updated, first.unchanged, first.committed) == (3, 0, 0, True)
    second = await import_merchants(store, MERCHANTS, NOW + timedelta(hours=1))
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    merchant = await store.merchants.by_number("310115000000001")
    assert merchant.updated_at == NOW


async def test_import_with_a_bad_row_commits_nothing(store: Any) -> None:
    bad = MERCHANTS + "31011500000000X,坏,址,区,人,13800138000,,\n"
    report = await import_merchants(store, bad, NOW)
    assert not report.committed
    assert [e.line for e in report.errors] == [5]
    assert await store.merchants.count() == 0


async def test_skip_bad_imports_the_good_rows(store: Any) -> None:
    bad = MERCHANTS + "31011500000000X,坏,址,区,人,13800138000,,\n"
    report = await import_merchants(store, bad, NOW, skip_bad=True)
    assert report.committed and report.created == 3 and len(report.errors) == 1


async def test_changed_row_updates_merchant_and_phones(store: Any) -> None:
    await store.merchants.upsert_many([m("310115000000001", ("13800138000", "13900139000"))], NOW)
    later = NOW + timedelta(days=1)
    result = await store.merchants.upsert_many([m("310115000000001", ("13700137000",), "新店")],
                                               later)
    assert result == (0, 1, 0)
    merchant = await store.merchants.by_number("310115000000001")
    assert merchant.phones == ("13700137000",) and merchant.name == "新店"
    assert merchant.updated_at == later and merchant.created_at == NOW
    assert await store.merchants.by_phone("13800138000") == []


async def test_one_phone_can_belong_to_several_merchants(store: Any) -> None:
    await import_merchants(store, MERCHANTS, NOW)
    found = await store.merchants.by_phone("02158881234")
    assert sorted(x.merchant_number for x in found) == ["310115000000002", "310115000000003"]
    [single] = await store.merchants.by_phone("13800138000")
    assert single.high_value


async def test_terminal_import_reports_unknown_merchant_and_commits_nothing(store: Any) -> None:
    await import_merchants(store, MERCHANTS, NOW)
    text = TERMINALS + "NL10001,NEWLAND N910,310115999999999,,active\n"
    report = await import_terminals(store, text)
    assert not report.committed
    assert [(e.line, e.field) for e in report.errors] == [(4, "merchant_number")]
    assert await store.terminals.count() == 0
    ok = await import_terminals(store, TERMINALS)
    assert ok.created == 2
    again = await import_terminals(store, TERMINALS)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    merchant = await store.merchants.by_number("310115000000001")
    [terminal] = await store.terminals.for_merchant(merchant.id)
    assert terminal.install_date == date(2025, 3, 18)


async def test_terminal_moving_to_another_merchant_is_an_update(store: Any) -> None:
    await import_merchants(store, MERCHANTS, NOW)
    await import_terminals(store, TERMINALS)
    moved = TERMINALS.replace("LA80001,LANDI A8,310115000000001", "LA80001,LANDI A8,310115000000003")
    report = await import_terminals(store, moved)
    assert (report.updated, report.unchanged) == (1, 1)
    term = await store.terminals.by_serial("LA80001")
    assert term.merchant_id == (await store.merchants.by_number("310115000000003")).id


async def test_agent_account_gets_an_agent_record_and_verified_password(store: Any) -> None:
    from callcenter.auth import verify_password

    user = await add_user(store, NOW, username="8001", display_name="王芳", role=Role.AGENT,
                          password="secret-pw", agent_number="8001", interface="PJSIP/8001",
                          queues=("aftersales",))
    agent = await store.agents.by_user(user.id)
    assert agent.agent_number == "8001" and agent.queues == ("aftersales",)
    creds = await store.users.credentials("8001")
    assert creds is not None and verify_password(creds[1], "secret-pw")
    assert not verify_password(creds[1], "wrong")
    assert "secret-pw" not in creds[1]
    with pytest.raises(Conflict):
        await add_user(store, NOW, username="8001", display_name="x", role=Role.SUPERVISOR,
                       password="another-pw")


async def test_an_agents_queues_must_be_hotline_queues_and_can_be_changed(store: Any) -> None:
    with pytest.raises(ValidationError, match="unknown queue 'vip'"):
        await add_user(store, NOW, username="8002", display_name="李娜", role=Role.AGENT,
                       password="secret-pw", agent_number="8002", interface="PJSIP/8002",
                       queues=("aftersales", "vip"))
    assert await store.agents.list() == []
    user = await add_user(store, NOW, username="8002", display_name="李娜", role=Role.AGENT,
                          password="secret-pw", agent_number="8002", interface="PJSIP/8002",
                          queues=("complaints",))
    changed = await set_agent_queues(store, "8002", ["techsupport", " aftersales", ""])
    assert changed.queues == ("techsupport", "aftersales")
    stored = await store.agents.by_user(user.id)
    assert stored is not None and stored.queues == ("techsupport", "aftersales")
    with pytest.raises(ValidationError, match="at least one queue"):
        await set_agent_queues(store, "8002", [])
    with pytest.raises(NotFound):
        await set_agent_queues(store, "nobody", ["presales"])


async def test_calls_are_keyed_on_linked_id_and_timestamps_stay_utc(store: Any) -> None:
    call = await store.calls.upsert("1795330137.0", NOW, caller_number="13800138000",
                                    ivr_path="hello>menu:2")
    assert call.started_at == NOW and call.started_at.tzinfo is not None
    answered = NOW + timedelta(seconds=14)
    call = await store.calls.upsert("1795330137.0", NOW, answered_at=answered, agent_number="8001")
    assert call.ivr_path == "hello>menu:2" and call.answered_at == answered
    await store.calls.add_event("1795330137.0", NOW, "queued", {"queue": "aftersales"})
    [event] = await store.calls.events("1795330137.0")
    assert event.data == {"queue": "aftersales"}
    assert await store.calls.called_since("13800138000", NOW - timedelta(hours=24))
    assert not await store.calls.called_since("13800138000", NOW - timedelta(hours=24),
                                              exclude_linked_id="1795330137.0")
    with pytest.raises(ValueError, match="unknown call fields"):
        await store.calls.upsert("1795330137.0", NOW, no_such_field=1)


async def test_demo_data_loads_idempotently(store: Any) -> None:
    from callcenter.demo_data import generate
    from callcenter.service import load_demo_data

    data = generate(merchants=30, agents=3)
    first = await load_demo_data(store, data, NOW)
    second = await load_demo_data(store, data, NOW)
    assert first["merchants_created"] == 30 and second["merchants_created"] == 0
    assert second["users_created"] == 0
    records = await store.agents.list()
    assert len([a for a in records if a.queues]) == 3  # the agents
    # and the supervisor's own phone (no queues), which live monitoring rings
    assert [(a.agent_number, a.interface) for a in records if not a.queues] \
        == [("9000", "PJSIP/9000")]
    assert await store.terminals.count() == len(data.terminals)
    # the demo team lead leads 一组: the first agents
    from callcenter.team_directory import SqlTeamDirectory

    lead = await store.users.by_username("teamlead")
    assert lead is not None
    assert await SqlTeamDirectory(store).team_agents(lead.id) == {"8001", "8002", "8003"}


def test_terminal_input_defaults_to_active() -> None:
    assert TerminalInput("S1", "LANDI A8", "310115000000001", None).status == "active"
