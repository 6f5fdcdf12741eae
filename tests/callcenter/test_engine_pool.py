"""PostgreSQL: a pooled connection the server closed is never handed out (the engine's
checkout hook, which replaced SQLAlchemy's three-round-trip pre-ping). Skipped with the reason
when no PostgreSQL answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.db.engine import create_engine
from tests.conftest import create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    url, admin, name = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(admin, name)


async def _backend(engine: AsyncEngine) -> tuple[int, Any]:
    """The server process id of a pooled connection, and its asyncpg connection."""
    async with engine.connect() as conn:
        pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        return pid, (await conn.get_raw_connection()).driver_connection


async def test_a_connection_the_server_terminated_is_replaced_before_use(pg_url: str) -> None:
    engine = create_engine(pg_url)
    other = create_engine(pg_url)
    try:
        first, driver = await _backend(engine)  # now idle in the pool
        async with other.connect() as admin:
            assert (await admin.execute(text("SELECT pg_terminate_backend(:pid)"),
                                        {"pid": first})).scalar_one() is True
        for _ in range(100):  # until the event loop has read the server's goodbye
            if driver.is_closed():
                break
            await asyncio.sleep(0.01)
        assert driver.is_closed()
        second, replacement = await _backend(engine)  # no error: the pool replaced it
        assert second != first and replacement is not driver
    finally:
        await engine.dispose()
        await other.dispose()


async def test_a_pooled_connection_costs_no_round_trip_on_checkout(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
        sent: list[str] = []
        raw.add_query_logger(lambda record: sent.append(record.query))
        async with engine.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is raw
        assert sent == []  # SQLAlchemy's asyncpg pre-ping sent BEGIN, ";" and ROLLBACK
    finally:
        await engine.dispose()
