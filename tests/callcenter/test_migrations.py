"""Alembic: upgrade → downgrade → upgrade on both backends, and the models match the head."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from callcenter.db import migrate
from callcenter.db.engine import create_engine
from callcenter.db.models import SEARCH_INDEX_NAMES, Base


def _tables(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _diff(url: str) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                # The transcript search indexes (FTS5 / pg_trgm) are made by the migration
                # only: the ORM cannot describe them.
                opts = {"include_name": lambda name, _type, _parent:
                        name not in SEARCH_INDEX_NAMES}
                return await conn.run_sync(lambda c: compare_metadata(
                    MigrationContext.configure(c, opts=opts), Base.metadata))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_downgrade_upgrade_round_trip(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    assert set(Base.metadata.tables) <= _tables(empty_db_url)
    migrate.downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) <= {"alembic_version"}
    migrate.upgrade(empty_db_url)
    assert set(Base.metadata.tables) <= _tables(empty_db_url)


def test_migrations_produce_exactly_the_models(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    assert _diff(empty_db_url) == []
