"""The new-task write goes straight to asyncpg on PostgreSQL and through SQLAlchemy on SQLite
(callcenter/business/repository.py): both must leave exactly the same rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import callcenter.business.repository as repository
from callcenter.business.business_protocol import encode_body
from callcenter.db.models import OutboxRow, TaskCallRow, TaskCounterRow, TaskEventRow, TaskRow
from callcenter.db.repositories import Store

from .conftest import NOW, RecordingHub, Seed, add_call, external_service, repair_form


async def _rows(store: Store, model: Any, *skip: str) -> list[dict[str, Any]]:
    async with store.transaction() as s:
        rows = (await s.scalars(select(model).order_by(model.__table__.primary_key.columns
                                                      .values()[0]))).all()
    names = [c.name for c in model.__table__.columns if c.name not in {"id", *skip}]
    return [{n: getattr(r, n) for n in names} for r in rows]


async def test_a_new_task_writes_the_same_rows_on_every_backend(
        store: Store, seeded: Seed, hub: RecordingHub, monkeypatch: pytest.MonkeyPatch) -> None:
    fast: list[str] = []
    real = repository._pg_insert_record

    async def counted(pg: Any, new: Any) -> Any:
        fast.append(new.task_number)
        return await real(pg, new)

    monkeypatch.setattr(repository, "_pg_insert_record", counted)
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
