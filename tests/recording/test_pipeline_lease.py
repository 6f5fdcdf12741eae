"""Several processes running the storage pipeline on one index (rule 7 of
``recording.pipeline_state``): rows are claimed atomically, a crashed claimer's lease runs out
and another worker resumes the row, nobody processes a row twice. On SQLite and PostgreSQL
(the ``db_url``/``store`` fixtures run each test on both)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.recording_directory import StorePipelineStore
from recording.pipeline import StepRunner, StoragePipeline
from recording.pipeline_state import LEASE, Stage, claimable, lease_after
from recording.ports import PipelineItem, StageUpdate
from recording.repository import RecordingRepository

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- the pure rule


def test_a_row_is_claimable_when_nobody_holds_it_or_the_lease_ran_out() -> None:
    assert claimable(None, NOW)
    assert claimable(NOW, NOW)
    assert claimable(NOW - timedelta(seconds=1), NOW)
    assert not claimable(NOW + timedelta(seconds=1), NOW)


def test_each_committed_step_renews_the_lease_and_a_final_stage_lets_it_go() -> None:
    assert lease_after(Stage.COMPRESSED, NOW) == NOW + LEASE
    assert lease_after(Stage.INDEXED, NOW, timedelta(seconds=5)) == NOW + timedelta(seconds=5)
    for final in (Stage.STORED, Stage.FAILED, Stage.PURGED):
        assert lease_after(final, NOW) is None


# --------------------------------------------------------------------------- the store


async def _ended_recordings(store: Any, count: int) -> None:
    repo = RecordingRepository(store)
    for i in range(count):
        linked = f"1795330{i:03d}.0"
        await store.calls.upsert(linked, NOW, agent_number="8001", queue="aftersales",
                                 caller_number="13812348000")
        await repo.register(linked, f"/var/spool/asterisk/monitor/{linked}.wav", NOW)
        await repo.finish(linked, NOW + timedelta(seconds=30))


@pytest.fixture
async def second_store(db_url: str) -> AsyncIterator[Store]:
    """Another process's connection pool on the same database."""
    engine = create_engine(db_url)
    try:
        yield Store(session_factory(engine))
    finally:
        await engine.dispose()


async def test_concurrent_claims_share_the_rows_out_without_overlap(
        store: Any, second_store: Store) -> None:
    await _ended_recordings(store, 12)
    stores = [StorePipelineStore(store), StorePipelineStore(second_store)] * 2
    until = NOW + LEASE
    claims = await asyncio.gather(*(
        s.claim(f"worker-{n}", NOW, until, 5) for n, s in enumerate(stores)))
    taken = [item.id for claim in claims for item in claim]
    assert len(taken) == len(set(taken)), claims  # no row given to two workers
    # 4 workers × 5 ≥ 12 rows: each row went to someone (a claimer that lost every race for
    # its candidates on PostgreSQL skips them, so claim once more for any rest)
    rest = await StorePipelineStore(store).claim("worker-late", NOW, until, 20)
    assert len(taken) + len(rest) == 12 and not set(taken) & {i.id for i in rest}
    for n, claim in enumerate(claims):
        assert all(item.claimed_by == f"worker-{n}" and item.lease_until == until
                   for item in claim)
    # everything is held now: nobody else gets anything before the leases run out
    assert await StorePipelineStore(second_store).claim("worker-x", NOW, until, 20) == []


async def test_an_expired_lease_is_taken_over_and_the_old_holder_can_no_longer_commit(
        store: Any, second_store: Store) -> None:
    await _ended_recordings(store, 1)
    first, second = StorePipelineStore(store), StorePipelineStore(second_store)
    [held] = await first.claim("crashed", NOW, NOW + LEASE, 10)
    assert await second.claim("rescuer", NOW + LEASE - timedelta(seconds=1),
                              NOW + 2 * LEASE, 10) == []
    later = NOW + LEASE + timedelta(seconds=1)
    [taken] = await second.claim("rescuer", later, later + LEASE, 10)
    assert taken.id == held.id and taken.stage is Stage.NEW and taken.claimed_by == "rescuer"
    # the old holder wakes up: its result is not written
    assert not await first.advance(held.id, Stage.COMPRESSED, StageUpdate(codec="opus"),
                                   worker="crashed", lease_until=later + LEASE)
    [row] = await first.due(later, 10)
    assert row.stage is Stage.NEW and row.claimed_by == "rescuer"
    # the new one's is, and renews the lease
    assert await second.advance(taken.id, Stage.COMPRESSED, StageUpdate(codec="opus"),
                                worker="rescuer", lease_until=later + 2 * LEASE)
    [row] = await first.due(later, 10)
    assert row.stage is Stage.COMPRESSED and row.lease_until == later + 2 * LEASE
    # a final stage lets the lease go
    assert await second.advance(taken.id, Stage.FAILED, StageUpdate(), worker="rescuer",
                                lease_until=None)
    assert await first.due(later, 10) == []


# --------------------------------------------------------------------------- the workers


class CountingRunner(StepRunner):
    """Counts every step run, across workers, per recording."""

    def __init__(self, base: StepRunner, counts: dict[tuple[str, str], int]) -> None:
        super().__init__(base.root, base.keyring)
        self.counts = counts

    def _count(self, step: str, item: PipelineItem) -> None:
        self.counts[(item.token, step)] = self.counts.get((item.token, step), 0) + 1

    def compress(self, item: PipelineItem) -> StageUpdate:
        self._count("compress", item)
        return super().compress(item)

    def remove_original(self, item: PipelineItem) -> StageUpdate:
        self._count("remove_original", item)
        return super().remove_original(item)


async def test_two_pipelines_on_one_index_store_each_recording_once(
        store: Any, second_store: Store, tmp_path: Path, speech: Path) -> None:
    root = tmp_path / "rec"
    root.mkdir()
    repo = RecordingRepository(store)
    tokens = []
    for i in range(4):
        linked = f"1795331{i:03d}.0"
        await store.calls.upsert(linked, NOW, agent_number="8001", queue="aftersales",
                                 caller_number="13812348000")
        shutil.copy(speech, root / f"{linked}.wav")
        rec = await repo.register(linked, f"/var/spool/asterisk/monitor/{linked}.wav", NOW)
        await repo.finish(linked, NOW + timedelta(seconds=30))
        tokens.append(rec.id)
    counts: dict[tuple[str, str], int] = {}
    workers = []
    for name, s in (("a", store), ("b", second_store)):
        pipeline = StoragePipeline(StorePipelineStore(s), root, None,
                                   lambda: NOW + timedelta(minutes=1), batch=2, worker=name)
        pipeline.runner = CountingRunner(pipeline.runner, counts)
        workers.append(pipeline)
    done = 0
    for _ in range(3):  # a few passes of both, side by side
        done += sum(await asyncio.gather(*(w.run_once() for w in workers)))
    assert done == 4
    assert counts == {(t, step): 1 for t in tokens for step in ("compress", "remove_original")}
    ports = StorePipelineStore(store)
    for token in tokens:
        rec = await ports.stored(token)
        assert rec is not None and rec.stage is Stage.STORED
