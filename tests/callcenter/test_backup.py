"""``callcenter backup``: the restore drill, and what a backup and a restore refuse to do.

The drill backs up a populated database (the demo data, plus synthetic rows in every table
the demo data leaves empty, so every table and column type is carried) with recordings,
restores it into an empty database and an empty recording directory, and compares every
table's row count, every row, and every recording's checksum."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Date, Float, Integer, String, Text, insert, select
from sqlalchemy.types import JSON

from callcenter.backup import (
    BackupError,
    archive_name,
    create_backup,
    decode_value,
    encode_value,
    prune,
    restore_backup,
    schedule,
    table_counts,
)
from callcenter.db import migrate
from callcenter.db.engine import create_engine, session_factory
from callcenter.db.models import Base, UTCDateTime
from callcenter.db.repositories import Store
from callcenter.demo_data import generate
from callcenter.service import load_demo_data
from callcenter.settings import Settings, load_settings
from tests.conftest import create_postgres_database, drop_postgres_database

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def settings_for(url: str, recordings: Path) -> Settings:
    return load_settings(environ={"CALLCENTER_DATABASE_URL": url,
                                  "CALLCENTER_RECORDING_DIR": str(recordings)})


def synthetic(column: Any, table: str, i: int) -> Any:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return NOW + timedelta(minutes=i, microseconds=i)
    if isinstance(kind, Date):
        return date(2026, 1, 5 + i)
    if isinstance(kind, Boolean):
        return i % 2 == 0
    if isinstance(kind, Integer):
        return 1000 + i
    if isinstance(kind, Float):
        return i + 0.25
    if isinstance(kind, JSON):
        return {"n": i, "text": "中文 ✓", "list": [1, None, True]}
    if isinstance(kind, String | Text):
        length = getattr(kind, "length", None) or 40
        return f"{i}-{table}-{column.name}-语"[:length]
    raise AssertionError(f"no synthetic value for {table}.{column.name} ({kind!r})")


async def populate(url: str, recordings: Path) -> None:
    """Demo data, then 3 synthetic rows in every empty table; recording files for the
    ``recordings`` rows, plus one file in a sub-directory that no row names."""
    engine = create_engine(url)
    try:
        await load_demo_data(Store(session_factory(engine)), generate(), NOW)
        async with engine.begin() as conn:
            for table in Base.metadata.sorted_tables:
                if (await conn.execute(select(table).limit(1))).first() is not None:
                    continue
                for i in range(3):
                    row: dict[str, Any] = {}
                    for column in table.columns:
                        if column.primary_key and isinstance(column.type, Integer) \
                                and not column.foreign_keys \
                                and len(table.primary_key.columns) == 1:
                            continue  # the id: the database numbers it
                        if column.foreign_keys:
                            [fk] = column.foreign_keys
                            target = fk.column
                            ids = (await conn.execute(select(target).limit(3))).scalars().all()
                            row[column.name] = ids[i % len(ids)]
                        else:
                            row[column.name] = synthetic(column, table.name, i)
                    await conn.execute(insert(table).values(**row))
            rec_table = Base.metadata.tables["recordings"]
            names = (await conn.execute(select(rec_table.c.path))).scalars().all()
    finally:
        await engine.dispose()
    for n, name in enumerate(names):
        path = recordings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(2000 + n) + b"RIFF")
    (recordings / "2026" / "01").mkdir(parents=True)
    (recordings / "2026" / "01" / "1795330137.1.wav").write_bytes(b"\0\1" * 4000)


async def all_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = {}
            for table in Base.metadata.sorted_tables:
                order = list(table.primary_key.columns)
                result = await conn.execute(select(table).order_by(*order))
                rows[table.name] = [dict(r._mapping) for r in result]
            return rows
    finally:
        await engine.dispose()


async def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        return await table_counts(engine)
    finally:
        await engine.dispose()


def checksums(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def target_url(empty_db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same backend as ``empty_db_url``."""
    if empty_db_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
        return
    url, admin, name = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(admin, name)


async def test_restore_drill_every_table_row_and_recording_comes_back(
        db_url: str, target_url: str, tmp_path: Path) -> None:
    source_recordings, target_recordings = tmp_path / "rec-a", tmp_path / "rec-b"
    source_recordings.mkdir()
    await populate(db_url, source_recordings)
    before = await counts(db_url)
    assert all(n > 0 for n in before.values()), before  # every table takes part
    archive = tmp_path / "backups" / "cc.tar.gz"

    manifest = await create_backup(settings_for(db_url, source_recordings), archive,
                                   created_at=NOW)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert manifest.tables() == before
    assert manifest.recordings() == checksums(source_recordings)
    assert manifest.missing_recordings == []

    report = await restore_backup(settings_for(target_url, target_recordings), archive)

    assert report.tables == before
    assert await counts(target_url) == before
    assert await all_rows(target_url) == await all_rows(db_url)
    assert checksums(target_recordings) == checksums(source_recordings)
    engine = create_engine(target_url)
    try:
        from callcenter.db.migrate import check_schema

        await check_schema(engine)  # migrated to the newest schema: serve can start
        async with engine.begin() as conn:  # new rows get fresh ids (sequences moved on)
            calls = Base.metadata.tables["calls"]
            await conn.execute(insert(calls).values(linked_id="after.restore",
                                                    started_at=NOW))
    finally:
        await engine.dispose()


@pytest.fixture
async def archive(sqlite_url: str, tmp_path: Path) -> Path:
    """A backup of a populated SQLite database with recordings (``tmp_path/rec``)."""
    recordings = tmp_path / "rec"
    recordings.mkdir()
    await populate(sqlite_url, recordings)
    made = tmp_path / "cc.tar.gz"
    await create_backup(settings_for(sqlite_url, recordings), made)
    return made


