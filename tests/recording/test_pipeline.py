"""The storage pipeline on real speech: compress, verify, seal, index, remove the original;
a crash at any step is resumed without losing the recording."""

from __future__ import annotations

import hashlib
import os
import shutil
import wave
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callcenter.recording_directory import StorePipelineStore
from recording import codec
from recording.pipeline import StepRunner, StoragePipeline, decoded_wav, open_plain
from recording.pipeline_state import (
    LEASE,
    MAX_ATTEMPTS,
    Stage,
    Step,
    after_failure,
    next_step,
)
from recording.ports import PipelineItem, StageUpdate
from recording.repository import RecordingRepository
from recording.sealed import Keyring, read_header
from tests.recording.conftest import AGENT, CALLER, need_audio_tools, speak, stereo

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
KEYS = Keyring({"k1": bytes(range(32))}, "k1")


# --------------------------------------------------------------------------- the pure machine


@pytest.mark.parametrize(("stage", "step", "then"), [
    (Stage.NEW, Step.COMPRESS, Stage.COMPRESSED),
    (Stage.COMPRESSED, Step.VERIFY, Stage.VERIFIED),
    (Stage.VERIFIED, Step.SEAL, Stage.SEALED),
    (Stage.SEALED, Step.INDEX, Stage.INDEXED),
    (Stage.INDEXED, Step.REMOVE_ORIGINAL, Stage.STORED),
])
def test_each_stage_has_one_next_step(stage: Stage, step: Step, then: Stage) -> None:
    plan = next_step(stage, call_ended=True)
    assert plan is not None and (plan.step, plan.then) == (step, then)


@pytest.mark.parametrize("stage", [Stage.STORED, Stage.FAILED, Stage.PURGED])
def test_final_stages_have_no_step(stage: Stage) -> None:
    assert next_step(stage, call_ended=True) is None


def test_nothing_runs_while_the_call_is_still_recording() -> None:
    assert next_step(Stage.NEW, call_ended=False) is None


def test_failures_back_off_then_give_up() -> None:
    first = after_failure(0, NOW)
    assert first.retry_at == NOW + timedelta(seconds=30) and first.stage is None
    assert after_failure(3, NOW).retry_at == NOW + timedelta(minutes=4)
    last = after_failure(MAX_ATTEMPTS - 1, NOW)
    assert last.retry_at is None and last.stage is Stage.FAILED


# --------------------------------------------------------------------------- the worker


async def _recorded_call(store: Any, root: Path, source: Path, linked_id: str = "1795330137.0",
                         name: str = "2026/11/1795330137.1.wav", ended: bool = True) -> str:
    await store.calls.upsert(linked_id, NOW, agent_number="8001", queue="techsupport",
                             caller_number="13812348000")
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    repo = RecordingRepository(store)
    rec = await repo.register(linked_id, f"/var/spool/asterisk/monitor/{name}", NOW)
    if ended:
        await repo.finish(linked_id, NOW + timedelta(seconds=20))
    return rec.id


def _clock() -> datetime:
    return NOW + timedelta(minutes=1)


def _after_lease() -> datetime:
    return _clock() + LEASE + timedelta(seconds=1)


async def test_a_finished_call_is_compressed_sealed_indexed_and_the_wav_removed(
        store: Any, tmp_path: Path, speech: Path) -> None:
    root = tmp_path / "rec"
    token = await _recorded_call(store, root, speech)
    ports = StorePipelineStore(store)
    assert await StoragePipeline(ports, root, KEYS, _clock).run_once() == 1

    rec = await ports.stored(token)
    assert rec is not None and rec.stage is Stage.STORED
    assert not (root / "2026/11/1795330137.1.wav").exists()
    assert not (root / "2026/11/1795330137.1.ogg").exists()  # only the sealed copy stays
    stored = root / rec.stored_path
    assert rec.stored_path == "2026/11/1795330137.1.ogg.sealed" and rec.key_id == "k1"
    assert read_header(stored.read_bytes()).key_id == "k1"
    assert b"OggS" not in stored.read_bytes()
    original = codec.wav_info(speech)
    assert rec.duration_s == pytest.approx(original.seconds, abs=0.01)
    assert rec.codec == "opus" and rec.agent_number == "8001" and len(rec.peaks) > 100
    assert max(rec.peaks) > 10  # speech, not silence

    with open_plain(root, rec, KEYS) as audio:
        assert audio.media_type == "audio/ogg" and audio.size == rec.plain_size
        assert audio.read(0, 4) == b"OggS"
    back = decoded_wav(root, rec, KEYS, tmp_path / "back.wav", rate=original.rate)
    assert abs(back.frames - original.frames) <= original.rate // 50
    # compression is real: at most a fifth of the WAV
    assert rec.plain_size is not None and rec.plain_size < codec.wav_info(speech).frames * 2 / 5


