"""The transcription worker on the real Korean vosk model: recordings become stored, searchable
transcripts; keywords alert supervisors and mark the call for QA."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.db.models import SpeechAlertRow
from callcenter.speech_directory import PlainWavRecordings, SqlTranscriptStore
from callcenter.topics import WALLBOARD_TOPIC
from recording.repository import RecordingRepository
from speech.worker import TranscriptionWorker
from tests.speech.conftest import stereo

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Wallboard:
    """Collects what is published (the hub's side of the Publisher port)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, message: dict[str, Any]) -> int:
        self.messages.append((topic, message))
        return 1


async def _call_with_recording(store: Any, root: Path, linked_id: str, wav: Path) -> str:
    await store.calls.upsert(linked_id, NOW)
    shutil.copy(wav, root / f"{linked_id}.wav")
    repo = RecordingRepository(store)
    rec = await repo.register(linked_id, f"/var/spool/asterisk/monitor/{linked_id}.wav", NOW)
    await repo.finish(linked_id, NOW + timedelta(seconds=30))
    return rec.id


async def test_recordings_are_transcribed_searchable_and_keywords_alert(
        sqlite_store: Any, model_dir: Path, voice: Any, tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    radio = await _call_with_recording(sqlite_store, root, "100.1", voice("여보세요 라디오"))
    two = await _call_with_recording(
        sqlite_store, root, "200.1", stereo(voice("네"), voice("라디오"), tmp_path / "s.wav"))
    ts = SqlTranscriptStore(sqlite_store)
    wallboard = Wallboard()
    worker = TranscriptionWorker(ts, PlainWavRecordings(root), wallboard,
                                 model_dir=str(model_dir), language="ko",
                                 keywords=("라디오", "경찰"), workers=1, poll_seconds=0.2)
    await worker.start()
    try:
        for _ in range(600):
            if await ts.backlog() == {"done": 2}:
                break
            await asyncio.sleep(0.1)
    finally:
        await worker.stop()
    assert await ts.backlog() == {"done": 2}

    mono = await ts.transcripts(radio)
    assert [t.channel for t in mono] == ["mixed"]
    word = next(w for w in mono[0].words if w.word == "라디오")
    assert 0.3 < word.start < word.end and 0.5 <= word.conf <= 1.0
    by_channel = {t.channel: t for t in await ts.transcripts(two)}
    assert set(by_channel) == {"caller", "agent"}
    assert "라디오" in by_channel["agent"].text and "라디오" not in by_channel["caller"].text

    hits = await ts.search("라디오", 10)
    assert {(h.recording_token, h.channel) for h in hits} == {(radio, "mixed"), (two, "agent")}
    assert next(h for h in hits if h.recording_token == radio).start == word.start

    alerts = [m for topic, m in wallboard.messages if topic == WALLBOARD_TOPIC]
    assert sorted(a["linked_id"] for a in alerts) == ["100.1", "200.1"]
    assert all(a["type"] == "speech_alert" and a["keywords"] == ["라디오"] and a["qa"]
               for a in alerts)
    async with sqlite_store.transaction() as s:
        marked = sorted((r.linked_id, r.qa_pending)
                        for r in await s.scalars(select(SpeechAlertRow)))
    assert marked == [("100.1", True), ("200.1", True)]


async def test_a_missing_recording_file_is_retried_then_parked_without_blocking(
        sqlite_store: Any, model_dir: Path, voice: Any, tmp_path: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    await _call_with_recording(sqlite_store, root, "100.1", voice("라디오"))
    (root / "100.1.wav").unlink()
    await _call_with_recording(sqlite_store, root, "200.1", voice("라디오"))
    ts = SqlTranscriptStore(sqlite_store)
    worker = TranscriptionWorker(ts, PlainWavRecordings(root), Wallboard(),
                                 model_dir=str(model_dir), language="ko", keywords=())
    worker.pool = worker._new_pool()
    try:
        assert await worker.drain() == 4  # three attempts of the missing one, one success
    finally:
        worker.pool.shutdown()
    assert await ts.backlog() == {"done": 1, "failed": 1}
