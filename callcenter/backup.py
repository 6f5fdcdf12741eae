"""``callcenter backup create | restore | schedule``: the domain store and the recordings in one
archive, with a manifest of checksums.

An archive (``.tar.gz``, mode 0600: it holds personal data) has

* ``database/<table>.jsonl``: every row of every table, one JSON object a line; values that
  JSON has no type for are tagged (``{"$datetime": "2026-01-05T09:00:00+00:00"}``,
  ``$date``, ``$bytes`` base64, ``$decimal``);
* ``recordings/<name>``: every file under ``recording.dir`` (the ``recordings`` table, the
  index, is in the database part);
* ``manifest.json`` (last): format, product version, schema revision, database backend, and
  for every member its SHA-256, size and, for a table, its row count.

**Consistent.** SQLite: the online backup API copies the live database (WAL included) into a
snapshot while the product runs; the dump reads the snapshot. PostgreSQL: every table is read
in one ``REPEATABLE READ READ ONLY`` transaction, one snapshot of the whole database. The
database is dumped before the recordings are copied, so every index row has its file (a
recording finished meanwhile is a file without a row, which is harmless).

**Restore** goes into an *empty* database only (no rows in any table: a fresh SQLite file or
an empty PostgreSQL database, migrated or not) and never overwrites a recording with other
content. It first checks every member against the manifest, then migrates the target to the
archive's schema revision, inserts the rows table by table in foreign-key order (one
transaction), sets PostgreSQL's id sequences past the restored ids, migrates to the newest
schema, and writes the recordings. The archive format is the same for both backends, so a
SQLite installation can move to PostgreSQL by a backup and a restore.

**Scheduled**: ``backup schedule`` makes one archive every ``backup.interval_hours`` into
``backup.dir`` and keeps the newest ``backup.keep``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import os
import sqlite3
import tarfile
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import MetaData, Table, func, insert, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter import __version__
from callcenter.db import migrate
from callcenter.db.engine import check_database, create_engine, is_sqlite
from callcenter.db.models import SEARCH_INDEX_NAMES, Base
from callcenter.errors import CallcenterError
from callcenter.settings import Settings

__all__ = ["BackupError", "Manifest", "RestoreReport", "archive_name", "create_backup",
           "decode_value",
           "encode_value", "prune", "restore_backup", "schedule", "table_counts"]

logger = logging.getLogger(__name__)

FORMAT = "callcenter-backup/1"
MANIFEST = "manifest.json"
ARCHIVE_PREFIX = "callcenter-"
ARCHIVE_SUFFIX = ".tar.gz"
BATCH = 500
CHUNK = 1 << 20


class BackupError(CallcenterError):
    """A backup cannot be made or restored: a checksum that does not match, a target that is
    not empty, an archive from an unknown schema, a recording that would be overwritten."""

    error_id = "backup"
    status = 500


# --------------------------------------------------------------------------- values


def encode_value(value: Any) -> Any:
    """A column value as JSON (tagged when JSON has no such type)."""
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    return value


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`. Datetimes come back naive UTC, as the product
    stores them (``callcenter.db.models.UTCDateTime``)."""
    if isinstance(value, dict) and len(value) == 1:
        [(tag, raw)] = value.items()
        if tag == "$datetime":
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            return moment
        if tag == "$date":
            return date.fromisoformat(raw)
        if tag == "$bytes":
            return base64.b64decode(raw)
        if tag == "$decimal":
            return Decimal(raw)
    return value


# --------------------------------------------------------------------------- manifest


@dataclass(slots=True)
class Manifest:
    """What an archive holds; ``members`` maps a member name to its ``sha256``, ``size`` and,
    for a table, ``rows``."""

    created_at: str
    revision: str
    backend: str
    version: str = __version__
    format: str = FORMAT
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_recordings: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, int]:
        """Table → row count."""
        return {PurePosixPath(name).stem: int(info["rows"])
                for name, info in self.members.items() if name.startswith("database/")}

    def recordings(self) -> dict[str, str]:
        """Recording name (relative to ``recording.dir``) → SHA-256."""
        return {name.removeprefix("recordings/"): str(info["sha256"])
                for name, info in self.members.items() if name.startswith("recordings/")}

    def to_json(self) -> bytes:
        return json.dumps({
            "format": self.format, "version": self.version, "created_at": self.created_at,
            "revision": self.revision, "backend": self.backend, "members": self.members,
            "missing_recordings": self.missing_recordings}, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise BackupError(f"not a callcenter backup (format {data.get('format')!r})")
            return cls(created_at=data["created_at"], revision=data["revision"],
                       backend=data["backend"], version=data["version"],
                       members=data["members"],
                       missing_recordings=data.get("missing_recordings", []))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"unreadable manifest: {exc}") from exc


