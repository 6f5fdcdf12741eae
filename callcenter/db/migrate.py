"""Run the Alembic migrations in-process (``callcenter db upgrade``, tests, ``make run``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.errors import DatabaseUnavailable
from callcenter.settings import normalise_database_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' would be read as interpolation by configparser
    config.set_main_option("sqlalchemy.url", normalise_database_url(url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``. Blocking: run it off the loop."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return head or ""


async def check_schema(engine: AsyncEngine) -> None:
    """Raise DatabaseUnavailable with the fix when the schema is not at the newest migration
    (so ``serve`` on an empty or old database says "run callcenter db upgrade" at start-up
    instead of failing on the first query)."""
    from alembic.runtime.migration import MigrationContext

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        revision = await conn.run_sync(current)
    head = head_revision()
    if revision != head:
        raise DatabaseUnavailable(
            f"the database schema is at {revision or 'nothing (empty database)'}, the product "
            f"needs {head}: run `callcenter db upgrade` first")
