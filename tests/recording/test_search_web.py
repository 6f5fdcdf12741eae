"""Search and replay over HTTP: filters, keyset pages, the role matrix, masking, sealed
playback by range, and the access audit."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from callcenter.db.models import (
    ComplaintRow,
    MerchantRow,
    RecordingRow,
    TaskCallRow,
    TaskRow,
)
from callcenter.domain import Role, mask_phone
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.web.app import build_web_app
from recording.sealed import Keyring, seal
from recording.search import Cursor, RecordingQuery, for_viewer
from recording.web import MODULE

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
KEY = bytes(range(32))
PLAIN = b"OggS" + os.urandom(200_000)


def test_phone_numbers_are_masked_to_the_first_three_and_last_four() -> None:
    assert mask_phone("13812348000") == "138****8000"
    assert mask_phone("02161234567") == "021****4567"
    assert mask_phone("8001") == "8**1"
    assert mask_phone("") == ""


def test_agents_are_held_to_their_own_calls_and_dispatchers_refused() -> None:
    q = RecordingQuery(agent="8002")
    assert for_viewer(q, Role.AGENT, "8001").agent == "8001"
    assert for_viewer(q, Role.SUPERVISOR, None).agent == "8002"
    with pytest.raises(PermissionError):
        for_viewer(q, Role.DISPATCHER, None)


def test_cursor_round_trips_and_garbage_is_a_validation_error() -> None:
    from callcenter.errors import ValidationError
    cursor = Cursor("2026-11-22T02:00:00+00:00", 17)
    assert Cursor.decode(cursor.encode()) == cursor
    with pytest.raises(ValidationError):
        Cursor.decode("not-a-cursor")


async def _seed(store: Any, root: Path) -> dict[str, str]:
    """Six recordings: 8001 has four (one sealed on disk), 8002 two; two merchants."""
    tokens: dict[str, str] = {}
    async with store.transaction() as s:
        m1 = (await s.execute(insert(MerchantRow).values(
            merchant_number="898310048160001", name="上海联华超市", address="a", district="d",
            contact_person="", business_hours="", tags=[], created_at=NOW,
            updated_at=NOW).returning(MerchantRow.id))).scalar_one()
        m2 = (await s.execute(insert(MerchantRow).values(
            merchant_number="898310048160002", name="静安面包房", address="a", district="d",
            contact_person="", business_hours="", tags=[], created_at=NOW,
            updated_at=NOW).returning(MerchantRow.id))).scalar_one()
        specs = [
            ("a", "8001", "aftersales", m1, "13812348000", 0, 120.0),
            ("b", "8001", "techsupport", m2, "13900001111", 1, 45.0),
            ("c", "8001", "complaints", m1, "13812348000", 2, 300.0),
            ("d", "8002", "aftersales", m2, "02161234567", 3, 10.0),
            ("e", "8002", "presales", None, "13700002222", 30, 60.0),
            ("f", "8001", "aftersales", m1, "13812348000", 50, 90.0),
        ]
        for name, agent, queue, merchant, caller, hours_ago, duration in specs:
            token = f"tok-{name}-" + "x" * 20
            tokens[name] = token
            await s.execute(insert(RecordingRow).values(
                token=token, linked_id=f"17953{name}.0", path=f"{name}.wav",
                started_at=NOW - timedelta(hours=hours_ago),
                ended_at=NOW - timedelta(hours=hours_ago) + timedelta(seconds=duration),
                stage="stored", stored_path=f"{name}.ogg.sealed", codec="opus", key_id="k1",
                plain_size=len(PLAIN), duration_s=duration, agent_number=agent, queue=queue,
                merchant_id=merchant, caller_number=caller, peaks=[1, 50, 100]))
        task_id = (await s.execute(insert(TaskRow).values(
            task_number="RP20261122-0001", kind="repair", status="new", merchant_id=m2,
            linked_id="17953b.0", created_at=NOW, updated_at=NOW).returning(TaskRow.id))
        ).scalar_one()
        await s.execute(insert(TaskCallRow).values(task_id=task_id, linked_id="17953b.0",
                                                   agent_number="8001", relation="origin",
                                                   at=NOW))
        await s.execute(insert(ComplaintRow).values(
            linked_id="17953c.0", merchant_id=m1, complaint_class=2, description="x",
            created_at=NOW))
    with (root / "a.ogg.sealed").open("wb") as f:
        seal(io.BytesIO(PLAIN), f, len(PLAIN), Keyring({"k1": KEY}, "k1"))
    return tokens


@pytest.fixture
async def web_env(sqlite_store: Any, tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any],
                                                                      dict[str, str], Any]]:
    for name, role in (("sup", Role.SUPERVISOR), ("disp", Role.DISPATCHER),
                       ("admin", Role.ADMIN)):
        await add_user(sqlite_store, NOW, username=name, display_name=name, role=role,
                       password="password-1")
    for number in ("8001", "8002"):
        await add_user(sqlite_store, NOW, username=number, display_name=number, role=Role.AGENT,
                       password="password-1", agent_number=number, interface=f"PJSIP/{number}")
    root = tmp_path / "rec"
    root.mkdir()
    tokens = await _seed(sqlite_store, root)
    import base64
    settings = load_settings(environ={
        "CALLCENTER_RECORDING_DIR": str(root),
        "CALLCENTER_RECORDING_KEYS": "k1:" + base64.b64encode(KEY).decode()})
    app = build_web_app(settings, sqlite_store, modules=[MODULE],
                        clock=lambda: NOW.timestamp())
    async with TestClient(TestServer(app)) as client:
        yield client, tokens, sqlite_store


async def _as(client: TestClient[Any, Any], username: str | None) -> None:
    client.session.cookie_jar.clear()
    if username is None:
        return
    r = await client.post("/login", data={"username": username, "password": "password-1"},
                          allow_redirects=False)
    assert r.status == 302


async def _tokens(client: TestClient[Any, Any], query: str) -> list[str]:
    r = await client.get(f"/api/recordings?{query}")
    assert r.status == 200, await r.text()
    return [item["token"][4] for item in (await r.json())["items"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["a", "b", "c", "d", "e", "f"]),
    ("agent=8002", ["d", "e"]),
    ("merchant=898310048160001", ["a", "c", "f"]),
    ("merchant=面包", ["b", "d"]),
    ("caller=1381", ["a", "c", "f"]),
    ("queue=aftersales", ["a", "d", "f"]),
    ("from=2026-11-22&to=2026-11-22", ["a", "b", "c", "d"]),
    ("from=2026-11-21&to=2026-11-21", ["e"]),
    ("task=RP20261122-0001", ["b"]),
    ("complaint=true", ["c"]),
    ("min_s=60&max_s=150", ["a", "e", "f"]),
    ("q=898310048160002", ["b", "d"]),
    ("q=RP20261122-0001", ["b"]),
    ("q=0216", ["d"]),
    ("agent=8001&merchant=898310048160001&from=2026-11-22", ["a", "c"]),
    ("sort=duration&order=desc", ["c", "a", "f", "e", "b", "d"]),
    ("order=asc", ["f", "e", "d", "c", "b", "a"]),
    ("qa=none", ["a", "b", "c", "d", "e", "f"]),
])
async def test_search_filters(store: Any, tmp_path: Path, query: str, expected: list[str]
                              ) -> None:
    """On SQLite and PostgreSQL, through the same parsing the API uses."""
    from urllib.parse import parse_qsl
    from zoneinfo import ZoneInfo

    from callcenter.recording_directory import StoreRecordingSearch
    from recording.search import parse_query
    await _seed(store, tmp_path)
    q = parse_query(dict(parse_qsl(query)), ZoneInfo("Asia/Shanghai"))
    page = await StoreRecordingSearch(store).search(q)
    assert [hit.token[4] for hit in page.items] == expected


async def test_the_api_lists_items_with_tokens(web_env: Any) -> None:
    client, _, _ = web_env
    await _as(client, "sup")
    assert await _tokens(client, "agent=8001&merchant=898310048160001&from=2026-11-22&"
                                 "to=2026-11-22&queue=complaints&q=1381") == ["c"]


async def test_keyset_pages_cover_everything_once(web_env: Any) -> None:
    client, _, _ = web_env
    await _as(client, "sup")
    for sort in ("started", "duration"):
        seen: list[str] = []
        after = ""
        while True:
            r = await client.get(f"/api/recordings?limit=2&sort={sort}{after}")
            body = await r.json()
            seen += [item["token"] for item in body["items"]]
            if body["next"] is None:
                break
            after = f"&after={body['next']}"
        assert len(seen) == 6 == len(set(seen))


async def test_bad_parameters_are_named(web_env: Any) -> None:
    client, _, _ = web_env
    await _as(client, "sup")
    r = await client.get("/api/recordings?from=yesterday")
    assert r.status == 422 and (await r.json())["field"] == "from"
    r = await client.get("/api/recordings?limit=100000")
    assert r.status == 422 and (await r.json())["field"] == "limit"


async def test_an_agent_finds_only_their_own_calls_with_numbers_masked(web_env: Any) -> None:
    client, _, _ = web_env
    await _as(client, "8002")
    r = await client.get("/api/recordings?agent=8001")
    items = (await r.json())["items"]
    assert {i["agent"] for i in items} == {"8002"}
    assert {i["caller"] for i in items} == {"021****4567", "137****2222"}
    await _as(client, "sup")
    items = (await (await client.get("/api/recordings?agent=8002")).json())["items"]
    assert "02161234567" in {i["caller"] for i in items}


# route × role: anonymous, dispatcher, agent of the call, other agent, supervisor, admin
ROUTES = [
    ("/recordings", {None: 302, "disp": 403, "8001": 200, "8002": 200, "sup": 200,
                     "admin": 200}),
    ("/api/recordings", {None: 401, "disp": 403, "8001": 200, "8002": 200, "sup": 200,
                         "admin": 200}),
    ("/api/recordings/{a}", {None: 401, "disp": 403, "8001": 200, "8002": 403, "sup": 200,
                             "admin": 200}),
    ("/recordings/{a}", {None: 302, "disp": 403, "8001": 200, "8002": 403, "sup": 200,
                         "admin": 200}),
    ("/api/recordings/access", {None: 401, "disp": 403, "8001": 403, "8002": 403,
                                "sup": 403, "admin": 200}),
]


@pytest.mark.parametrize(("path", "matrix"), ROUTES, ids=[r[0] for r in ROUTES])
async def test_route_role_matrix(web_env: Any, path: str, matrix: dict[str | None, int]
                                 ) -> None:
    client, tokens, _ = web_env
    url = path.replace("{a}", tokens["a"])
    for who, status in matrix.items():
        await _as(client, who)
        r = await client.get(url, allow_redirects=False)
        assert r.status == status, (who, url)


async def test_sealed_recording_plays_by_range_and_every_request_is_audited(
        web_env: Any) -> None:
    client, tokens, _ = web_env
    await _as(client, "sup")
    url = f"/recordings/{tokens['a']}"
    whole = await client.get(url)
    assert whole.status == 200 and whole.headers["Content-Type"] == "audio/ogg"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert await whole.read() == PLAIN
    part = await client.get(url, headers={"Range": "bytes=65530-131080"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 65530-131080/{len(PLAIN)}"
    assert await part.read() == PLAIN[65530:131081]
    tail = await client.get(url, headers={"Range": "bytes=-100"})
    assert tail.status == 206 and await tail.read() == PLAIN[-100:]
    beyond = await client.get(url, headers={"Range": f"bytes={len(PLAIN) + 5}-"})
    assert beyond.status == 416
    download = await client.get(f"{url}?download=1")
    assert "attachment" in download.headers["Content-Disposition"]

    await _as(client, "admin")
    audit = (await (await client.get(f"/api/recordings/access?token={tokens['a']}")).json())
    got = [(a["user"], a["action"], a["range"]) for a in reversed(audit["items"])]
    assert got == [("sup", "play", [0, len(PLAIN)]), ("sup", "play", [65530, 131081]),
                   ("sup", "play", [len(PLAIN) - 100, len(PLAIN)]),
                   ("sup", "download", [0, len(PLAIN)])]


async def test_detail_gives_the_player_its_peaks(web_env: Any) -> None:
    client, tokens, _ = web_env
    await _as(client, "8001")
    body = await (await client.get(f"/api/recordings/{tokens['a']}")).json()
    assert body["peaks"] == [1, 50, 100] and body["encrypted"] is True
    assert body["audio"] == f"/recordings/{tokens['a']}"


async def test_missing_file_is_404(web_env: Any) -> None:
    client, tokens, _ = web_env
    await _as(client, "sup")
    assert (await client.get(f"/recordings/{tokens['b']}")).status == 404


@pytest.mark.parametrize(("text", "field", "value"), [
    ("RP20261122-0001", "task", "RP20261122-0001"),
    ("rp20261122-0001", "task", "RP20261122-0001"),
    ("1795330137.12", "linked_id", "1795330137.12"),
    ("898310048160001", "merchant", "898310048160001"),
    ("138 1234 8000", "caller", "13812348000"),
    ("0216", "caller", "0216"),
    ("联华超市", "merchant", "联华超市"),
])
def test_the_free_text_box_becomes_the_one_filter_its_shape_says(
        text: str, field: str, value: str) -> None:
    from recording.search import expand_free_text
    expanded = expand_free_text(RecordingQuery(q=text))
    assert expanded.q == "" and getattr(expanded, field) == value
