"""Who listened to what, in the product's one audit log: every play or download of a recording
is an ``audit_log`` entry (``recording.play``/``recording.download``, target the token, the
call, role and byte range in the details), shown by ``/api/admin/audit`` beside the live
listening and every other trace; ``/api/recordings/access`` reads the same entries; migration
0011 moves the old ``recording_access`` rows there and back."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, inspect, text

from callcenter.admin.web import web_module as admin_web_module
from callcenter.audit import AuditAction, AuditEntry
from callcenter.db import migrate
from callcenter.db.engine import create_engine, session_factory
from callcenter.db.models import RecordingRow
from callcenter.db.repositories import Store
from callcenter.domain import Role
from callcenter.recording_directory import StoreAccessLog
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from recording.ports import Access, access_entry, access_of
from recording.sealed import Keyring, seal
from recording.web import MODULE

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
KEY = bytes(range(32))
PLAIN = b"OggS" + bytes(range(256)) * 400
TOKEN = "tok-audit-" + "x" * 20


def test_an_access_round_trips_through_its_audit_entry() -> None:
    access = Access(token=TOKEN, linked_id="1795330137.0", user_id=7, username="sup",
                    role="supervisor", action="download", at=NOW, range_start=10,
                    range_end=2000, remote="10.0.0.8")
    entry = access_entry(access)
    assert (entry.actor, entry.action, entry.target) == ("sup", "recording.download", TOKEN)
    assert entry.details["range"] == [10, 2000] and entry.details["linked_id"] == "1795330137.0"
    assert access_of(entry) == access


@pytest.fixture
async def client(sqlite_store: Any, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    for name, role in (("sup", Role.SUPERVISOR), ("admin", Role.ADMIN)):
        await add_user(sqlite_store, NOW, username=name, display_name=name, role=role,
                       password="password-1")
    async with sqlite_store.transaction() as s:
        await s.execute(insert(RecordingRow).values(
            token=TOKEN, linked_id="1795330137.0", path="a.wav", started_at=NOW,
            ended_at=NOW + timedelta(seconds=60), stage="stored", stored_path="a.ogg.sealed",
            codec="opus", key_id="k1", plain_size=len(PLAIN), duration_s=60.0,
            agent_number="8001", queue="aftersales", caller_number="13812348000"))
    with (tmp_path / "a.ogg.sealed").open("wb") as f:
        seal(io.BytesIO(PLAIN), f, len(PLAIN), Keyring({"k1": KEY}, "k1"))
    # a supervisor's live listening, audited by supervision (issue 13): the same log
    await sqlite_store.audit.record(AuditEntry(
        at=NOW - timedelta(minutes=5), actor="sup", action=AuditAction.MONITOR_START,
        target="8001", details={"mode": "listen", "linked_id": "1795330137.0"}))
    settings = load_settings(environ={
        "CALLCENTER_RECORDING_DIR": str(tmp_path),
        "CALLCENTER_RECORDING_KEYS": "k1:" + base64.b64encode(KEY).decode()})
    app = build_web_app(settings, sqlite_store, modules=[MODULE, admin_web_module()],
                        clock=lambda: NOW.timestamp())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _login(client: TestClient[Any, Any], username: str) -> None:
    client.session.cookie_jar.clear()
    r = await client.post("/login", data={"username": username, "password": "password-1"},
                          allow_redirects=False)
    assert r.status == 302


async def test_plays_are_in_the_products_audit_log_beside_live_listening(
        client: TestClient[Any, Any]) -> None:
    await _login(client, "sup")
    part = await client.get(f"/recordings/{TOKEN}", headers={"Range": "bytes=100-999"})
    assert part.status == 206
    assert (await client.get(f"/recordings/{TOKEN}?download=1")).status == 200

    await _login(client, "admin")
    log = (await (await client.get("/api/admin/audit?limit=50")).json())["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in log] == [
        ("sup", "recording.download", TOKEN), ("sup", "recording.play", TOKEN),
        ("sup", "monitor.start", "8001")]
    play = log[1]["details"]
    assert play["range"] == [100, 1000] and play["linked_id"] == "1795330137.0"
    assert play["role"] == "supervisor" and play["remote"] == "127.0.0.1"
    assert log[0]["details"]["range"] == [0, len(PLAIN)]
    only_plays = (await (await client.get(
        "/api/admin/audit?action=recording.play")).json())["entries"]
    assert [e["target"] for e in only_plays] == [TOKEN]
    # the recordings page's own view reads the same entries
    items = (await (await client.get(f"/api/recordings/access?token={TOKEN}")).json())["items"]
    assert [(a["user"], a["action"], a["range"]) for a in items] == [
        ("sup", "download", [0, len(PLAIN)]), ("sup", "play", [100, 1000])]


# --------------------------------------------------------------------------- the migration


def _run(url: str, work: Any) -> Any:
    async def go() -> Any:
        engine = create_engine(url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_migration_moves_the_old_access_rows_into_the_audit_log_and_back(
        empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0009")

    async def seed(engine: Any) -> None:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO recording_access (recording_token, linked_id, user_id, username, "
                "role, action, range_start, range_end, at) VALUES "
                "(:t, 'L1.0', 3, 'sup', 'supervisor', 'play', 0, 4096, :at), "
                "(:t, 'L1.0', 4, 'boss', 'admin', 'download', NULL, NULL, :later)"),
                {"t": TOKEN, "at": NOW.replace(tzinfo=None),
                 "later": (NOW + timedelta(minutes=1)).replace(tzinfo=None)})

    _run(empty_db_url, seed)
    migrate.upgrade(empty_db_url)

    async def after_upgrade(engine: Any) -> tuple[list[Access], set[str]]:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        return await StoreAccessLog(Store(session_factory(engine))).recent(10, TOKEN), tables

    accesses, tables = _run(empty_db_url, after_upgrade)
    assert "recording_access" not in tables
    assert [(a.username, a.action, a.range_start, a.range_end, a.user_id, a.linked_id)
            for a in accesses] == [("boss", "download", None, None, 4, "L1.0"),
                                   ("sup", "play", 0, 4096, 3, "L1.0")]
    assert accesses[1].at == NOW

    migrate.downgrade(empty_db_url, "0009")

    async def after_downgrade(engine: Any) -> tuple[list[Any], int]:
        async with engine.connect() as conn:
            rows = list(await conn.execute(text(
                "SELECT username, action, range_start, range_end FROM recording_access "
                "ORDER BY id")))
            left = (await conn.execute(text(
                "SELECT count(*) FROM audit_log WHERE action LIKE 'recording.%'"))).scalar()
        return rows, int(left or 0)

    rows, left = _run(empty_db_url, after_downgrade)
    assert [tuple(r) for r in rows] == [("sup", "play", 0, 4096), ("boss", "download", None, None)]
    assert left == 0