class _Hashing(io.RawIOBase):
    """Reads at most ``limit`` bytes of ``source`` and hashes what it hands out: the checksum
    is of exactly the bytes that went into the archive (a recording still growing is cut at
    the size it had when it was listed)."""

    def __init__(self, source: IO[bytes], limit: int) -> None:
        self.source = source
        self.left = limit
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.left:
            size = self.left
        data = self.source.read(size)
        self.left -= len(data)
        self.sha.update(data)
        return data


def _add(archive: tarfile.TarFile, name: str, source: IO[bytes], size: int,
         mtime: float) -> str:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o600
    reader = _Hashing(source, size)
    archive.addfile(info, reader)
    return reader.sha.hexdigest()


# --------------------------------------------------------------------------- create


async def _dump_tables(conn: AsyncConnection, spool: Path) -> dict[str, tuple[Path, int]]:
    """Every table of the product's schema as ``<table>.jsonl`` under ``spool``."""
    dumped: dict[str, tuple[Path, int]] = {}
    for table in Base.metadata.sorted_tables:
        path = spool / f"{table.name}.jsonl"
        rows = 0
        order = list(table.primary_key.columns) or list(table.columns)
        result = await conn.stream(select(table).order_by(*order))
        with path.open("w", encoding="utf-8") as out:
            async for row in result:
                record = {k: encode_value(v) for k, v in row._mapping.items()}
                out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
                rows += 1
        dumped[table.name] = (path, rows)
    return dumped


def _sqlite_snapshot(url: str, target: Path) -> None:
    """The SQLite online backup API: a consistent copy of a live database."""
    database = make_url(url).database or ""
    if not database or database == ":memory:" or not Path(database).exists():
        raise BackupError(f"no SQLite database file at {database!r}")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    finally:
        source.close()


