"""Transcript storage, the durable queue and substring search, on SQLite and PostgreSQL.

The transcripts stored here are data for the index (Chinese and English words as a Mandarin
or English model returns them: space-separated words with times), not a recognizer: the
recognizer is tested on real audio in test_worker.py and test_transcribe_cli.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callcenter.speech_directory import SqlTranscriptStore
from recording.repository import RecordingRepository
from speech.ports import Job
from speech.transcript import Transcript, Word

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _words(*items: str) -> tuple[Word, ...]:
    return tuple(Word(w, 0.5 * i, 0.5 * i + 0.4, 0.9) for i, w in enumerate(items))


CHINESE = Transcript("caller", _words("你好", "我", "要", "投", "诉", "你们", "的", "服务"), 4.0)
AGENT = Transcript("agent", _words("您好", "请", "讲"), 4.0)
ENGLISH = Transcript("mixed", _words("I", "want", "a", "Refund", "for", "the", "terminal"), 4.0)


async def _recording(store: Any, linked_id: str, *, queue: str = "", ended: bool = True) -> str:
    await store.calls.upsert(linked_id, NOW, queue=queue)
    repo = RecordingRepository(store)
    rec = await repo.register(linked_id, f"/var/spool/asterisk/monitor/{linked_id}.wav", NOW)
    if ended:
        await repo.finish(linked_id, NOW + timedelta(minutes=2))
    return rec.id


async def _transcribe_all(ts: SqlTranscriptStore, by_call: dict[str, list[Transcript]]) -> None:
    await ts.enqueue_finished(NOW)
    while (job := await ts.claim(NOW)) is not None:
        await ts.save(job, "zh-CN", by_call[job.linked_id], NOW)


async def test_chinese_substrings_are_found_whatever_the_word_segmentation(store: Any) -> None:
    ts = SqlTranscriptStore(store)
    token = await _recording(store, "1.1")
    await _recording(store, "2.1")
    await _transcribe_all(ts, {"1.1": [CHINESE, AGENT], "2.1": [ENGLISH]})
    # 投诉 was recognised as two words 投 / 诉; 2 characters (below a trigram), 3 and more
    for needle, moment in (("投诉", 1.5), ("我要投诉", 0.5), ("要投诉你们", 1.0), ("服务", 3.5)):
        hits = await ts.search(needle, 10)
        assert [(h.recording_token, h.channel, h.start) for h in hits] == [
            (token, "caller", moment)], needle
    assert [h.channel for h in await ts.search("您好", 10)] == ["agent"]
    assert await ts.search("报警", 10) == []


async def test_english_words_are_found_case_insensitively(store: Any) -> None:
    ts = SqlTranscriptStore(store)
    token = await _recording(store, "2.1")
    await _transcribe_all(ts, {"2.1": [ENGLISH]})
    for needle in ("refund", "REFUND", "a refund", "termin"):
        hits = await ts.search(needle, 10)
        assert [h.recording_token for h in hits] == [token], needle
    assert (await ts.search("a refund", 10))[0].start == 1.0
    assert await ts.search("100%", 10) == []


async def test_a_new_transcript_replaces_the_old_one_in_the_index(store: Any) -> None:
    ts = SqlTranscriptStore(store)
    token = await _recording(store, "1.1")
    await _transcribe_all(ts, {"1.1": [CHINESE]})
    rec_id = (await ts.search("投诉", 1))[0]
    job = Job(id=1, recording_id=1, recording_token=token, recording_path="1.1.wav",
              linked_id="1.1", priority=0, attempts=0)
    await ts.save(job, "zh-CN", [AGENT], NOW)
    assert rec_id and await ts.search("投诉", 10) == []
    assert [t.channel for t in await ts.transcripts(token)] == ["agent"]


async def test_complaint_calls_are_claimed_first_and_unended_recordings_wait(store: Any) -> None:
    ts = SqlTranscriptStore(store)
    await _recording(store, "1.1")
    await _recording(store, "2.1", queue="complaints")
    await _recording(store, "3.1", ended=False)
    assert await ts.enqueue_finished(NOW) == 2
    assert await ts.enqueue_finished(NOW) == 0  # one job per recording
    first, second = await ts.claim(NOW), await ts.claim(NOW)
    assert first is not None and second is not None
    assert (first.linked_id, second.linked_id) == ("2.1", "1.1")
    assert await ts.claim(NOW) is None


async def test_a_job_interrupted_by_a_restart_is_requeued_and_nothing_is_lost(store: Any) -> None:
    ts = SqlTranscriptStore(store)
    await _recording(store, "1.1")
    await ts.enqueue_finished(NOW)
    assert await ts.claim(NOW) is not None  # the process stops here
    assert await ts.claim(NOW) is None
    assert await ts.backlog() == {"running": 1}
    assert await ts.requeue_running(NOW) == 1  # the next start
    job = await ts.claim(NOW)
    assert job is not None and job.linked_id == "1.1"


async def test_failures_are_retried_then_parked(store: Any) -> None:
    ts = SqlTranscriptStore(store)
    await _recording(store, "1.1")
    await ts.enqueue_finished(NOW)
    states = []
    while (job := await ts.claim(NOW)) is not None:
        states.append(await ts.fail(job, "AudioFormatError: not a WAV", NOW))
    assert states == ["pending", "pending", "failed"]
    assert await ts.backlog() == {"failed": 1}


async def test_a_calls_transcription_progress_follows_its_recordings_and_jobs(store: Any) -> None:
    from speech.jobs import call_progress

    ts = SqlTranscriptStore(store)
    assert await ts.call_recordings("9.1") == []
    assert call_progress(await ts.call_recordings("9.1")) == "none"
    await _recording(store, "9.1", ended=False)
    assert await ts.call_recordings("9.1") == [(False, None)]  # still recording
    await RecordingRepository(store).finish("9.1", NOW + timedelta(minutes=1))
    assert await ts.call_recordings("9.1") == [(True, None)]  # waits for its job
    await ts.enqueue_finished(NOW)
    assert await ts.call_recordings("9.1") == [(True, "pending")]
    assert call_progress(await ts.call_recordings("9.1")) == "pending"
    await _transcribe_all(ts, {"9.1": [CHINESE]})
    assert await ts.call_recordings("9.1") == [(True, "done")]
    assert call_progress(await ts.call_recordings("9.1")) == "done"