async def test_restore_refuses_a_database_that_is_not_empty(sqlite_url: str, archive: Path,
                                                            tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="not empty"):
        await restore_backup(settings_for(sqlite_url, tmp_path / "other"), archive)
    assert not (tmp_path / "other").exists()


async def test_a_damaged_archive_is_refused_before_anything_is_written(
        archive: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive, "r:gz") as src, tarfile.open(damaged, "w:gz") as out:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("recordings/") and member.name.endswith(".wav"):
                data = b"X" + data[1:]  # one byte changed, the manifest left as it was
            out.addfile(member, io.BytesIO(data))
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    with pytest.raises(BackupError, match="checksum mismatch"):
        await restore_backup(settings_for(target, tmp_path / "rec-b"), damaged)
    assert not (tmp_path / "rec-b").exists()
    assert await counts(target) == {}  # not even migrated
    (tmp_path / "garbage.tar.gz").write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(BackupError, match="not a readable archive"):
        await restore_backup(settings_for(target, tmp_path / "rec-b"),
                             tmp_path / "garbage.tar.gz")


async def test_restore_never_overwrites_a_recording_with_other_content(
        archive: Path, tmp_path: Path) -> None:
    clash = tmp_path / "rec-b" / "2026" / "01" / "1795330137.1.wav"
    clash.parent.mkdir(parents=True)
    clash.write_bytes(b"someone else's call")
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    with pytest.raises(BackupError, match="other content"):
        await restore_backup(settings_for(target, tmp_path / "rec-b"), archive)
    assert clash.read_bytes() == b"someone else's call"


async def test_the_sqlite_backup_is_consistent_while_the_product_writes(
        sqlite_url: str, tmp_path: Path) -> None:
    """Writers keep inserting calls during the backup; the archive holds one snapshot: its
    calls count is some value between the counts before and after, and restores whole."""
    engine = create_engine(sqlite_url)
    calls = Base.metadata.tables["calls"]
    stop = asyncio.Event()

    async def writer() -> int:
        n = 0
        while not stop.is_set():
            async with engine.begin() as conn:
                await conn.execute(insert(calls).values(linked_id=f"w.{n}", started_at=NOW))
            n += 1
            await asyncio.sleep(0)
        return n

    task = asyncio.create_task(writer())
    try:
        await asyncio.sleep(0.05)
        manifest = await create_backup(settings_for(sqlite_url, tmp_path / "none"),
                                       tmp_path / "cc.tar.gz")
    finally:
        stop.set()
        written = await task
        await engine.dispose()
    assert 0 < manifest.tables()["calls"] <= written
    target = f"sqlite+aiosqlite:///{tmp_path / 'target.db'}"
    report = await restore_backup(settings_for(target, tmp_path / "rec-b"),
                                  tmp_path / "cc.tar.gz")
    assert report.tables["calls"] == manifest.tables()["calls"] == (await counts(target))["calls"]


@pytest.mark.parametrize("value", [
    NOW, datetime(2026, 1, 5, 9, 0), date(2026, 1, 5), b"\0\xff", Decimal("1.10"), "text",
    12, 1.5, None, True, {"a": [1, 2]},
])
def test_values_survive_the_json_encoding(value: Any) -> None:
    decoded = decode_value(json.loads(json.dumps(encode_value(value))))
    expected = value.replace(tzinfo=None) if isinstance(value, datetime) else value
    assert decoded == expected and type(decoded) is type(expected)


async def test_scheduled_backups_keep_the_newest(sqlite_url: str, tmp_path: Path) -> None:
    moments = iter(NOW + timedelta(hours=24 * i) for i in range(4))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    out = tmp_path / "backups"
    out.mkdir()
    (out / "notes.txt").write_text("not an archive: never pruned")
    await schedule(settings_for(sqlite_url, tmp_path / "rec"), out, interval_s=86400, keep=2,
                   now=lambda: next(moments), sleep=sleep, runs=4)
    assert sorted(p.name for p in out.iterdir()) == [
        archive_name(NOW + timedelta(days=2)), archive_name(NOW + timedelta(days=3)),
        "notes.txt"]
    assert slept == [86400, 86400, 86400]
    assert prune(out, 1) == [out / archive_name(NOW + timedelta(days=2))]


def test_backup_and_restore_from_the_command_line(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}

    def run(db: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**environ, "CALLCENTER_DATABASE_URL": f"sqlite:///{tmp_path / db}",
               "CALLCENTER_RECORDING_DIR": str(tmp_path / f"rec-{db}")}
        return subprocess.run([sys.executable, "-m", "callcenter.cli", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120, check=False)

    assert run("a.db", "db", "upgrade").returncode == 0
    assert run("a.db", "demo-data").returncode == 0
    (tmp_path / "rec-a.db").mkdir()
    (tmp_path / "rec-a.db" / "1.1.wav").write_bytes(b"RIFF" * 100)
    made = run("a.db", "backup", "create", "--out", str(tmp_path / "b.tar.gz"))
    assert made.returncode == 0, made.stderr
    assert "1 recordings" in made.stdout
    restored = run("b.db", "backup", "restore", str(tmp_path / "b.tar.gz"))
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout
    assert (tmp_path / "rec-b.db" / "1.1.wav").read_bytes() == b"RIFF" * 100
    again = run("b.db", "backup", "restore", str(tmp_path / "b.tar.gz"))
    assert again.returncode == 1 and "not empty" in again.stderr
    assert "Traceback" not in again.stderr
    assert migrate.head_revision()
