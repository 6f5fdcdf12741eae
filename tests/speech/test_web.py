"""The transcript pages: search (Chinese and English), the player data, the wrap-up pre-fill,
and who may see what."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.domain import Role
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.speech_directory import SqlTranscriptStore
from callcenter.web.app import build_web_app
from recording.repository import RecordingRepository
from speech.listener import load_phrase_table
from speech.service import SpeechService
from speech.transcript import Transcript, Word
from speech.web import SERVICE, module

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CALLER = Transcript("caller", (Word("我", 0.2, 0.4, 1.0), Word("要", 0.4, 0.6, 1.0),
                               Word("投诉", 1.3, 1.8, 0.9), Word("refund", 2.0, 2.5, 0.8)), 3.0)
AGENT = Transcript("agent", (Word("您好", 0.0, 0.3, 1.0),), 3.0)


@pytest.fixture
async def env(sqlite_store: Any) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    store = sqlite_store
    for name, role in (("sup", Role.SUPERVISOR), ("disp", Role.DISPATCHER)):
        await add_user(store, NOW, username=name, display_name=name, role=role,
                       password="password-1")
    for number in ("8001", "8002"):
        await add_user(store, NOW, username=number, display_name=number, role=Role.AGENT,
                       password="password-1", agent_number=number, interface=f"PJSIP/{number}")
    await store.calls.upsert("1795330137.0", NOW, agent_number="8001")
    repo = RecordingRepository(store)
    rec = await repo.register("1795330137.0", "/var/spool/asterisk/monitor/1795330137.1.wav",
                              NOW)
    await repo.finish("1795330137.0", NOW + timedelta(minutes=1))
    ts = SqlTranscriptStore(store)
    await ts.enqueue_finished(NOW)
    job = await ts.claim(NOW)
    assert job is not None
    await ts.save(job, "zh-CN", [CALLER, AGENT], NOW)
    # A second call of 8001 still being recorded, a third without a recording.
    await store.calls.upsert("1795330200.0", NOW, agent_number="8001")
    await repo.register("1795330200.0", "/var/spool/asterisk/monitor/1795330200.1.wav", NOW)
    await store.calls.upsert("1795330300.0", NOW, agent_number="8001")
    service = SpeechService(ts, enabled=False, language="zh-CN",
                            reason="no model configured for this language (speech.models)",
                            keywords=("投诉", "媒体", "曝光", "报警", "退款"),
                            phrases=load_phrase_table())
    app = build_web_app(load_settings(environ={}), store, modules=[module(service)])
    async with TestClient(TestServer(app)) as client:
        yield client, rec.id


async def _as(client: TestClient[Any, Any], username: str) -> None:
    client.session.cookie_jar.clear()
    r = await client.post("/login", data={"username": username, "password": "password-1"},
                          allow_redirects=False)
    assert r.status == 302


async def test_search_finds_chinese_and_english_and_jumps_to_the_moment(
        env: tuple[TestClient[Any, Any], str]) -> None:
    client, token = env
    await _as(client, "sup")
    for query, channel, start in (("投诉", "caller", 1.3), ("要投", "caller", 0.4),
                                  ("REFUND", "caller", 2.0), ("您好", "agent", 0.0)):
        r = await client.get("/speech/search", params={"q": query},
                             headers={"Accept": "application/json"})
        assert (await r.json())["hits"] == [
            {"recording": token, "linked_id": "1795330137.0", "channel": channel,
             "start": start, "text": "我要投诉 refund" if channel == "caller" else "您好"}]
    page = await (await client.get("/speech/search", params={"q": "投诉"})).text()
    assert f'href="/speech/recordings/{token}#t=1.3"' in page
    empty = await (await client.get("/speech/search", params={"q": "报警"})).text()
    assert "没有找到" in empty


async def test_player_shows_the_transcript_beside_the_recording(
        env: tuple[TestClient[Any, Any], str]) -> None:
    client, token = env
    await _as(client, "sup")
    data = await (await client.get(f"/api/speech/recordings/{token}")).json()
    assert data["audio"] == f"/recordings/{token}"
    assert [c["channel"] for c in data["channels"]] == ["caller", "agent"]
    assert data["channels"][0]["words"][2] == {"word": "投诉", "start": 1.3, "end": 1.8,
                                               "conf": 0.9}
    page = await (await client.get(f"/speech/recordings/{token}")).text()
    assert f'src="/recordings/{token}"' in page and "player.js" in page
    assert "语音识别未启用" in page  # the model is missing: the page says so
    assert (await client.get("/speech/recordings/nope")).status == 404


async def test_the_transcript_prefills_the_wrapup_description(
        env: tuple[TestClient[Any, Any], str]) -> None:
    client, _ = env
    await _as(client, "8001")
    r = await client.get("/api/speech/calls/1795330137.0/prefill")
    assert (await r.json())["description"] == "我要投诉 refund"


async def test_the_prefill_suggests_a_disposition_and_the_keywords_the_caller_said(
        env: tuple[TestClient[Any, Any], str]) -> None:
    client, _ = env
    await _as(client, "8001")
    r = await client.get("/api/speech/calls/1795330137.0/prefill")
    # the caller (not the agent's 您好) said 投诉: the IVR's complaint intent → complaint_1
    assert await r.json() == {
        "linked_id": "1795330137.0", "status": "ready", "description": "我要投诉 refund",
        "keywords": ["投诉"], "intent": "complaint", "disposition": "complaint_1"}


async def test_the_prefill_says_when_to_ask_again(
        env: tuple[TestClient[Any, Any], str]) -> None:
    client, _ = env
    await _as(client, "8001")

    async def status(linked_id: str) -> dict[str, Any]:
        r = await client.get(f"/api/speech/calls/{linked_id}/prefill")
        assert r.status == 200
        return dict(await r.json())

    # still being recorded, but this server has no model: nothing will come
    assert (await status("1795330200.0"))["status"] == "off"
    client.app[SERVICE].enabled = True
    recording = await status("1795330200.0")
    assert recording == {"linked_id": "1795330200.0", "status": "pending", "description": "",
                         "keywords": [], "intent": None, "disposition": None}
    assert (await status("1795330300.0"))["status"] == "none"  # no recording at all


@pytest.mark.parametrize(("who", "path", "status"), [
    ("disp", "/speech/search?q=x", 403), ("8001", "/speech/search?q=x", 403),
    ("sup", "/speech/search?q=x", 200),
    ("disp", "/api/speech/recordings/{token}", 403), ("8001", "/api/speech/recordings/{token}", 403),
    ("8002", "/api/speech/calls/1795330137.0/prefill", 403),
    ("8002", "/api/speech/calls/1795330200.0/prefill", 403),
    ("8002", "/api/speech/calls/nope/prefill", 404),
    ("disp", "/api/speech/calls/1795330137.0/prefill", 403),
    ("sup", "/api/speech/calls/1795330137.0/prefill", 200),
    ("sup", "/api/speech/calls/nope/prefill", 404),
])
async def test_who_may_see_transcripts(env: tuple[TestClient[Any, Any], str], who: str,
                                       path: str, status: int) -> None:
    client, token = env
    await _as(client, who)
    r = await client.get(path.format(token=token), headers={"Accept": "application/json"})
    assert r.status == status


async def test_anonymous_is_sent_to_login(env: tuple[TestClient[Any, Any], str]) -> None:
    client, _ = env
    r = await client.get("/speech/search", allow_redirects=False)
    assert r.status == 302
