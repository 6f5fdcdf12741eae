"""The business tests' stores (SQLite and PostgreSQL, emptied per test) and seed, reused."""

from tests.business.conftest import (  # noqa: F401  (fixtures)
    business_db_url,
    business_postgres_url,
    hub,
    migrated_sqlite_file,
    seeded,
    sqlite_url,
    store,
)
