"""The shape of the recordings' background jobs (storage pipeline, retention purge, QA draw):
a component that runs ``run_once`` every ``interval`` seconds from ``start`` until ``stop``,
and outlives a failed pass (logged; the next pass tries again: every job is idempotent)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

logger = logging.getLogger(__name__)


class PeriodicJob:
    """Subclasses set ``name`` and ``interval`` and implement ``run_once``."""

    name = "periodic"
    interval = 60.0
    _task: asyncio.Task[None] | None = None

    async def run_once(self) -> Any:
        raise NotImplementedError

    def enabled(self) -> bool:
        return True

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # one failed pass must not end the job; nothing is half-done
                logger.exception("%s: pass failed", self.name)
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        if self.enabled():
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
