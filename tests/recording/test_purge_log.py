"""The purge log read back: ``callcenter recordings purge-log`` (a real subprocess on a
temporary database), ``GET /api/recordings/purges`` and the query rules."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from callcenter.db.models import RecordingPurgeRow
from callcenter.domain import Role
from callcenter.errors import ValidationError
from callcenter.recording_directory import StoreRetention
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from recording.retention import PURGE_LOG_DEFAULT, parse_purge_log_query
from recording.web import MODULE

REPO = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PURGES = [  # token, linked id, purged at
    ("tok-old", "1790000001.0", datetime(2026, 10, 30, 20, 0, tzinfo=UTC)),
    ("tok-mid", "1790000002.0", datetime(2026, 11, 20, 15, 59, tzinfo=UTC)),  # 23:59 local
    ("tok-new", "1790000003.0", datetime(2026, 11, 20, 16, 0, tzinfo=UTC)),   # 21st 00:00
]


def _rows() -> list[dict[str, Any]]:
    return [{"recording_token": token, "linked_id": linked, "stored_path": f"{linked}.ogg",
             "size_bytes": 4096, "sha256": "ab" * 32, "started_at": at - timedelta(days=730),
             "retain_until": None, "reason": "730 days after the call (default period)",
             "purged_at": at} for token, linked, at in PURGES]


# --------------------------------------------------------------------------- the query


def test_since_is_a_local_day_from_its_midnight_or_an_iso_time() -> None:
    assert parse_purge_log_query("2026-11-21", "", SHANGHAI).since == datetime(
        2026, 11, 21, tzinfo=SHANGHAI)
    assert parse_purge_log_query("2026-11-21T08:30:00+00:00", "5", SHANGHAI).since == datetime(
        2026, 11, 21, 8, 30, tzinfo=UTC)
    assert parse_purge_log_query("", "", SHANGHAI).since is None
    assert parse_purge_log_query("", "", SHANGHAI).limit == PURGE_LOG_DEFAULT


@pytest.mark.parametrize(("since", "limit", "key"), [
    ("yesterday", "", "since"), ("", "ten", "limit"), ("", "0", "limit"), ("", "1001", "limit"),
])
def test_a_bad_since_or_limit_is_refused_by_name(since: str, limit: str, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_purge_log_query(since, limit, SHANGHAI)
    assert caught.value.field == key


# --------------------------------------------------------------------------- the store


async def test_the_store_reads_the_log_newest_first_since_a_moment(store: Any) -> None:
    async with store.transaction() as s:
        await s.execute(insert(RecordingPurgeRow), _rows())
    retention = StoreRetention(store)
    assert [p.token for p in await retention.purges()] == ["tok-new", "tok-mid", "tok-old"]
    since = parse_purge_log_query("2026-11-21", "", SHANGHAI).since
    assert [p.token for p in await retention.purges(100, since)] == ["tok-new"]
    [newest] = await retention.purges(1)
    assert (newest.linked_id, newest.path, newest.size_bytes) == (
        "1790000003.0", "1790000003.0.ogg", 4096)
    assert newest.purged_at == PURGES[2][2]


# --------------------------------------------------------------------------- the web


@pytest.fixture
async def client(sqlite_store: Any, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    for name, role in (("sup", Role.SUPERVISOR), ("lead", Role.TEAM_LEAD),
                       ("admin", Role.ADMIN)):
        await add_user(sqlite_store, NOW, username=name, display_name=name, role=role,
                       password="password-1")
    await add_user(sqlite_store, NOW, username="8001", display_name="8001", role=Role.AGENT,
                   password="password-1", agent_number="8001", interface="PJSIP/8001")
    async with sqlite_store.transaction() as s:
        await s.execute(insert(RecordingPurgeRow), _rows())
    settings = load_settings(environ={"CALLCENTER_RECORDING_DIR": str(tmp_path)})
    app = build_web_app(settings, sqlite_store, modules=[MODULE], clock=lambda: NOW.timestamp())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _login(client: TestClient[Any, Any], username: str) -> None:
    client.session.cookie_jar.clear()
    r = await client.post("/login", data={"username": username, "password": "password-1"},
                          allow_redirects=False)
    assert r.status == 302


async def test_supervisors_read_the_purge_log_and_see_its_section(
        client: TestClient[Any, Any]) -> None:
    await _login(client, "sup")
    r = await client.get("/api/recordings/purges?since=2026-11-20&limit=10")
    assert r.status == 200
    items = (await r.json())["items"]
    assert [i["token"] for i in items] == ["tok-new", "tok-mid"]
    assert items[0]["reason"].startswith("730 days") and items[0]["path"] == "1790000003.0.ogg"
    assert items[0]["purged_at"] == "2026-11-20T16:00:00+00:00"
    page = await (await client.get("/recordings")).text()
    assert 'id="rc-purges"' in page
    assert (await client.get("/api/recordings/purges?since=soon")).status == 422


@pytest.mark.parametrize("username", ["lead", "8001"])
async def test_team_leads_and_agents_get_neither_the_log_nor_its_section(
        client: TestClient[Any, Any], username: str) -> None:
    await _login(client, username)
    assert (await client.get("/api/recordings/purges")).status == 403
    page = await (await client.get("/recordings")).text()
    assert 'id="rc-purges"' not in page


# --------------------------------------------------------------------------- the command


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    environ["CALLCENTER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    environ["PYTHONPATH"] = str(REPO)  # this checkout, whatever the venv has installed
    return subprocess.run([sys.executable, "-m", "callcenter.cli", *args], cwd=tmp_path,
                          env=environ, capture_output=True, text=True, timeout=60, check=False)


def test_the_purge_log_command_prints_a_table_or_json_since_a_day(tmp_path: Path) -> None:
    assert _cli(tmp_path, "db", "upgrade").returncode == 0
    with sqlite3.connect(tmp_path / "cli.db") as db:
        for row in _rows():
            db.execute(
                "INSERT INTO recording_purges (recording_token, linked_id, stored_path, "
                "size_bytes, sha256, started_at, retain_until, reason, purged_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row["recording_token"], row["linked_id"], row["stored_path"],
                 row["size_bytes"], row["sha256"],
                 row["started_at"].replace(tzinfo=None).isoformat(sep=" "), None,
                 row["reason"], row["purged_at"].replace(tzinfo=None).isoformat(sep=" ")))
    table = _cli(tmp_path, "recordings", "purge-log")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["deleted", "at", "call"]
    # newest first, in Shanghai time
    assert [line.split()[2] for line in lines[1:]] == [
        "1790000003.0", "1790000002.0", "1790000001.0"]
    assert lines[1].startswith("2026-11-21 00:00") and "730 days" in lines[1]

    data = _cli(tmp_path, "recordings", "purge-log", "--json", "--since", "2026-11-01",
                "--limit", "1")
    assert data.returncode == 0, data.stderr
    [item] = json.loads(data.stdout)["items"]
    assert (item["token"], item["size_bytes"]) == ("tok-new", 4096)

    bad = _cli(tmp_path, "recordings", "purge-log", "--limit", "0")
    assert bad.returncode == 1 and "limit" in bad.stderr
    empty = _cli(tmp_path, "recordings", "purge-log", "--since", "2027-01-01")
    assert empty.returncode == 0 and empty.stdout.strip() == "nothing purged"