async def _revision(conn: AsyncConnection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def current(sync: Connection) -> str | None:
        return MigrationContext.configure(sync).get_current_revision()

    return await conn.run_sync(current)


async def _dump(settings: Settings, spool: Path) -> tuple[str, str, dict[str, tuple[Path, int]]]:
    url = settings.database.url
    if is_sqlite(url):
        snapshot = spool / "snapshot.sqlite3"
        await asyncio.to_thread(_sqlite_snapshot, url, snapshot)
        engine = create_engine(f"sqlite+aiosqlite:///{snapshot}")
        backend = "sqlite"
    else:
        engine = create_engine(url)
        backend = "postgresql"
    try:
        await check_database(engine)
        if backend == "postgresql":
            connect = engine.execution_options(isolation_level="REPEATABLE READ",
                                               postgresql_readonly=True).connect()
        else:
            connect = engine.connect()
        async with connect as conn, conn.begin():  # one transaction: one snapshot
            revision = await _revision(conn)
            if revision != migrate.head_revision():
                raise BackupError(f"the database schema is at {revision or 'nothing'}, this "
                                  f"product writes {migrate.head_revision()}: run "
                                  "`callcenter db upgrade` first")
            tables = await _dump_tables(conn, spool)
    finally:
        await engine.dispose()
    return revision, backend, tables


def _recording_files(root: Path) -> Iterator[tuple[str, Path]]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
            yield path.relative_to(root).as_posix(), path


async def _indexed_recordings(settings: Settings) -> list[str]:
    engine = create_engine(settings.database.url)
    try:
        async with engine.connect() as conn:
            table = Base.metadata.tables["recordings"]
            return [str(p) for p in (await conn.execute(select(table.c.path))).scalars()]
    finally:
        await engine.dispose()


async def create_backup(settings: Settings, out: Path, *,
                        created_at: datetime | None = None) -> Manifest:
    """Write an archive of the database and the recordings to ``out`` (atomically, mode
    0600) and return its manifest (``created_at``: now by default). Raises ``BackupError``,
    ``DatabaseUnavailable``, ``OSError``."""
    moment = created_at or datetime.now(UTC)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cc-backup-") as spool_dir:
        spool = Path(spool_dir)
        revision, backend, tables = await _dump(settings, spool)
        indexed = await _indexed_recordings(settings)
        manifest = Manifest(created_at=moment.isoformat(), revision=revision, backend=backend)
        tmp = out.with_name(f".{out.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, \
                    tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as archive:
                await asyncio.to_thread(
                    _write_members, archive, manifest, tables, Path(settings.recording.dir))
                present = set(manifest.recordings())
                manifest.missing_recordings = sorted(set(indexed) - present)
                body = manifest.to_json()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(body), int(moment.timestamp()), 0o600
                archive.addfile(info, io.BytesIO(body))
            os.chmod(tmp, 0o600)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    logger.info("backup %s: %d tables, %d rows, %d recordings", out, len(tables),
                sum(n for _, n in tables.values()), len(manifest.recordings()))
    if manifest.missing_recordings:
        logger.warning("backup %s: %d indexed recordings have no file", out,
                       len(manifest.missing_recordings))
    return manifest


def _write_members(archive: tarfile.TarFile, manifest: Manifest,
                   tables: dict[str, tuple[Path, int]], recordings: Path) -> None:
    for name, (path, rows) in tables.items():
        member = f"database/{name}.jsonl"
        size = path.stat().st_size
        with path.open("rb") as source:
            sha = _add(archive, member, source, size, path.stat().st_mtime)
        manifest.members[member] = {"sha256": sha, "size": size, "rows": rows}
    for name, path in _recording_files(recordings):
        member = f"recordings/{name}"
        try:
            stat = path.stat()
            with path.open("rb") as source:
                sha = _add(archive, member, source, stat.st_size, stat.st_mtime)
        except FileNotFoundError:
            continue  # removed while the backup ran
        manifest.members[member] = {"sha256": sha, "size": stat.st_size}


# --------------------------------------------------------------------------- restore


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore wrote."""

    tables: dict[str, int]
    recordings: int
    revision: str

    def summary(self) -> str:
        return (f"restored {sum(self.tables.values())} rows in {len(self.tables)} tables and "
                f"{self.recordings} recordings (schema {self.revision}, then migrated to the "
                "newest)")


def _safe_member(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"unsafe member name in the archive: {name!r}")
    return path


def _verify(archive_path: Path) -> Manifest:
    """Read the manifest and check every member's SHA-256 and size against it (one pass)."""
    seen: dict[str, str] = {}
    manifest_raw: bytes | None = None
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            for member in archive:
                _safe_member(member.name)
                if not member.isfile():
                    raise BackupError(f"unexpected member {member.name!r} (not a file)")
                source = archive.extractfile(member)
                assert source is not None  # a regular file
                if member.name == MANIFEST:
                    manifest_raw = source.read()
                    continue
                sha = hashlib.sha256()
                while chunk := source.read(CHUNK):
                    sha.update(chunk)
                seen[member.name] = sha.hexdigest()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{archive_path}: not a readable archive: {exc}") from exc
    if manifest_raw is None:
        raise BackupError(f"{archive_path}: no {MANIFEST}")
    manifest = Manifest.from_json(manifest_raw)
    for name, info in manifest.members.items():
        if name not in seen:
            raise BackupError(f"{archive_path}: {name} is in the manifest but not the archive")
        if seen[name] != info["sha256"]:
            raise BackupError(f"{archive_path}: {name}: checksum mismatch (damaged archive)")
    if extra := set(seen) - set(manifest.members):
        raise BackupError(f"{archive_path}: members not in the manifest: {sorted(extra)[:3]}")
    return manifest


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    """Row count of every table of the database (``alembic_version`` left out, and the
    transcript search index's tables: derived data, which the restore rebuilds as it inserts
    the transcripts)."""

    def reflect(sync: Connection) -> MetaData:
        meta = MetaData()
        meta.reflect(sync)
        return meta

    async with engine.connect() as conn:
        meta = await conn.run_sync(reflect)
        counts = {}
        for table in meta.sorted_tables:
            if table.name == "alembic_version" or table.name in SEARCH_INDEX_NAMES:
                continue
            counts[table.name] = int((await conn.execute(
                select(func.count()).select_from(table))).scalar_one())
    return counts


async def restore_backup(settings: Settings, archive_path: Path) -> RestoreReport:
    """Restore ``archive_path`` into the (empty) database and recording directory of
    ``settings``. Raises ``BackupError`` (damaged archive, target not empty, unknown schema
    revision, a recording that exists with other content), ``DatabaseUnavailable``."""
    manifest = await asyncio.to_thread(_verify, archive_path)
    url = settings.database.url
    engine = create_engine(url)
    try:
        await check_database(engine)
        occupied = {t: n for t, n in (await table_counts(engine)).items() if n}
        if occupied:
            raise BackupError("the target database is not empty ("
                              + ", ".join(f"{t}: {n} rows" for t, n in sorted(occupied.items())[:4])
                              + "): restore into an empty database")
        recordings = Path(settings.recording.dir)
        for name, sha in manifest.recordings().items():
            existing = recordings / name
            if existing.exists() and _sha256(existing) != sha:
                raise BackupError(f"recording {existing} exists with other content; restore "
                                  "into an empty recording directory")
        try:
            await asyncio.to_thread(migrate.upgrade, url, manifest.revision)
        except Exception as exc:  # alembic: "Can't locate revision …" and the like
            raise BackupError(f"cannot migrate the target to the archive's schema "
                              f"{manifest.revision} (made by version {manifest.version}): "
                              f"{exc}") from exc
        await _load_rows(engine, archive_path, manifest)
    finally:
        await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, url, "head")
    written = await asyncio.to_thread(_write_recordings, archive_path, manifest, recordings)
    logger.info("restored %s: %d rows, %d recordings", archive_path,
                sum(manifest.tables().values()), written)
    return RestoreReport(manifest.tables(), written, manifest.revision)


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _rows(archive_path: Path, member: str) -> Iterator[dict[str, Any]]:
    with tarfile.open(archive_path, "r:gz") as archive:
        source = archive.extractfile(member)
        assert source is not None
        for line in io.TextIOWrapper(source, encoding="utf-8"):
            if line.strip():
                yield {k: decode_value(v) for k, v in json.loads(line).items()}


async def _load_rows(engine: AsyncEngine, archive_path: Path, manifest: Manifest) -> None:
    def reflect(sync: Connection) -> MetaData:
        meta = MetaData()
        meta.reflect(sync)
        return meta

    tables = manifest.tables()
    async with engine.begin() as conn:
        meta = await conn.run_sync(reflect)
        unknown = set(tables) - set(meta.tables)
        if unknown:
            raise BackupError(f"the archive has tables the schema does not: {sorted(unknown)}")
        for table in meta.sorted_tables:
            if table.name not in tables:
                continue
            await _insert_all(conn, table, _rows(archive_path, f"database/{table.name}.jsonl"))
            if engine.dialect.name == "postgresql":
                await _reset_sequences(conn, table)


async def _insert_all(conn: AsyncConnection, table: Table,
                      rows: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            await conn.execute(insert(table), batch)
            batch = []
    if batch:
        await conn.execute(insert(table), batch)


async def _reset_sequences(conn: AsyncConnection, table: Table) -> None:
    """Rows were inserted with their ids: move each serial's sequence past them."""
    for column in table.primary_key.columns:
        sequence = (await conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                       {"t": table.name, "c": column.name})).scalar()
        if sequence:
            await conn.execute(text(
                f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") '  # noqa: S608
                f'FROM "{table.name}"), 0) + 1, false)'), {"s": sequence})


def _write_recordings(archive_path: Path, manifest: Manifest, root: Path) -> int:
    wanted = {f"recordings/{n}": sha for n, sha in manifest.recordings().items()}
    written = 0
    base = root.resolve()
    with tarfile.open(archive_path, "r:gz") as archive:
        for member in archive:
            if member.name not in wanted:
                continue
            relative = _safe_member(member.name).relative_to("recordings")
            target = (base / relative).resolve()
            if base not in target.parents:
                raise BackupError(f"unsafe recording name {member.name!r}")
            if target.exists():
                continue  # the same content (checked before the database was touched)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            tmp = target.with_name(f".{target.name}.restoring")
            sha = hashlib.sha256()
            with tmp.open("wb") as out:
                while chunk := source.read(CHUNK):
                    sha.update(chunk)
                    out.write(chunk)
            if sha.hexdigest() != wanted[member.name]:
                tmp.unlink()
                raise BackupError(f"{member.name}: checksum mismatch while restoring")
            os.replace(tmp, target)
            written += 1
    return written


# --------------------------------------------------------------------------- schedule


def archive_name(moment: datetime) -> str:
    """``callcenter-20260105T090000Z.tar.gz`` (UTC): names sort by time."""
    return f"{ARCHIVE_PREFIX}{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}{ARCHIVE_SUFFIX}"


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` archives named by :func:`archive_name` in
    ``directory``; returns the deleted ones. Other files are never touched."""
    archives = sorted(p for p in directory.glob(f"{ARCHIVE_PREFIX}*{ARCHIVE_SUFFIX}")
                      if p.is_file())
    doomed = archives[:-keep] if keep > 0 else archives
    for path in doomed:
        path.unlink()
        logger.info("backup retention: deleted %s", path)
    return doomed


async def schedule(settings: Settings, directory: Path, *, interval_s: float, keep: int,
                   now: Callable[[], datetime] | None = None,
                   sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                   runs: int | None = None) -> None:
    """Every ``interval_s`` seconds: one archive into ``directory``, then keep the newest
    ``keep``. A failed run is logged and retried at the next interval; ``runs`` bounds the
    loop (tests)."""
    clock = now or (lambda: datetime.now(UTC))
    done = 0
    while runs is None or done < runs:
        moment = clock()
        try:
            await create_backup(settings, directory / archive_name(moment), created_at=moment)
            prune(directory, keep)
        except (CallcenterError, OSError):
            logger.exception("scheduled backup failed; next try in %.0f s", interval_s)
        done += 1
        if runs is None or done < runs:
            await sleep(interval_s)
