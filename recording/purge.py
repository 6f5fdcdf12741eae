"""The retention purge job: deletes recordings whose time is up (file, then row) and writes
down what it deleted (``recording_purges``). Decisions are :func:`recording.retention.decide`;
the clock is injected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from recording.paths import compressed_name, resolve
from recording.periodic import PeriodicJob
from recording.retention import Complaint, RetentionPolicy, decide

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionItem:
    """A recording old enough to be looked at, with what the rules need."""

    id: int
    token: str
    linked_id: str
    path: str
    stored_path: str
    ended_at: datetime
    queue: str
    disposition: str
    complaints: tuple[Complaint, ...]


class RetentionStore(Protocol):
    async def candidates(self, now: datetime, older_than: datetime, limit: int
                         ) -> list[RetentionItem]:
        """Recordings ended before ``older_than`` whose ``retain_until`` is unset or past."""
        ...

    async def keep_until(self, recording_id: int, until: datetime) -> None: ...

    async def purged(self, item: RetentionItem, reason: str, now: datetime) -> None:
        """Delete the row and record the deletion, in one transaction."""
        ...


class PurgeJob(PeriodicJob):
    """A component: runs :meth:`run_once` every ``interval`` seconds."""

    name = "recording-purge"

    def __init__(self, store: RetentionStore, root: Path, policy: RetentionPolicy,
                 clock: Callable[[], datetime], *, interval: float = 3600.0) -> None:
        self.store = store
        self.root = root
        self.policy = policy
        self.clock = clock
        self.interval = interval

    async def run_once(self, limit: int = 500) -> list[str]:
        """One pass; returns the tokens purged."""
        now = self.clock()
        gone: list[str] = []
        for item in await self.store.candidates(now, now - self.policy.shortest, limit):
            decision = decide(ended_at=item.ended_at, queue=item.queue,
                              disposition=item.disposition, complaints=item.complaints,
                              now=now, policy=self.policy)
            if not decision.purge:
                await self.store.keep_until(item.id, decision.keep_until)
                continue
            for name in {item.stored_path, item.path, compressed_name(item.path)} - {""}:
                await asyncio.to_thread(resolve(self.root, name).unlink, missing_ok=True)
            await self.store.purged(item, decision.reason, now)
            logger.info("recording %s purged: %s", item.token, decision.reason)
            gone.append(item.token)
        return gone
