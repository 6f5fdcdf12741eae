"""Retention and legal hold on an injected clock: the rules, then the purge job on a real
database and real files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from callcenter.db.models import CallRow, ComplaintRow, MerchantRow, RecordingRow
from callcenter.recording_directory import StoreRetention
from recording.purge import PurgeJob
from recording.retention import Complaint, RetentionPolicy, decide

ENDED = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
POLICY = RetentionPolicy.parse(180, "queue:complaints=720, disposition:simple_fault=90")
DAY = timedelta(days=1)


@pytest.mark.parametrize(("queue", "disposition", "days"), [
    ("aftersales", "", 180),
    ("complaints", "", 720),
    ("aftersales", "simple_fault", 180),  # a shorter rule never shortens the default
    ("complaints", "simple_fault", 720),
])
def test_the_longest_applicable_period_wins(queue: str, disposition: str, days: int) -> None:
    assert POLICY.period(queue, disposition) == timedelta(days=days)


def test_bad_rules_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="queue:"):
        RetentionPolicy.parse(180, "complaints=720")


@pytest.mark.parametrize(("complaints", "now", "purge", "until"), [
    ((), ENDED + 180 * DAY - timedelta(seconds=1), False, ENDED + 180 * DAY),
    ((), ENDED + 180 * DAY, True, ENDED + 180 * DAY),
    ((Complaint(None),), ENDED + 5000 * DAY, False, ENDED + 5001 * DAY),  # held
    ((Complaint(ENDED + 100 * DAY),), ENDED + 200 * DAY, False, ENDED + 280 * DAY),
    ((Complaint(ENDED + 100 * DAY),), ENDED + 280 * DAY, True, ENDED + 280 * DAY),
    ((Complaint(ENDED + DAY), Complaint(None)), ENDED + 400 * DAY, False, ENDED + 401 * DAY),
])
def test_legal_hold_keeps_complaint_calls_until_closed_plus_the_period(
        complaints: tuple[Complaint, ...], now: datetime, purge: bool, until: datetime) -> None:
    d = decide(ended_at=ENDED, queue="aftersales", disposition="", complaints=complaints,
               now=now, policy=POLICY)
    assert (d.purge, d.keep_until) == (purge, until)


async def _recording(store: Any, root: Path, name: str, queue: str, ended: datetime) -> None:
    (root / f"{name}.ogg.sealed").write_bytes(b"sealed")
    async with store.transaction() as s:
        await s.execute(insert(CallRow).values(linked_id=f"{name}.0", started_at=ended,
                                               queue=queue))
        await s.execute(insert(RecordingRow).values(
            token=f"tok-{name}", linked_id=f"{name}.0", path=f"{name}.wav",
            started_at=ended - timedelta(minutes=3), ended_at=ended, stage="stored",
            stored_path=f"{name}.ogg.sealed", sha256="ab" * 32, size_bytes=6, queue=queue))


async def test_purge_job_deletes_file_and_row_and_records_it_but_holds_complaints(
        store: Any, tmp_path: Path) -> None:
    root = tmp_path
    await _recording(store, root, "plain", "aftersales", ENDED)
    await _recording(store, root, "long", "complaints", ENDED)
    await _recording(store, root, "held", "aftersales", ENDED)
    async with store.transaction() as s:
        merchant = (await s.execute(insert(MerchantRow).values(
            merchant_number="898310048160001", name="m", address="a", district="d",
            contact_person="", business_hours="", tags=[], created_at=ENDED,
            updated_at=ENDED).returning(MerchantRow.id))).scalar_one()
        await s.execute(insert(ComplaintRow).values(
            linked_id="held.0", merchant_id=merchant, complaint_class=2, description="x",
            created_at=ENDED))
    now = [ENDED + 100 * DAY]
    job = PurgeJob(StoreRetention(store), root, POLICY, lambda: now[0])

    assert await job.run_once() == []  # nothing is old enough
    now[0] = ENDED + 181 * DAY
    assert await job.run_once() == ["tok-plain"]
    assert not (root / "plain.ogg.sealed").exists()
    assert (root / "long.ogg.sealed").exists() and (root / "held.ogg.sealed").exists()
    log = await StoreRetention(store).purges()
    assert [(p.token, p.path, p.sha256) for p in log] == [
        ("tok-plain", "plain.ogg.sealed", "ab" * 32)]
    assert "180 days" in log[0].reason
    async with store.transaction() as s:
        tokens = set((await s.execute(select(RecordingRow.token))).scalars())
    assert tokens == {"tok-long", "tok-held"}

    now[0] = ENDED + 800 * DAY  # past the complaints queue's period, complaint still open
    assert await job.run_once() == ["tok-long"]
    assert (root / "held.ogg.sealed").exists()

    async with store.transaction() as s:  # the complaint is closed on day 800
        await s.execute(update(ComplaintRow).values(closed_at=ENDED + 800 * DAY))
    now[0] = ENDED + 900 * DAY
    assert await job.run_once() == []  # kept for the period after the closing
    now[0] = ENDED + 980 * DAY
    assert await job.run_once() == ["tok-held"]
    assert not (root / "held.ogg.sealed").exists()
