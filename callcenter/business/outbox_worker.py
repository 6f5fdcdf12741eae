"""The outbox delivery worker: a runtime component (``name``, ``start``, ``stop``). Adapter.

Each round claims a batch of due rows (one short transaction; on PostgreSQL ``FOR UPDATE SKIP
LOCKED``, so any number of workers in any number of processes split the rows between them),
posts them concurrently, runs each answer through the pure machine in
:mod:`callcenter.business.outbox_state`, and writes the outcomes back in a second transaction —
only for rows whose lease it still holds. Between rounds it sleeps until woken (a wrap-up just
queued a row) or until the poll interval passes (rows written by another process, retries
coming due).

The clock and the jitter source are injected: tests drive whole outages with a fake clock by
calling :meth:`OutboxWorker.run_once` themselves.

A row is posted at most once per claim. A worker that dies mid-attempt leaves the row in
flight until its lease ends; then another worker posts it again under the same
``Idempotency-Key`` and the business system answers 409: delivered once, counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from callcenter.business.business_protocol import Acknowledgement
from callcenter.business.errors import DeliveryRejected, DeliveryTemporary
from callcenter.business.outbox_state import (
    LEASE,
    MIN_JITTER,
    Acknowledged,
    Claimed,
    Delivery,
    Failed,
    GiveUp,
    ScheduleRetry,
    delivery_from_entry,
    transition,
)
from callcenter.business.records import OutboxEntry
from callcenter.business.repository import BusinessRepository, Completion

logger = logging.getLogger(__name__)

Deliver = Callable[[OutboxEntry], Awaitable[Acknowledgement]]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class RoundReport:
    """What one round did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # leases that expired under us (the result was dropped)


def default_owner() -> str:
    """``host:pid:random``: unique per worker, readable in the outbox table."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OutboxWorker:
    """Delivers outbox rows until stopped."""

    def __init__(self, repo: BusinessRepository, deliver: Deliver, *, clock: Clock,
                 jitter: Callable[[], float] | None = None, owner: str | None = None,
                 batch_size: int = 100, concurrency: int = 8, poll_interval: float = 1.0,
                 lease: timedelta = LEASE,
                 on_completed: Callable[[Sequence[Completion]], None] | None = None,
                 name: str = "business-outbox") -> None:
        self.name = name
        self.repo = repo
        self.deliver = deliver
        self.clock = clock
        rng = random.Random()  # noqa: S311 - jitter spreads retries, it guards nothing
        self.jitter = jitter or (lambda: MIN_JITTER + (1 - MIN_JITTER) * rng.random())
        self.owner = owner or default_owner()
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.lease = lease
        self.on_completed = on_completed
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ one round

    async def run_once(self) -> RoundReport:
        """Claim one batch, post it, record the outcomes. Awaits the database and the HTTP
        answers; raises only what the database raises (the caller's loop logs it)."""
        now = self.clock()
        claimed = await self.repo.claim(
            self.owner, now, self.batch_size,
            lambda d: transition(d, Claimed(self.owner, self.lease), now)[0])
        if not claimed:
            return RoundReport()
        gate = asyncio.Semaphore(self.concurrency)

        async def attempt(entry: OutboxEntry, number: str
                          ) -> tuple[int, Delivery, str, bool]:
            async with gate:
                event = await self._post(entry, number)
            after, effects = transition(delivery_from_entry(entry), event, self.clock())
            for effect in effects:
                if isinstance(effect, ScheduleRetry):
                    logger.info("outbox %s: in_flight -> pending (attempt %s: %s); retry at %s",
                             entry.idempotency_key, after.attempts, effect.error,
                             effect.at.isoformat())
                elif isinstance(effect, GiveUp):
                    logger.error("outbox %s: in_flight -> dead after %s attempt(s): %s",
                              entry.idempotency_key, after.attempts, effect.error)
            if isinstance(event, Acknowledged):
                return entry.id, after, event.external_id, True
            return entry.id, after, "", False

        results = await asyncio.gather(*(attempt(e, n) for e, n in claimed))
        completions = await self.repo.complete(self.owner, results, self.clock())
        if completions and self.on_completed is not None:
            self.on_completed(completions)
        states = [r[1].state.value for r in results]
        return RoundReport(
            claimed=len(claimed), delivered=states.count("delivered"),
            retried=states.count("pending"), dead=states.count("dead"),
            lost=len(results) - len(completions))

    async def _post(self, entry: OutboxEntry, number: str) -> Acknowledged | Failed:
        try:
            ack = await self.deliver(entry)
        except DeliveryTemporary as exc:
            return Failed(str(exc), retryable=True, jitter=self.jitter())
        except DeliveryRejected as exc:
            return Failed(str(exc), retryable=False)
        except Exception as exc:
            # Per-row boundary: a bug in one delivery must not stop the others; the row is
            # retried like a temporary failure and the traceback is in the log.
            logger.exception("outbox %s (task %s): unexpected delivery error",
                          entry.idempotency_key, number)
            return Failed(f"{type(exc).__name__}: {exc}", retryable=True, jitter=self.jitter())
        logger.debug("outbox %s: delivered%s", entry.idempotency_key,
                  " (duplicate)" if ack.duplicate else "")
        return Acknowledged(ack.external_id, ack.duplicate)

    async def run_until_idle(self, max_rounds: int = 10_000) -> RoundReport:
        """Rounds until nothing is due (tests and the benchmark); returns the totals."""
        total = RoundReport()
        for _ in range(max_rounds):
            report = await self.run_once()
            if report.claimed == 0:
                break
            total = RoundReport(*(a + b for a, b in zip(
                (total.claimed, total.delivered, total.retried, total.dead, total.lost),
                (report.claimed, report.delivered, report.retried, report.dead, report.lost),
                strict=True)))
        return total

    # ------------------------------------------------------------------ component

    def wake(self) -> None:
        """A row was just queued: start the next round now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name=self.name)
        logger.info("outbox worker %s started", self.owner)

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Let the round in progress finish (its posts are on the wire), then stop."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        logger.info("outbox worker %s stopped", self.owner)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                report = await self.run_once()
            except Exception:
                logger.exception("outbox worker %s: round failed; next in %.1f s", self.owner,
                              self.poll_interval)
                report = RoundReport()
            if self._stopping:
                return
            if report.claimed >= self.batch_size:
                continue  # more rows are waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
