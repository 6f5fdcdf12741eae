"""The call log's ordered write-behind writer.

Rules of the writer
-------------------
1. Nothing on the AMI path awaits the database: ``enqueue`` puts a frozen write
   (``cti.ports``: ``CallWrite``, ``CallEventWrite``, ``AgentStateWrite``,
   ``RecordingRegister``, ``RecordingFinish``) on one bounded queue and returns.
2. One writer task drains the queue in arrival order, so writes are in order per call.
3. Row writes that follow each other share one transaction (``CallLogStore.write_rows``),
   up to ``writer_batch`` of them; the writer lingers ``writer_linger_s`` after the first
   write of a batch so that one transaction carries many (unless a ``flush`` waits).
4. A failed batch is written again one write at a time, each with three attempts
   (``CtiStorageError`` retried after 0.2 s, 0.8 s); a write that still fails is counted and
   logged, and the others go on.
5. A full queue drops the write (counted, logged every 1,000th).
6. ``after_commit(callback)`` runs ``callback`` once every write queued before it is
   committed or given up (at once when the writer is not running, or the queue is full).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cti.errors import CtiStorageError
from cti.ports import (
    AgentStateWrite,
    CallEventWrite,
    CallLogStore,
    CallWrite,
    RecordingFinish,
    RecordingRegister,
    RowWrite,
)

__all__ = ["CallLogWriter", "WriterStats"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _AfterCommit:
    """Run ``callback`` once every write queued before it is committed (or given up)."""

    callback: Callable[[], None]


_Job = RowWrite | RecordingRegister | RecordingFinish | _AfterCommit


@dataclass(slots=True)
class WriterStats:
    writes: int = 0
    write_failures: int = 0
    dropped_writes: int = 0


class CallLogWriter:
    """The write-behind queue and its writer task (see the module docstring).

    ``enqueue``/``after_commit`` never await; ``start`` launches the writer task; ``flush``
    waits for what is queued (raises RuntimeError when the writer is not running); ``stop``
    flushes up to ``flush_timeout`` seconds, then cancels the writer.
    """

    def __init__(self, store: CallLogStore, *, batch: int = 500, linger_s: float = 0.05,
                 queue_max: int = 100_000) -> None:
        self.store = store
        self.batch = batch
        self.linger_s = linger_s
        self.stats = WriterStats()
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_max)
        self._writer: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()  # a flush() is waiting: write without lingering

    @property
    def running(self) -> bool:
        return self._writer is not None

    @property
    def backlog(self) -> int:
        """Writes queued and not yet committed."""
        return self._queue.qsize()

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="cti-writer")

    async def stop(self, flush_timeout: float = 5.0) -> None:
        if self._writer is None:
            return
        try:
            await asyncio.wait_for(self.flush(), flush_timeout)
        except TimeoutError:
            logger.error("CTI writer: %d writes not flushed at stop", self._queue.qsize())
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None

    async def flush(self) -> None:
        """Wait until every write queued so far is committed (or given up)."""
        if self._writer is None:
            raise RuntimeError("the CTI writer is not running (call start() first)")
        done = asyncio.get_running_loop().create_future()

        def release() -> None:
            if not done.done():
                done.set_result(None)

        self._put(_AfterCommit(release))
        self._hurry.set()
        await done

    def enqueue(self, job: RowWrite | RecordingRegister | RecordingFinish) -> None:
        """Queue one write (rule 1); never awaits."""
        self._put(job)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Rule 6."""
        if self._writer is None:
            callback()
        else:
            self._put(_AfterCommit(callback))

    def _put(self, job: _Job) -> None:
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.stats.dropped_writes += 1
            if self.stats.dropped_writes % 1000 == 1:
                logger.error("CTI writer backlog full (%d): dropping %s", self._queue.qsize(),
                             type(job).__name__)
            if isinstance(job, _AfterCommit):
                job.callback()

    async def _write_loop(self) -> None:
        while True:
            job = await self._queue.get()
            if not self._hurry.is_set():
                # Linger a moment so that one transaction carries many writes: far fewer
                # round trips to the database thread, which the AMI path shares the CPU with.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self.linger_s)
            self._hurry.clear()
            batch = [job]
            while len(batch) < self.batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self._write_batch(batch)

    async def _write_batch(self, batch: list[_Job]) -> None:
        """Carry out ``batch`` in order: runs of row writes share one transaction."""
        rows: list[RowWrite] = []
        for job in batch:
            if isinstance(job, CallWrite | CallEventWrite | AgentStateWrite):
                rows.append(job)
                continue
            if rows:
                await self._write_rows(rows)
                rows = []
            if isinstance(job, _AfterCommit):
                try:
                    job.callback()
                except Exception:
                    logger.exception("CTI after-commit callback failed")
            else:
                await self._write_one(job)
        if rows:
            await self._write_rows(rows)

    async def _write_rows(self, jobs: list[RowWrite]) -> None:
        try:
            await self.store.write_rows(jobs)
            self.stats.writes += len(jobs)
        except Exception:
            # One bad job (or a row the IVR inserted meanwhile) must not lose the others:
            # write them one by one, each with a few retries.
            logger.warning("CTI writer: batch of %d failed; writing one by one", len(jobs),
                           exc_info=True)
            for job in jobs:
                await self._write_one(job)

    async def _write_one(self, job: RowWrite | RecordingRegister | RecordingFinish,
                         attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            try:
                if isinstance(job, RecordingRegister):
                    await self.store.register_recording(job)
                elif isinstance(job, RecordingFinish):
                    await self.store.finish_recordings(job)
                else:
                    await self.store.write_rows([job])
                self.stats.writes += 1
                return
            except CtiStorageError as exc:
                if attempt == attempts:
                    self.stats.write_failures += 1
                    logger.error("CTI writer: giving up %r after %d attempts: %s", job,
                                 attempts, exc.__cause__ or exc)
                    return
                await asyncio.sleep(0.05 * 4 ** attempt)
            except Exception:
                self.stats.write_failures += 1
                logger.exception("CTI writer: %r failed", job)
                return
