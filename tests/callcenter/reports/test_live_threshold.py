"""/reports follows the run-time settings of /admin: after an administrator changes the
service-level threshold (and the answer-rate target), the KPI API, its CSV export and the
wallboard count the same stored calls with the same definition. On the product built by the
composition root (SQLite), so the wiring (``runtime.live_settings`` → reports) is what runs."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Product, build_product
from callcenter.auth import hash_password
from callcenter.domain import Role
from callcenter.reports.periods import day_bounds
from callcenter.runtime import RunOptions
from callcenter.settings import load_settings
from supervision import wallboard
from supervision import wiring as supervision_wiring
from tests.callcenter.reports.test_reports_store import call
from tests.web_sessions import session_headers

TZ = ZoneInfo("Asia/Shanghai")
WAITS = (4.0, 15.0, 25.0, 40.0)  # answered; plus one abandon after 50 s


@dataclass
class Env:
    product: Product
    client: TestClient[Any, Any]
    admin: dict[str, str]
    day: date


@pytest.fixture
async def env(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    settings = load_settings(environ={"CALLCENTER_DATABASE_URL": sqlite_url,
                                      "CALLCENTER_RECORDING_DIR": str(tmp_path),
                                      "CALLCENTER_WEB_SESSION_SECRET": "threshold-test"})
    product = await build_product(settings, RunOptions(ami=False))
    store = product.runtime.store
    now = datetime.now(UTC)
    admin = await store.users.add("root", "管理员", Role.ADMIN, hash_password("password-1"), now)
    # today's calls (the wallboard counts the local day), an hour after local midnight
    day = now.astimezone(TZ).date()
    start, end = day_bounds(day, day, TZ)
    for n, wait in enumerate(WAITS):
        await call(store, n, start + timedelta(hours=1, minutes=n), "answered", wait=wait)
    await call(store, 9, start + timedelta(hours=1, minutes=9), "abandoned", wait=50.0)
    assert product.web is not None and product.reports is not None
    await product.reports.store.rebuild(start, end)
    try:
        async with TestClient(TestServer(product.web.app)) as client:
            yield Env(product, client, await session_headers(store, admin.id, now), day)
    finally:
        await product.stop()


async def report(e: Env) -> dict[str, Any]:
    r = await e.client.get(f"/api/reports/kpi?from={e.day}&to={e.day}&group=queue",
                           headers=e.admin)
    assert r.status == 200
    body = await r.json()
    return {row["group"]: row for row in body["rows"]}["aftersales"]  # type: ignore[no-any-return]


async def exported_service_level(e: Env) -> str:
    r = await e.client.get(f"/api/reports/kpi?from={e.day}&to={e.day}&group=queue&format=csv",
                           headers=e.admin)
    assert r.status == 200
    rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    column = rows[0].index("service_level")
    return next(row[column] for row in rows[1:] if row[0] == "aftersales")


async def wallboard_service_level(e: Env) -> float | None:
    board = e.product.supervision
    assert board is not None
    while supervision_wiring._RECOUNTS:  # a changed threshold recounts the day
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    rows = wallboard.queue_rows(["aftersales"], [], [], board.day,
                                datetime.now(UTC).timestamp(), board.policy)
    return rows[0]["service_level"]  # type: ignore[no-any-return]


async def change(e: Env, changes: dict[str, Any]) -> None:
    r = await e.client.post("/api/admin/settings", json={"changes": changes}, headers=e.admin)
    assert r.status == 200, await r.text()


async def test_a_changed_threshold_changes_the_reports_service_level_like_the_wallboards(
        env: Env) -> None:
    e = env
    board = e.product.supervision
    assert board is not None
    await board.reload_day()
    before = await report(e)
    assert (before["offered"], before["answered"]) == (5, 4)
    assert before["service_level"] == 0.4  # 4 s and 15 s within the file's 20 s
    assert before["service_level"] == await wallboard_service_level(e)

    await change(e, {"service_level_s": 30})
    after = await report(e)
    assert after["service_level"] == 0.6  # 25 s now counts too: the same stored calls
    assert after["service_level"] == await wallboard_service_level(e)
    assert await exported_service_level(e) == "0.6"  # the CSV export too

    r = await e.client.get(f"/api/reports/kpi?from={e.day}&to={e.day}", headers=e.admin)
    assert (await r.json())["definitions"] == {"service_level_s": 30.0,
                                               "answer_rate_target": 0.9}
    r = await e.client.get(f"/reports?period=day&date={e.day}",
                           headers={**e.admin, "Accept-Language": "zh-CN"})
    assert "服务水平：30 秒内接听；接通率目标 90%" in await r.text()

    await change(e, {"service_level_s": 10})
    assert (await report(e))["service_level"] == 0.2 == await wallboard_service_level(e)


async def test_the_answer_rate_target_in_force_decides_whether_a_row_meets_it(
        env: Env) -> None:
    e = env
    assert (await report(env))["answer_rate"] == 0.8
    assert (await report(e))["targets_met"]["answer_rate"] is False  # the file's 90 %
    await change(e, {"answer_rate_pct": 75})
    assert (await report(e))["targets_met"]["answer_rate"] is True