async def test_index_row_carries_call_facts_checksum_and_size(
        sqlite_store: Any, tmp_path: Path, speech: Path) -> None:
    root = tmp_path / "rec"
    token = await _recorded_call(sqlite_store, root, speech)
    await StoragePipeline(StorePipelineStore(sqlite_store), root, KEYS, _clock).run_once()
    from sqlalchemy import select

    from callcenter.db.models import RecordingRow
    async with sqlite_store.transaction() as s:
        row = await s.scalar(select(RecordingRow).where(RecordingRow.token == token))
    data = (root / row.stored_path).read_bytes()
    assert row.sha256 == hashlib.sha256(data).hexdigest() and row.size_bytes == len(data)
    assert (row.queue, row.caller_number, row.agent_number) == (
        "techsupport", "13812348000", "8001")
    assert row.indexed_at == _clock()


async def test_without_keys_the_ogg_is_the_stored_file(
        sqlite_store: Any, tmp_path: Path, speech: Path) -> None:
    root = tmp_path / "rec"
    token = await _recorded_call(sqlite_store, root, speech)
    ports = StorePipelineStore(sqlite_store)
    await StoragePipeline(ports, root, None, _clock).run_once()
    rec = await ports.stored(token)
    assert rec is not None and rec.key_id == "" and rec.stored_path.endswith(".ogg")
    assert (root / rec.stored_path).read_bytes()[:4] == b"OggS"


