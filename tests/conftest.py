"""Shared test fixtures.

The Asterisk 22 captures are copied byte-exact from shared/fixtures/asterisk-22 into
tests/fixtures/asterisk-22 so that a clone runs its tests on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
ASTERISK_FIXTURES = TESTS_DIR / "fixtures" / "asterisk-22"


@pytest.fixture
def asterisk_fixtures() -> Path:
    """Directory of the real Asterisk 22 AMI/FastAGI captures."""
    return ASTERISK_FIXTURES


# --------------------------------------------------------------------------- databases
#
# Repository tests run on SQLite always and on PostgreSQL when one answers: the URL comes from
# CALLCENTER_TEST_POSTGRES_URL, else the local server (postgresql://postgres@127.0.0.1/postgres)
# is tried. Each test gets a fresh database, migrated with Alembic, dropped afterwards.

import asyncio  # noqa: E402
import os  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Iterator  # noqa: E402

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
_pg_probe: tuple[str | None, str] | None = None


def postgres_admin_url() -> tuple[str | None, str]:
    """(admin URL, '') when PostgreSQL answers, else (None, reason to skip)."""
    global _pg_probe
    if _pg_probe is not None:
        return _pg_probe
    url = os.environ.get("CALLCENTER_TEST_POSTGRES_URL") or LOCAL_POSTGRES

    async def probe() -> None:
        import asyncpg

        conn = await asyncio.wait_for(asyncpg.connect(_plain(url)), timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
        _pg_probe = (url, "")
    except Exception as exc:
        _pg_probe = (None, f"PostgreSQL not reachable at {url} ({exc.__class__.__name__}: "
                           f"{exc}); set CALLCENTER_TEST_POSTGRES_URL to run these tests")
    return _pg_probe


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    base, _, _ = _plain(url).rpartition("/")
    return f"{base}/{name}"


def create_postgres_database() -> tuple[str, str, str]:
    """Create an empty database; returns (its URL, admin URL, name). Skips without a server."""
    admin, reason = postgres_admin_url()
    if admin is None:
        pytest.skip(reason)
    name = f"cc_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        import asyncpg

        conn = await asyncpg.connect(_plain(admin))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return _with_database(admin, name), admin, name


def drop_postgres_database(admin: str, name: str) -> None:
    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(_plain(admin))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
        return
    url, admin, name = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(admin, name)


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A migrated database (Alembic head) on each backend."""
    from callcenter.db import migrate

    migrate.upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database only (for tests that are not about the backend)."""
    from callcenter.db import migrate

    url = f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    migrate.upgrade(url)
    return url


async def _store_for(url: str) -> AsyncIterator[object]:
    from callcenter.db.engine import create_engine, session_factory
    from callcenter.db.repositories import Store

    engine = create_engine(url)
    try:
        yield Store(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[object]:
    """A Store on a migrated database, on SQLite and on PostgreSQL."""
    async for s in _store_for(db_url):
        yield s


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[object]:
    """A Store on a migrated SQLite database."""
    async for s in _store_for(sqlite_url):
        yield s
