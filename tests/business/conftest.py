"""Fixtures of the business tests: a seeded store, a fake clock, a recording hub."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from callcenter.business.service import BusinessService
from callcenter.business.wrapup import WrapupForm
from callcenter.db import migrate
from callcenter.db.engine import create_engine, session_factory
from callcenter.db.models import Base
from callcenter.db.repositories import Store
from callcenter.domain import Merchant, MerchantInput, Role, TerminalInput
from callcenter.service import add_user
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.fakes.hub import RecordingHub

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SHOP = "102290054110001"
OTHER_SHOP = "102290058120002"
SERIAL = "LANDI-A8-0001"
SECOND_SERIAL = "LANDI-A8-0002"
OTHER_SERIAL = "PAX-A920-0009"
PASSWORD = "password-1"


class FakeClock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()


@dataclass(frozen=True)
class Seed:
    shop: Merchant
    other: Merchant


async def seed(store: Store) -> Seed:
    """Two merchants with terminals (the first has two), no calls."""
    await store.merchants.upsert_many([
        MerchantInput(SHOP, "鑫源便利店", "上海市浦东新区张杨路 100 号", "浦东新区", "王伟",
                      ("02150551234", "13800138000"), "09:00-21:00"),
        MerchantInput(OTHER_SHOP, "福满餐厅", "上海市徐汇区漕溪北路 8 号", "徐汇区", "李娜",
                      ("02164001234",), "10:00-22:00"),
    ], NOW)
    async with store.transaction() as s:
        ids = await store.merchants.by_numbers([SHOP, OTHER_SHOP], session=s)
        await store.terminals.upsert_many([
            TerminalInput(SERIAL, "LANDI A8", SHOP, date(2025, 1, 1)),
            TerminalInput(SECOND_SERIAL, "LANDI A8", SHOP, date(2025, 6, 1)),
            TerminalInput(OTHER_SERIAL, "PAX A920", OTHER_SHOP, date(2025, 1, 1)),
        ], ids, session=s)
    shop = await store.merchants.by_number(SHOP)
    other = await store.merchants.by_number(OTHER_SHOP)
    assert shop is not None and other is not None
    return Seed(shop, other)


async def add_agent(store: Store, agent_number: str = "8001", username: str = "") -> None:
    await add_user(store, NOW, username=username or f"agent{agent_number}",
                   display_name=f"坐席{agent_number}", role=Role.AGENT, password=PASSWORD,
                   agent_number=agent_number, interface=f"PJSIP/{agent_number}")


async def add_staff(store: Store, username: str, role: Role) -> None:
    await add_user(store, NOW, username=username, display_name=username, role=role,
                   password=PASSWORD)


async def add_call(store: Store, linked_id: str, *, merchant_id: int | None, agent: str = "8001",
                   answered: bool = True, ended_at: datetime | None = None,
                   intent: str = "repair", caller: str = "02150551234",
                   started_at: datetime = NOW - timedelta(minutes=5)) -> None:
    await store.calls.upsert(
        linked_id, started_at, caller_number=caller, merchant_id=merchant_id,
        merchant_verified=merchant_id is not None, intent=intent, agent_number=agent,
        queue="hotline", ivr_path="hello>lang:1>menu:2>merchant:ok>intent:2",
        answered_at=started_at + timedelta(seconds=30) if answered else None,
        ended_at=ended_at, outcome="answered" if answered else "abandoned")


def repair_form(**changes: Any) -> WrapupForm:
    """A complete, valid repair wrap-up for the first merchant's first terminal."""
    form = WrapupForm(
        disposition="repair", address="上海市浦东新区张杨路 100 号", site_phone="021-5055 1234",
        business_hours="09:00-21:00", contact_person="王伟", product_model="LANDI A8",
        terminal_serial=SERIAL, description="刷卡无反应，屏幕提示通讯失败")
    return replace(form, **changes)


# --------------------------------------------------------------------------- stores
#
# The business tests run on both backends, like the repository tests, but creating and
# migrating a PostgreSQL database per test costs a second each: here one database is migrated
# per session and emptied (TRUNCATE … RESTART IDENTITY) before every test instead.


@pytest.fixture(scope="session")
def business_postgres_url() -> Iterator[str]:
    url, admin, name = create_postgres_database()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        drop_postgres_database(admin, name)


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test gets a copy (Alembic costs ~0.3 s a run)."""
    path = tmp_path_factory.mktemp("business-template") / "cc.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite_file: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of this test's own (overrides the root fixture)."""
    copy = tmp_path / "cc.db"
    shutil.copyfile(migrated_sqlite_file, copy)
    return f"sqlite+aiosqlite:///{copy}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def business_db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database: a fresh SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("business_postgres_url"))


@pytest.fixture
async def store(business_db_url: str) -> AsyncIterator[Store]:
    """A migrated, empty store on SQLite and on PostgreSQL (emptied before each test)."""
    engine = create_engine(business_db_url)
    try:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        yield Store(session_factory(engine))
    finally:
        await engine.dispose()


@pytest.fixture
def hub() -> RecordingHub:
    return RecordingHub()


@pytest.fixture
async def seeded(store: Store) -> Seed:
    return await seed(store)


@pytest.fixture
async def sqlite_seeded(sqlite_store: Store) -> Seed:
    return await seed(sqlite_store)


def local_service(store: Store, hub: RecordingHub) -> BusinessService:
    return BusinessService(store, hub, tz=TZ, external=False)


def external_service(store: Store, hub: RecordingHub) -> BusinessService:
    return BusinessService(store, hub, tz=TZ, external=True)
