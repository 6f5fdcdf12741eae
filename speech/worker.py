"""The transcription worker: every ended recording is transcribed after the call, without
competing with calls.

* Its own process pool (``speech.workers`` processes, ``spawn``ed so that no event-loop or
  database state is forked), each at CPU priority ``speech.nice`` (19 by default): under load
  the kernel gives the ``serve`` process's calls the CPU first and the transcription the rest
  (bench/transcribe.py measures the FastAGI p99 with and without it).
* Each process loads the model once (``speech.recognizer.load_model``).
* The queue is durable (``transcription_jobs``): complaint calls first, a backlog drains at
  the pool's pace and survives restarts (``speech.jobs`` has the rules).
* After a transcript is stored, configured keywords raise an alert on the ``wallboard`` topic
  and mark the call for QA.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

from callcenter.topics import WALLBOARD_TOPIC, Publisher
from speech.errors import SpeechError
from speech.keywords import alert_message, find_keywords
from speech.ports import Job, RecordingAudio, TranscriptStore
from speech.transcript import Transcript, transcript_from_json

logger = logging.getLogger(__name__)


def _init_process(nice: int, model_dir: str) -> None:
    """Runs once in each pool process: lower its priority, load the model."""
    from speech.recognizer import load_model

    with contextlib.suppress(OSError):
        os.nice(max(0, nice - os.nice(0)))
    load_model(model_dir)


def _transcribe_in_process(model_dir: str, path: str) -> list[dict[str, Any]]:
    from speech.recognizer import transcribe_file

    return [t.as_json() for t in transcribe_file(model_dir, path)]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TranscriptionWorker:
    """A ``serve`` component: claims jobs, transcribes in the pool, stores, alerts."""

    name = "speech-worker"

    def __init__(self, store: TranscriptStore, audio: RecordingAudio, publisher: Publisher, *,
                 model_dir: str, language: str, keywords: Sequence[str], workers: int = 1,
                 nice: int = 19, poll_seconds: float = 5.0,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.store = store
        self.audio = audio
        self.publisher = publisher
        self.model_dir = model_dir
        self.language = language
        self.keywords = tuple(keywords)
        self.workers = max(1, workers)
        self.nice = nice
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.pool: ProcessPoolExecutor | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.wake = asyncio.Event()
        self.done = 0
        self.failed = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_process,
                                   initargs=(self.nice, self.model_dir))

    async def start(self) -> None:
        """Put back what a stopped process left running, then run one loop per process."""
        requeued = await self.store.requeue_running(self.clock())
        if requeued:
            logger.info("speech: %d interrupted transcription(s) back in the queue", requeued)
        self.pool = self._new_pool()
        self.tasks = [asyncio.create_task(self._loop(i), name=f"speech-worker-{i}")
                      for i in range(self.workers)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        # A job cancelled mid-way stays "running" and is requeued by the next start.

    def poke(self) -> None:
        """Look for new recordings now rather than at the next poll."""
        self.wake.set()

    async def _loop(self, index: int) -> None:
        while True:
            try:
                if index == 0:
                    await self.store.enqueue_finished(self.clock())
                while await self.run_one():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("speech worker %d: unexpected error; retrying", index)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.poll_seconds)
            self.wake.clear()

    async def run_one(self) -> bool:
        """Claim and finish one job; False when the queue is empty."""
        job = await self.store.claim(self.clock())
        if job is None:
            return False
        try:
            transcripts = await self._transcribe(job)
        except (SpeechError, OSError, BrokenProcessPool) as exc:
            state = await self.store.fail(job, f"{type(exc).__name__}: {exc}", self.clock())
            self.failed += 1
            logger.warning("speech: recording %s of call %s failed (%s), now %s",
                           job.recording_token, job.linked_id, exc, state)
            if isinstance(exc, BrokenProcessPool) and self.pool is not None:
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = self._new_pool()
            return True
        await self.store.save(job, self.language, transcripts, self.clock())
        self.done += 1
        logger.info("speech: call %s transcribed (%s)", job.linked_id,
                    ", ".join(f"{t.channel} {len(t.words)} words" for t in transcripts))
        hits = find_keywords(transcripts, self.keywords)
        if hits:
            keywords = sorted({h.keyword for h in hits})
            await self.store.add_alert(job, keywords, hits, self.clock())
            self.publisher.publish(WALLBOARD_TOPIC,
                                   alert_message(job.linked_id, job.recording_token, hits))
            logger.info("speech: call %s alert %s, marked for QA", job.linked_id, keywords)
        return True

    async def _transcribe(self, job: Job) -> list[Transcript]:
        assert self.pool is not None, "start() first"
        loop = asyncio.get_running_loop()
        async with self.audio.wav(job.recording_path) as path:
            data = await loop.run_in_executor(self.pool, _transcribe_in_process,
                                              self.model_dir, str(path))
        return [transcript_from_json(d) for d in data]

    async def drain(self) -> int:
        """Enqueue and transcribe everything waiting (tests, the bench); returns how many
        jobs ran."""
        await self.store.enqueue_finished(self.clock())
        count = 0
        while await self.run_one():
            count += 1
        return count
