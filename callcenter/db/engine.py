"""Database engine adapter: SQLite (default, WAL + busy timeout) or PostgreSQL (asyncpg).

Driver exceptions are translated once, here, into :class:`DatabaseUnavailable` with a message a
person can act on (``could not connect to postgresql://cc@db.example/cc: connection refused``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from callcenter.errors import DatabaseUnavailable
from callcenter.settings import normalise_database_url

SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; for SQLite make the parent directory and enable WAL.

    Raises DatabaseUnavailable for a URL SQLAlchemy cannot parse or whose driver is missing.
    """
    url = normalise_database_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUnavailable(f"bad database URL: {exc}") from exc
    if is_sqlite(url):
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        # No pool_pre_ping: on asyncpg SQLAlchemy's ping is three round trips per checkout
        # (BEGIN, ";", ROLLBACK, for pgbouncer's sake), 40 % of the statements of a task
        # write. _check_alive below costs none and catches what the ping was there for.
        kwargs.update(pool_size=10, max_overflow=20)
    try:
        engine = create_async_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(f"cannot use database {redact(url)}: {exc}") from exc
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine.sync_engine.pool, "checkout", _check_alive)
    return engine


def _check_alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no pooled connection whose socket the server has closed.

    A restarted PostgreSQL, an administrator's pg_terminate_backend, an idle-session timeout:
    the server closes the socket, asyncpg's protocol sees it the moment the event loop reads
    the EOF, and ``is_closed()`` says so. Raising DisconnectionError makes the pool discard
    this connection and check out (or open) another, SQLAlchemy's documented way of a custom
    pessimistic check. A peer that vanished without closing (a cut cable) is not seen here;
    the first statement then fails, SQLAlchemy invalidates the connection and the next
    transaction gets a new one.
    """
    driver = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web app read while the CTI bridge writes; the busy timeout makes a writer
    # wait for another instead of failing with "database is locked" at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def check_database(engine: AsyncEngine, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Run ``SELECT 1``; raise DatabaseUnavailable with a readable message on failure."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError as exc:
        raise DatabaseUnavailable(f"database {url} did not answer within {timeout:g} s") from exc
    except (OperationalError, DBAPIError) as exc:
        raise DatabaseUnavailable(f"cannot connect to {url}: {exc.orig}") from exc
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot connect to {url}: {exc}") from exc
