"""The new-task write goes straight to asyncpg on PostgreSQL and through SQLAlchemy on SQLite
(callcenter/business/repository.py): both must leave exactly the same rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

import callcenter.business.repository as repository
from callcenter.business.business_protocol import encode_body, idempotency_key, task_payload
from callcenter.business.records import NewRecord
from callcenter.business.repository import BusinessRepository, FirstDelivery
from callcenter.db.models import OutboxRow, TaskCallRow, TaskCounterRow, TaskEventRow, TaskRow
from callcenter.db.repositories import Store

from .conftest import (
    NOW,
    RecordingHub,
    Seed,
    add_call,
    external_service,
    local_service,
    repair_form,
)


async def _rows(store: Store, model: Any, *skip: str) -> list[dict[str, Any]]:
    async with store.transaction() as s:
        rows = (await s.scalars(select(model).order_by(model.__table__.primary_key.columns
                                                      .values()[0]))).all()
    names = [c.name for c in model.__table__.columns if c.name not in {"id", *skip}]
    return [{n: getattr(r, n) for n in names} for r in rows]


async def test_a_new_task_writes_the_same_rows_on_every_backend(
        store: Store, seeded: Seed, hub: RecordingHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fast: list[str] = []
    real = repository._pg_create_record

    async def counted(pg: Any, new: Any, key: str, delivery: Any) -> Any:
        record = await real(pg, new, key, delivery)
        fast.append(record.task.task_number)
        return record

    monkeypatch.setattr(repository, "_pg_create_record", counted)
    service = external_service(store, hub)
    await add_call(store, "1795330137.1", merchant_id=seeded.shop.id)
    await add_call(store, "1795330137.2", merchant_id=seeded.shop.id)
    first = await service.record_wrapup("1795330137.1", repair_form(), agent_number="8001",
                                        now=NOW)
    second = await service.record_wrapup(
        "1795330137.2", repair_form(new_despite_open=True, description="再次报修"),
        agent_number="8001", now=NOW)
    assert first.task is not None and second.task is not None
    tasks = await _rows(store, TaskRow)
    assert [(t["task_number"], t["kind"], t["status"], t["version"], t["delivery_state"],
             t["linked_id"], t["agent_number"], t["terminal_serial"], t["created_at"],
             t["updated_at"], t["appointment_at"], t["disposition"]) for t in tasks] == [
        (number, "repair", "new", 1, "pending", linked, "8001", "LANDI-A8-0001", NOW, NOW,
         None, "repair")
        for number, linked in (("RP20261122-0001", "1795330137.1"),
                               ("RP20261122-0002", "1795330137.2"))]
    assert tasks[1]["description"] == "再次报修"
    ids = [t.id for t in (first.task, second.task)]
    calls = await _rows(store, TaskCallRow)
    assert calls == [{"task_id": i, "linked_id": linked, "agent_number": "8001",
                      "relation": "origin", "at": NOW}
                     for i, linked in zip(ids, ("1795330137.1", "1795330137.2"), strict=True)]
    events = await _rows(store, TaskEventRow, "note")
    assert events == [{"task_id": i, "at": NOW, "status": "new", "actor": "agent:8001",
                       "source_event_id": None} for i in ids]
    outbox = await _rows(store, OutboxRow)
    assert [(o["task_id"], o["task_version"], o["idempotency_key"], o["state"], o["attempts"],
             o["created_at"], o["next_attempt_at"], o["last_error"], o["lease_owner"],
             o["delivered_at"], o["dead_at"]) for o in outbox] == [
        (i, 1, f"{n}.v1", "pending", 0, NOW, NOW, "", "", None, None)
        for i, n in zip(ids, ("RP20261122-0001", "RP20261122-0002"), strict=True)]
    assert all(o["give_up_at"] is not None and o["give_up_at"] > NOW for o in outbox)
    assert outbox[0]["payload"]["task_number"] == "RP20261122-0001"
    assert outbox[0]["payload"]["terminal"] == {"serial": "LANDI-A8-0001", "model": "LANDI A8"}
    assert encode_body(outbox[0]["payload"])  # JSON round trip intact
    assert await _rows(store, TaskCounterRow) == [{"key": "RP20261122", "last": 2}]
    # PostgreSQL took the asyncpg path for both, SQLite never.
    async with store.transaction() as s:
        dialect = (await s.connection()).dialect.name
    assert fast == (["RP20261122-0001", "RP20261122-0002"] if dialect == "postgresql" else [])


@pytest.mark.parametrize("external", [True, False], ids=["business-system", "built-in"])
async def test_the_ten_thousandth_task_of_a_day_gets_five_digits(
        store: Store, seeded: Seed, hub: RecordingHub, external: bool) -> None:
    async with store.transaction() as s:
        s.add(TaskCounterRow(key="RP20261122", last=9999))
    service = external_service(store, hub) if external else local_service(store, hub)
    await add_call(store, "1795330137.1", merchant_id=seeded.shop.id)
    outcome = await service.record_wrapup("1795330137.1", repair_form(), agent_number="8001",
                                          now=NOW)
    assert outcome.task is not None and outcome.task.task_number == "RP20261122-10000"
    tasks = await _rows(store, TaskRow)
    assert [t["task_number"] for t in tasks] == ["RP20261122-10000"]
    outbox = await _rows(store, OutboxRow)
    if external:
        assert [(o["idempotency_key"], o["payload"]["task_number"]) for o in outbox] == [
            ("RP20261122-10000.v1", "RP20261122-10000")]
    else:
        assert outbox == []


def _new(linked_id: str, merchant_id: int) -> NewRecord:
    return NewRecord(
        task_number="", kind="repair", status="new", merchant_id=merchant_id,
        linked_id=linked_id, agent_number="8001", terminal_serial="LANDI-A8-0001",
        product_model="LANDI A8", address="上海市徐汇区漕溪北路1号", site_phone="02155501234",
        business_hours="09:00-21:00", contact_person="王经理", description="无法刷卡",
        disposition="repair", department="", delivery_state="pending", at=NOW,
        actor="agent:8001", note="", complaint=None)


async def test_a_rolled_back_record_gives_its_number_back(store: Store, seeded: Seed) -> None:
    repo = BusinessRepository(store)
    await add_call(store, "1795330137.1", merchant_id=seeded.shop.id)
    first = FirstDelivery(
        lambda record, complaint: task_payload(
            event="task.created", task=record.task, disposition=record.disposition,
            department="", merchant_number="104310048161234", merchant_name="shop",
            calls=[], complaint=complaint),
        idempotency_key, NOW, NOW + timedelta(days=3))

    class Abandoned(Exception):
        pass

    async def abandoned_save() -> None:
        async with store.transaction() as s:
            await repo.merchant(s, seeded.shop.id)  # begun: PostgreSQL takes its fast path
            record, _ = await repo.create_record(s, _new("1795330137.1", seeded.shop.id),
                                                 "RP", NOW.date(), first)
            assert record.task.task_number == "RP20261122-0001"
            raise Abandoned

    with pytest.raises(Abandoned):
        await abandoned_save()
    assert await _rows(store, TaskRow) == [] and await _rows(store, OutboxRow) == []
    async with store.transaction() as s:
        await repo.merchant(s, seeded.shop.id)
        record, _ = await repo.create_record(s, _new("1795330137.1", seeded.shop.id),
                                             "RP", NOW.date(), first)
    assert record.task.task_number == "RP20261122-0001"
    outbox = await _rows(store, OutboxRow)
    assert [(o["task_id"], o["idempotency_key"], o["payload"]["task_number"],
             o["payload"]["site"]["contact_person"]) for o in outbox] == [
        (record.task.id, "RP20261122-0001.v1", "RP20261122-0001", "王经理")]
    assert await _rows(store, TaskCounterRow) == [{"key": "RP20261122", "last": 1}]
