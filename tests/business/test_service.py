"""Wrap-up → business record, de-duplication, merchant updates, complaints, board actions and
alerts, on SQLite and PostgreSQL (the ``store`` fixture runs each test on both)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from callcenter.business import repository
from callcenter.business.business_protocol import idempotency_key
from callcenter.business.errors import NotYourCall, PossibleDuplicate, WrapupInvalid
from callcenter.business.repository import BusinessRepository
from callcenter.business.service import BusinessService
from callcenter.business.sla import Tier
from callcenter.business.task_state import Command, TaskAction
from callcenter.business.wrapup import WrapupForm
from callcenter.db.models import OutboxRow, TaskCounterRow, TaskEventRow, TaskRow
from callcenter.db.repositories import Store
from callcenter.domain import DeliveryState, TaskKind, TaskStatus
from callcenter.errors import Conflict

from .conftest import (
    NOW,
    SECOND_SERIAL,
    SERIAL,
    RecordingHub,
    Seed,
    add_call,
    external_service,
    local_service,
    repair_form,
)


async def _count(store: Store, model: Any) -> int:
    async with store.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_repair_wrapup_records_call_task_and_history(store: Store, seeded: Seed,
                                                           hub: RecordingHub) -> None:
    service = local_service(store, hub)
    await add_call(store, "1795330137.1", merchant_id=seeded.shop.id)
    outcome = await service.record_wrapup("1795330137.1", repair_form(), agent_number="8001",
                                          now=NOW)
    task = outcome.task
    assert task is not None and not outcome.linked
    assert task.task_number == "RP20261122-0001"
    assert (task.kind, task.status, task.delivery_state) == (
        TaskKind.REPAIR, TaskStatus.NEW, DeliveryState.LOCAL)
    assert (task.site_phone, task.terminal_serial, task.agent_number) == (
        "02150551234", SERIAL, "8001")
    call = await store.calls.get("1795330137.1")
    assert call is not None and call.disposition == "repair"
    assert call.wrapup_note == "刷卡无反应，屏幕提示通讯失败"
    assert await _count(store, OutboxRow) == 0  # the built-in store is the system of record
    detail = await service.detail(task.task_number)
    assert [e.status for e in detail.events] == ["new"]
    assert [c.linked_id for c in detail.calls] == ["1795330137.1"]
    # the IVR's self-service reads the store: it finds the new repair
    latest = await store.tasks.latest_open(seeded.shop.id)
    assert latest is not None and latest.task_number == task.task_number
    assert hub.sent["board"][-1] == {"type": "task", "event": "created",
                                     "task_number": "RP20261122-0001", "kind": "repair"}


async def test_external_mode_writes_the_outbox_row_with_the_task(store: Store, seeded: Seed,
                                                                 hub: RecordingHub) -> None:
    service = external_service(store, hub)
    woken: list[int] = []
    service.on_enqueued = lambda: woken.append(1)
    await add_call(store, "c1", merchant_id=seeded.shop.id)
    outcome = await service.record_wrapup("c1", repair_form(), agent_number="8001", now=NOW)
    assert outcome.task is not None and outcome.task.delivery_state is DeliveryState.PENDING
    async with store.transaction() as s:
        rows = list(await s.scalars(select(OutboxRow)))
    assert len(rows) == 1 and woken == [1]
    row = rows[0]
    assert row.idempotency_key == idempotency_key("RP20261122-0001", 1) == "RP20261122-0001.v1"
    assert (row.state, row.attempts, row.task_version) == ("pending", 0, 1)
    assert row.give_up_at == NOW + timedelta(days=3)
    payload = row.payload
    assert payload["event"] == "task.created" and payload["kind"] == "repair"
    assert payload["merchant"]["merchant_number"] == seeded.shop.merchant_number
    assert payload["terminal"] == {"serial": SERIAL, "model": "LANDI A8"}
    assert payload["calls"][0]["linked_id"] == "c1" and payload["complaint"] is None


async def test_task_numbers_count_per_prefix_and_shanghai_day(store: Store, seeded: Seed,
                                                              hub: RecordingHub) -> None:
    service = local_service(store, hub)
    numbers = []
    plan = [("a", repair_form(), NOW),
            ("b", repair_form(terminal_serial=SECOND_SERIAL), NOW),
            ("c", WrapupForm(disposition="installation", address="x", site_phone="13800138000",
                             business_hours="09:00-21:00"), NOW),
            ("d", WrapupForm(disposition="simple_fault", description="重启后恢复"), NOW),
            # 16:30 UTC is 00:30 the next day in Shanghai: a new day, a new sequence
            ("e", repair_form(new_despite_open=True), NOW.replace(hour=16, minute=30))]
    for linked_id, form, at in plan:
        await add_call(store, linked_id, merchant_id=seeded.shop.id, started_at=at)
        outcome = await service.record_wrapup(linked_id, form, agent_number="8001", now=at)
        assert outcome.task is not None
        numbers.append(outcome.task.task_number)
    assert numbers == ["RP20261122-0001", "RP20261122-0002", "IN20261122-0001",
                       "SF20261122-0001", "RP20261123-0001"]
    async with store.transaction() as s:
        counters = dict((await s.execute(select(TaskCounterRow.key, TaskCounterRow.last)))
                        .all())
    assert counters == {"RP20261122": 2, "IN20261122": 1, "SF20261122": 1, "RP20261123": 1}


async def test_invalid_wrapup_saves_nothing_and_names_every_field(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = local_service(store, hub)
    await add_call(store, "c1", merchant_id=seeded.shop.id)
    with pytest.raises(WrapupInvalid) as exc:
        await service.record_wrapup("c1", repair_form(address=" ", description="坏" * 201),
                                    agent_number="8001", now=NOW)
    assert [e.field for e in exc.value.errors] == ["address", "description"]
    call = await store.calls.get("c1")
    assert call is not None and call.disposition is None
    assert await _count(store, TaskRow) == 0


async def test_a_failure_after_the_task_is_written_rolls_everything_back(
        store: Store, seeded: Seed, hub: RecordingHub, monkeypatch: pytest.MonkeyPatch) -> None:
    service = external_service(store, hub)
    await add_call(store, "c1", merchant_id=seeded.shop.id)

    # each backend's write succeeds and then the save fails (PostgreSQL writes task, call,
    # history and outbox row in one statement, SQLite one by one)
    real_pg, real_insert = repository._pg_create_record, BusinessRepository.insert_record

    async def pg_written_then_broken(*args: Any) -> None:
        await real_pg(*args)
        raise RuntimeError("disk full")

    async def written_then_broken(*args: Any, **kwargs: Any) -> None:
        await real_insert(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(repository, "_pg_create_record", pg_written_then_broken)
    monkeypatch.setattr(BusinessRepository, "insert_record", written_then_broken)
    with pytest.raises(RuntimeError, match="disk full"):
        await service.record_wrapup("c1", repair_form(update_merchant=True,
                                                      address="新地址 1 号"),
                                    agent_number="8001", now=NOW)
    call = await store.calls.get("c1")
    assert call is not None and call.disposition is None
    for model in (TaskRow, TaskEventRow, OutboxRow, TaskCounterRow):
        assert await _count(store, model) == 0, model.__name__
    merchant = await store.merchants.get(seeded.shop.id)
    assert merchant.address == seeded.shop.address
    monkeypatch.undo()
    outcome = await service.record_wrapup("c1", repair_form(), agent_number="8001", now=NOW)
    assert outcome.task is not None and outcome.task.task_number == "RP20261122-0001"


async def test_a_call_is_wrapped_up_once_by_its_own_agent(store: Store, seeded: Seed,
                                                          hub: RecordingHub) -> None:
    service = local_service(store, hub)
    await add_call(store, "c1", merchant_id=seeded.shop.id, agent="8001")
    await add_call(store, "lost", merchant_id=seeded.shop.id, answered=False)
    with pytest.raises(NotYourCall):
        await service.record_wrapup("c1", repair_form(), agent_number="8002", now=NOW)
    with pytest.raises(Conflict, match="not answered"):
        await service.record_wrapup("lost", repair_form(), agent_number="8001", now=NOW)
    await service.record_wrapup("c1", repair_form(), agent_number="8001", now=NOW)
    with pytest.raises(Conflict, match="already wrapped up"):
        await service.record_wrapup("c1", repair_form(), agent_number="8001", now=NOW)
    assert await _count(store, TaskRow) == 1


async def test_open_repair_of_the_terminal_is_offered_and_the_call_linked_to_it(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = external_service(store, hub)
    await add_call(store, "first", merchant_id=seeded.shop.id)
    first = await service.record_wrapup("first", repair_form(), agent_number="8001", now=NOW)
    assert first.task is not None
    await add_call(store, "again", merchant_id=seeded.shop.id, agent="8002")
    view = await service.wrapup_form("again")
    assert [t.task_number for t in view.duplicates] == [first.task.task_number]
    with pytest.raises(PossibleDuplicate) as exc:
        await service.record_wrapup("again", repair_form(description="商户催修"),
                                    agent_number="8002", now=NOW + timedelta(hours=1))
    assert exc.value.task_numbers == (first.task.task_number,)
    call = await store.calls.get("again")
    assert call is not None and call.disposition is None  # nothing half-saved
    linked = await service.record_wrapup(
        "again", repair_form(description="商户催修", link_task_number=first.task.task_number),
        agent_number="8002", now=NOW + timedelta(hours=1))
    assert linked.linked and linked.task is not None
    assert (linked.task.task_number, linked.task.version) == (first.task.task_number, 2)
    assert await _count(store, TaskRow) == 1
    detail = await service.detail(first.task.task_number)
    assert [(c.linked_id, c.relation.value) for c in detail.calls] == [
        ("first", "origin"), ("again", "linked")]
    assert [d.idempotency_key for d in detail.deliveries] == [
        "RP20261122-0001.v1", "RP20261122-0001.v2"]
    assert detail.deliveries[1].payload["event"] == "task.call_linked"
    # a second terminal is not a duplicate; a confirmed new task is allowed
    await add_call(store, "other-terminal", merchant_id=seeded.shop.id)
    second = await service.record_wrapup("other-terminal",
                                         repair_form(terminal_serial=SECOND_SERIAL),
                                         agent_number="8001", now=NOW)
    assert second.task is not None and second.task.task_number == "RP20261122-0002"


async def test_a_repair_cannot_be_linked_to_another_merchants_task(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = local_service(store, hub)
    await add_call(store, "theirs", merchant_id=seeded.other.id)
    theirs = await service.record_wrapup(
        "theirs", repair_form(terminal_serial="PAX-A920-0009", product_model="PAX A920"),
        agent_number="8001", now=NOW)
    assert theirs.task is not None
    await add_call(store, "mine", merchant_id=seeded.shop.id)
    with pytest.raises(WrapupInvalid, match="another merchant"):
        await service.record_wrapup("mine", repair_form(
            link_task_number=theirs.task.task_number), agent_number="8001", now=NOW)
    with pytest.raises(WrapupInvalid, match="belongs to another merchant") as exc:
        await service.record_wrapup("mine", repair_form(terminal_serial="PAX-A920-0009"),
                                    agent_number="8001", now=NOW)
    assert exc.value.field == "terminal_serial"


async def test_merchant_record_changes_only_when_the_agent_confirms(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = local_service(store, hub)
    form = repair_form(address="上海市浦东新区张杨路 200 号", site_phone="13911112222")
    await add_call(store, "c1", merchant_id=seeded.shop.id)
    check = await service.check_wrapup("c1", form)
    assert [c.field for c in check.changes] == ["address", "site_phone"]
    outcome = await service.record_wrapup("c1", form, agent_number="8001", now=NOW)
    assert [c.field for c in outcome.merchant_changes] == ["address", "site_phone"]
    assert not outcome.merchant_updated
    assert (await store.merchants.get(seeded.shop.id)).address == seeded.shop.address
    await add_call(store, "c2", merchant_id=seeded.shop.id)
    confirmed = await service.record_wrapup(
        "c2", repair_form(address="上海市浦东新区张杨路 200 号", site_phone="13911112222",
                          update_merchant=True, terminal_serial=SECOND_SERIAL),
        agent_number="8001", now=NOW)
    assert confirmed.merchant_updated
    merchant = await store.merchants.get(seeded.shop.id)
    assert merchant.address == "上海市浦东新区张杨路 200 号"
    assert merchant.phones == ("02150551234", "13800138000", "13911112222")
    assert [m.id for m in await store.merchants.by_phone("13911112222")] == [seeded.shop.id]


async def test_consultation_from_a_caller_who_is_no_merchant_is_kept_on_the_call(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = local_service(store, hub)
    await add_call(store, "presales", merchant_id=None, intent="consult", caller="13700001111")
    outcome = await service.record_wrapup(
        "presales", WrapupForm(disposition="consultation", note="询问 POS 机购买流程"),
        agent_number="8001", now=NOW)
    assert outcome.task is None
    call = await store.calls.get("presales")
    assert call is not None and (call.disposition, call.wrapup_note) == (
        "consultation", "询问 POS 机购买流程")
    await add_call(store, "anon", merchant_id=None, intent="consult", caller="13700001111")
    with pytest.raises(WrapupInvalid) as exc:
        await service.record_wrapup("anon", WrapupForm(disposition="simple_fault",
                                                           description="x"),
                                    agent_number="8001", now=NOW)
    assert exc.value.field == "merchant_id"


async def test_agent_may_name_the_merchant_the_ivr_did_not_identify(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = local_service(store, hub)
    await add_call(store, "anon", merchant_id=None)
    outcome = await service.record_wrapup("anon", repair_form(merchant_id=seeded.shop.id),
                                          agent_number="8001", now=NOW)
    assert outcome.task is not None and outcome.task.merchant_id == seeded.shop.id
    call = await store.calls.get("anon")
    assert call is not None and call.merchant_id == seeded.shop.id and call.merchant_verified


async def test_complaints_class_one_is_settled_class_two_escalated(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = local_service(store, hub)
    await add_call(store, "k1", merchant_id=seeded.shop.id, intent="complaint")
    one = await service.record_wrapup("k1", WrapupForm(
        disposition="complaint_1", description="到账慢", handling="解释清算周期",
        result="商户满意"), agent_number="8001", now=NOW)
    assert one.complaint is not None and one.task is not None
    assert one.task.status is TaskStatus.DONE and one.task.task_number == "CP20261122-0001"
    assert one.complaint.complaint.closed_at == NOW
    assert one.complaint.complaint.escalation_tier == Tier.AGENT
    await add_call(store, "k2", merchant_id=seeded.shop.id, intent="complaint")
    two = await service.record_wrapup("k2", WrapupForm(
        disposition="complaint_2", description="多扣手续费 8000 元", amount_yuan=8000),
        agent_number="8001", now=NOW)
    assert two.complaint is not None and two.task is not None
    assert two.task.status is TaskStatus.NEW
    assert two.complaint.complaint.escalation_tier == Tier.TOP
    assert two.complaint.second_line_at == NOW  # built-in store: second line sees it at once
    alert = hub.sent["wallboard"][-1]
    assert alert["alert"] == "complaint" and alert["escalation_tier"] == 3
    class1, class2 = await service.daily_complaints(NOW.date())
    assert [c.task_number for c in class1] == ["CP20261122-0001"]
    assert [c.task_number for c in class2] == ["CP20261122-0002"]
    # escalation steps: the clocks are met and the complaint closes with its ticket
    cid = two.complaint.complaint.id
    await service.complaint_action(cid, "report", "", actor="sup", now=NOW + timedelta(
        minutes=20))
    await service.complaint_action(cid, "temporary_solution", "先行退还差额",
                                   actor="sup", now=NOW + timedelta(minutes=50))
    closed = await service.complaint_action(cid, "close", "已全额退还", actor="sup",
                                            now=NOW + timedelta(hours=5))
    c = closed.complaint
    assert (c.reported_at, c.temporary_solution_at, c.closed_at) == (
        NOW + timedelta(minutes=20), NOW + timedelta(minutes=50), NOW + timedelta(hours=5))
    assert c.handling == "先行退还差额" and c.result == "已全额退还"
    task = await service.repo.find_task(two.task.task_number)
    assert task is not None and task.status is TaskStatus.DONE
    with pytest.raises(Conflict, match="closed"):
        await service.complaint_action(cid, "report", "", actor="sup", now=NOW)


async def test_board_actions_move_the_task_and_tell_agent_board_and_ivr(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = local_service(store, hub)
    await add_call(store, "c1", merchant_id=seeded.shop.id, agent="8001")
    created = await service.record_wrapup("c1", repair_form(), agent_number="8001", now=NOW)
    assert created.task is not None
    number = created.task.task_number
    appointment = NOW + timedelta(days=1)
    steps = [Command(TaskAction.ACCEPT), Command(TaskAction.ASSIGN, engineer="李工"),
             Command(TaskAction.APPOINT, appointment_at=appointment),
             Command(TaskAction.ON_SITE)]
    for i, command in enumerate(steps, start=1):
        await service.change_status(number, command, actor="disp",
                                    now=NOW + timedelta(minutes=i))
    latest = await store.tasks.latest_open(seeded.shop.id)
    assert latest is not None and latest.status is TaskStatus.ON_SITE
    assert (latest.engineer, latest.appointment_at, latest.version) == ("李工", appointment, 5)
    messages = hub.sent["agent:8001"]
    assert [m["status"] for m in messages] == ["accepted", "assigned", "appointed", "on_site"]
    assert messages[2]["type"] == "task_status" and messages[2]["engineer"] == "李工"
    assert messages[2]["appointment_local"] == "2026-11-23 10:00"
    assert hub.sent["board"][-1]["status"] == "on_site"
    await service.change_status(number, Command(TaskAction.DONE), actor="disp",
                                now=NOW + timedelta(minutes=10))
    assert await store.tasks.latest_open(seeded.shop.id) is None
    detail = await service.detail(number)
    assert [e.status for e in detail.events] == ["new", "accepted", "assigned", "appointed",
                                                 "on_site", "done"]
    assert detail.events[2].actor == "disp" and "李工" in detail.events[2].note


async def test_board_actions_are_refused_when_the_business_system_is_the_record(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service = external_service(store, hub)
    await add_call(store, "c1", merchant_id=seeded.shop.id)
    created = await service.record_wrapup("c1", repair_form(), agent_number="8001", now=NOW)
    assert created.task is not None
    with pytest.raises(Conflict, match="system of record"):
        await service.change_status(created.task.task_number, Command(TaskAction.ACCEPT),
                                    actor="disp", now=NOW)


async def test_alerts_list_unlogged_calls_overdue_tasks_and_complaint_clocks(
        store: Store, seeded: Seed, hub: RecordingHub) -> None:
    service: BusinessService = local_service(store, hub)
    await add_call(store, "forgotten", merchant_id=seeded.shop.id,
                   ended_at=NOW - timedelta(minutes=20))
    await add_call(store, "just-ended", merchant_id=seeded.shop.id,
                   ended_at=NOW - timedelta(minutes=5))
    await add_call(store, "c1", merchant_id=seeded.shop.id)
    await service.record_wrapup("c1", repair_form(), agent_number="8001",
                                now=NOW - timedelta(hours=4))
    await add_call(store, "k2", merchant_id=seeded.shop.id)
    await service.record_wrapup("k2", WrapupForm(disposition="complaint_2", description="x"),
                                agent_number="8001", now=NOW - timedelta(minutes=45))
    alerts = await service.alerts(NOW)
    assert [u.linked_id for u, _ in alerts.unlogged_calls] == ["forgotten"]
    assert [v.task.task_number for v in alerts.overdue_tasks] == ["RP20261122-0001"]
    [(_case, clocks)] = alerts.complaints
    assert {c.name.value: c.state.value for c in clocks} == {
        "report_supervisor": "overdue", "temporary_solution": "running",
        "second_line_ticket": "met"}
    assert alerts.dead_letters == [] and alerts.count == 3