async def test_caller_and_agent_legs_are_kept_as_two_channels(
        sqlite_store: Any, tmp_path: Path) -> None:
    """With CC_RECORD_LEGS the dialplan leaves <id>-rx.wav (caller) and <id>-tx.wav (agent)
    beside the mixed file: the stored recording is stereo, caller left, agent right."""
    need_audio_tools()
    root = tmp_path / "rec"
    caller = speak(CALLER, tmp_path / "c.wav")
    agent = speak(AGENT, tmp_path / "a.wav")
    mixed = stereo(caller, agent, tmp_path / "mixed.wav")  # stands in for the mix
    token = await _recorded_call(sqlite_store, root, mixed)
    with wave.open(str(agent), "rb") as w:  # the agent answers after 2 s of silence
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    with wave.open(str(root / "2026/11/1795330137.1-tx.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(4 * rate) + frames)
    shutil.copy(caller, root / "2026/11/1795330137.1-rx.wav")
    ports = StorePipelineStore(sqlite_store)
    await StoragePipeline(ports, root, KEYS, _clock).run_once()
    rec = await ports.stored(token)
    assert rec is not None and rec.stage is Stage.STORED
    assert sorted(p.name for p in (root / "2026/11").iterdir()) == ["1795330137.1.ogg.sealed"]
    back = decoded_wav(root, rec, KEYS, tmp_path / "back.wav", rate=16000)
    assert back.channels == 2
    with wave.open(str(tmp_path / "back.wav"), "rb") as w:
        first_second = array("h", w.readframes(16000))
    left, right = first_second[0::2], first_second[1::2]
    # the right channel is silent but for what the codec lets through (< -20 dB)
    assert max(map(abs, left)) > 3000
    assert max(map(abs, right)) < max(map(abs, left)) / 10


async def test_a_call_still_recording_is_left_alone(
        sqlite_store: Any, tmp_path: Path, speech: Path) -> None:
    root = tmp_path / "rec"
    token = await _recorded_call(sqlite_store, root, speech, ended=False)
    ports = StorePipelineStore(sqlite_store)
    assert await StoragePipeline(ports, root, KEYS, _clock).run_once() == 0
    rec = await ports.stored(token)
    assert rec is not None and rec.stage is Stage.NEW
    assert (root / "2026/11/1795330137.1.wav").exists()


class Crash(BaseException):
    """Stands for the process being killed: nothing in the worker catches it."""


class CrashingRunner(StepRunner):
    def __init__(self, base: StepRunner, at: Step, after_file: bool) -> None:
        super().__init__(base.root, base.keyring)
        self.at, self.after_file = at, after_file

    def _maybe(self, step: Step, work: Any, item: PipelineItem) -> StageUpdate:
        if step is self.at and not self.after_file:
            raise Crash(step)
        update = work(item)
        if step is self.at:
            raise Crash(step)  # the file is complete, the stage not committed
        return update  # type: ignore[no-any-return]

    def compress(self, item: PipelineItem) -> StageUpdate:
        return self._maybe(Step.COMPRESS, super().compress, item)

    def verify(self, item: PipelineItem) -> StageUpdate:
        return self._maybe(Step.VERIFY, super().verify, item)

    def seal(self, item: PipelineItem) -> StageUpdate:
        return self._maybe(Step.SEAL, super().seal, item)

    def index(self, item: PipelineItem) -> StageUpdate:
        return self._maybe(Step.INDEX, super().index, item)

    def remove_original(self, item: PipelineItem) -> StageUpdate:
        return self._maybe(Step.REMOVE_ORIGINAL, super().remove_original, item)


@pytest.mark.parametrize("after_file", [False, True], ids=["before-output", "after-output"])
@pytest.mark.parametrize("at", list(Step))
async def test_a_crash_at_any_step_is_resumed_and_loses_nothing(
        sqlite_store: Any, tmp_path: Path, speech: Path, at: Step, after_file: bool) -> None:
    root = tmp_path / "rec"
    token = await _recorded_call(sqlite_store, root, speech)
    ports = StorePipelineStore(sqlite_store)
    crashing = StoragePipeline(ports, root, KEYS, _clock)
    crashing.runner = CrashingRunner(crashing.runner, at, after_file)
    with pytest.raises(Crash):
        await crashing.run_once()
    rec = await ports.stored(token)
    assert rec is not None and rec.stage is not Stage.STORED
    if at is not Step.REMOVE_ORIGINAL or not after_file:
        assert (root / "2026/11/1795330137.1.wav").exists(), "the original went too early"

    # another process: the crashed worker's lease holds the row until it runs out
    assert await StoragePipeline(ports, root, KEYS, _clock).run_once() == 0
    assert await StoragePipeline(ports, root, KEYS, _after_lease).run_once() == 1
    rec = await ports.stored(token)
    assert rec is not None and rec.stage is Stage.STORED
    original = codec.wav_info(speech)
    back = decoded_wav(root, rec, KEYS, tmp_path / "back.wav", rate=original.rate)
    assert abs(back.frames - original.frames) <= original.rate // 50
    leftovers = sorted(p.name for p in (root / "2026/11").iterdir())
    assert leftovers == ["1795330137.1.ogg.sealed"]


async def test_a_missing_original_is_retried_later_then_marked_failed(
        sqlite_store: Any, tmp_path: Path, speech: Path) -> None:
    root = tmp_path / "rec"
    token = await _recorded_call(sqlite_store, root, speech)
    (root / "2026/11/1795330137.1.wav").unlink()
    ports = StorePipelineStore(sqlite_store)
    now = [_clock()]
    pipeline = StoragePipeline(ports, root, KEYS, lambda: now[0])
    assert await pipeline.run_once() == 0
    assert await ports.due(now[0], 10) == []  # waiting for its retry
    for _ in range(MAX_ATTEMPTS):
        now[0] += timedelta(hours=2)
        await pipeline.run_once()
    rec = await ports.stored(token)
    assert rec is not None and rec.stage is Stage.FAILED
    assert (await ports.counts()).get("failed") == 1


def test_compressed_output_is_never_left_half_written(tmp_path: Path, speech: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    runner = StepRunner(root, None)
    shutil.copy(speech, root / "a.wav")
    item = PipelineItem(id=1, token="t", linked_id="l", path="a.wav", stage=Stage.NEW,
                        attempts=0, started_at=NOW, ended_at=NOW)
    runner.compress(item)
    assert sorted(os.listdir(root)) == ["a.ogg", "a.wav"]


async def test_other_features_read_a_recording_by_token_whatever_its_storage(
        sqlite_store: Any, tmp_path: Path, speech: Path) -> None:
    from recording.errors import RecordingMissing
    from recording.pipeline import RecordingReader
    root = tmp_path / "rec"
    token = await _recorded_call(sqlite_store, root, speech)
    ports = StorePipelineStore(sqlite_store)
    reader = RecordingReader(ports.stored, root, KEYS)
    before = await reader.wav(token, tmp_path / "before.wav", rate=16000)  # still the WAV
    await StoragePipeline(ports, root, KEYS, _clock).run_once()
    after = await reader.wav(token, tmp_path / "after.wav", rate=16000)  # sealed Opus
    assert after.rate == 16000 and abs(after.seconds - codec.wav_info(speech).seconds) < 0.05
    assert before.frames > 0 and (await reader.playable(token))[:4] == b"OggS"
    with pytest.raises(RecordingMissing):
        await reader.wav("nope", tmp_path / "x.wav")
