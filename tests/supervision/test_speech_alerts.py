"""Speech alerts on the wallboard: the real transcription worker (the Korean vosk model, an
utterance synthesized by espeak-ng) hears a configured keyword in a fresh recording; the
alert is pushed live on the wallboard topic, and a supervisor who opens /wallboard later finds
it in the page's initial board and the WebSocket's hello, with the recording to play."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from callcenter.cti_directory import StoreCtiDirectory
from callcenter.domain import Role
from callcenter.settings import load_settings
from callcenter.speech_directory import PlainWavRecordings, SqlTranscriptStore
from callcenter.supervision_store import StoreDayCalls, StoreStandingAlerts
from callcenter.topics import WALLBOARD_TOPIC
from callcenter.web.app import build_web_app
from cti.service import CtiService
from recording.repository import RecordingRepository
from speech.worker import TranscriptionWorker
from supervision.service import SupervisionService
from supervision.web import web_module
from tests.fakes.hub import RecordingHub
from tests.speech import conftest as speech_fixtures
from tests.web_sessions import session_headers

model_dir = speech_fixtures.model_dir
voice = speech_fixtures.voice

INITIAL = re.compile(r'<script type="application/json" id="wb-initial">(.*?)</script>', re.S)


async def test_a_keyword_heard_is_pushed_and_on_every_fresh_wallboard(
        sqlite_store: Any, model_dir: Path, voice: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    root = tmp_path / "rec"
    root.mkdir()
    await sqlite_store.calls.upsert("300.1", now - timedelta(minutes=2))
    shutil.copy(voice("여보세요 라디오"), root / "300.1.wav")
    recordings = RecordingRepository(sqlite_store)
    recording = await recordings.register("300.1", "/var/spool/asterisk/monitor/300.1.wav",
                                          now - timedelta(minutes=2))
    await recordings.finish("300.1", now - timedelta(minutes=1))

    hub = RecordingHub()
    cti = CtiService(StoreCtiDirectory(sqlite_store), hub)
    supervision = SupervisionService(cti, StoreDayCalls(sqlite_store), hub,
                                     standing=StoreStandingAlerts(sqlite_store))
    hub.observe(supervision.on_published)
    await supervision.refresh_standing()
    assert supervision.standing == []
    worker = TranscriptionWorker(SqlTranscriptStore(sqlite_store), PlainWavRecordings(root),
                                 hub, model_dir=str(model_dir), language="ko",
                                 keywords=("라디오", "경찰"))
    worker.pool = worker._new_pool()
    try:
        assert await worker.drain() == 1
    finally:
        worker.pool.shutdown()
    [live] = hub.to(WALLBOARD_TOPIC, "speech_alert")  # pushed the moment it was heard
    assert (live["linked_id"], live["keywords"]) == ("300.1", ["라디오"])
    task = supervision._standing_task
    assert task is not None
    await task  # the push made the wallboard read its standing alerts again

    boss = await sqlite_store.users.add("boss", "王班长", Role.SUPERVISOR, "!", now)
    settings = load_settings(environ={"CALLCENTER_WEB_SESSION_SECRET": "speech"})
    app = build_web_app(settings, sqlite_store, modules=[web_module(supervision)], hub=hub)
    headers = await session_headers(sqlite_store, boss.id, now)
    try:
        async with TestClient(TestServer(app)) as client:
            page = await client.get("/wallboard", headers=headers)
            found = INITIAL.search(await page.text())
            assert found is not None
            async with client.ws_connect("/ws/wallboard", headers=headers) as ws:
                hello = await ws.receive_json(timeout=5)
    finally:
        await supervision.stop()
    for board in (json.loads(found.group(1)), hello):
        [alert] = board["standing"]
        assert (alert["key"], alert["alert"], alert["keywords"], alert["recording"]) == (
            "speech:300.1", "speech", ["라디오"], recording.id)
        assert alert["hits"][0]["keyword"] == "라디오"
