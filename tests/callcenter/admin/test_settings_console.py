"""Run-time settings in /admin on the product built by the composition root: the JSON API
(bad values 400 with the reason in the page's language and nothing stored; a change audited
and applied at once to the IVR's calendar and the wallboard's rules), then the page in
headless Chromium.

Screenshot: /tmp/shots-a/admin-settings.png (1366x768; Playwright makes the directory).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.app import Product, build_product
from callcenter.auth import hash_password
from callcenter.domain import Role
from callcenter.runtime import RunOptions
from callcenter.settings import load_settings
from ivr.calendar import ServiceMode, service_mode
from tests.web_sessions import session_headers

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "admin-password-1"
SHOTS = Path("/tmp/shots-a")


@dataclass
class Console:
    product: Product
    client: TestClient[Any, Any]
    admin: dict[str, str]
    supervisor: dict[str, str]


@pytest.fixture
async def console(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Console]:
    settings = load_settings(environ={"CALLCENTER_DATABASE_URL": sqlite_url,
                                      "CALLCENTER_RECORDING_DIR": str(tmp_path),
                                      "CALLCENTER_WEB_SESSION_SECRET": "settings-test"})
    product = await build_product(settings, RunOptions(ami=False))
    store = product.runtime.store
    now = datetime.now(UTC)
    admin = await store.users.add("root", "管理员", Role.ADMIN, hash_password(PASSWORD), now)
    boss = await store.users.add("boss", "主管", Role.SUPERVISOR, "!", now)
    assert product.web is not None
    try:
        async with TestClient(TestServer(product.web.app)) as client:
            yield Console(product, client, await session_headers(store, admin.id, now),
                          await session_headers(store, boss.id, now))
    finally:
        await product.stop()


def ivr_mode(c: Console, at: datetime) -> ServiceMode:
    assert c.product.fastagi is not None
    menu = c.product.fastagi.registry.current
    return service_mode(at, menu.definition.schedule, menu.holidays)


async def post(c: Console, body: Any, lang: str = "zh-CN") -> tuple[int, Any]:
    r = await c.client.post("/api/admin/settings", json=body,
                            headers={**c.admin, "Accept-Language": lang})
    return r.status, await r.json()


async def test_without_a_stored_value_the_files_values_are_in_force(console: Console) -> None:
    r = await console.client.get("/api/admin/settings", headers=console.admin)
    data = await r.json()
    assert r.status == 200
    assert data["settings"] == data["defaults"] and data["overridden"] == []
    assert data["settings"]["answer_rate_pct"] == 90.0
    assert data["settings"]["service_level_s"] == 20.0
    assert data["settings"]["business_hours"] == {"start": "08:00", "end": "20:00"}
    assert {"name": "国庆节 National Day", "start": "2026-10-01", "end": "2026-10-07"} in \
        data["settings"]["holidays"]


@pytest.mark.parametrize(("body", "lang", "field", "message"), [
    ({"changes": {"long_wait_s": 30, "answer_rate_pct": 120}}, "zh-CN", "answer_rate_pct",
     "须在 1 到 100 之间"),
    ({"changes": {"long_wait_s": 30, "answer_rate_pct": 120}}, "en", "answer_rate_pct",
     "must be between 1 and 100"),
    ({"changes": {"business_hours": {"start": "21:00", "end": "09:00"}}}, "zh-CN",
     "business_hours", "开始时间须早于结束时间"),
    ({"changes": {"holidays": [{"name": "年会", "start": "2026-12-31", "end": "2026-12-30"}]}},
     "en", "holidays[1]", "ends before it starts"),
    ({"changes": {"color": "red"}}, "en", "color", "no such setting"),
    ({"changes": []}, "en", "changes", "expected an object"),
])
async def test_a_bad_value_is_400_with_its_reason_and_nothing_is_stored(
        console: Console, body: Any, lang: str, field: str, message: str) -> None:
    c = console
    status, answer = await post(c, body, lang)
    assert status == 400, answer
    assert answer["field"] == field and message in answer["message"]
    assert c.product.runtime.live_settings is not None
    assert await c.product.runtime.live_settings.port.load() == {}
    assert c.product.supervision.policy.long_wait_s == 60.0
    log = await (await c.client.get("/api/admin/audit?action=settings.change",
                                    headers=c.admin)).json()
    assert log["entries"] == []


async def test_a_change_is_audited_and_the_ivr_and_wallboard_follow_it_without_restart(
        console: Console) -> None:
    c = console
    new_year_eve = datetime(2026, 12, 31, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    assert ivr_mode(c, new_year_eve) is ServiceMode.DAY
    status, data = await post(c, {"changes": {
        "long_wait_s": 30, "answer_rate_pct": 95, "day_floor": 10,
        "holidays": [{"name": "年会", "start": "2026-12-31", "end": "2026-12-31"}]}})
    assert status == 200, data
    assert set(data["overridden"]) == {"long_wait_s", "answer_rate_pct", "day_floor",
                                       "holidays"}
    assert data["changed"]["holidays"]["by"] == "root"
    policy = c.product.supervision.policy
    assert (policy.long_wait_s, policy.answer_rate_target, policy.day_floor) == (30, 0.95, 10)
    assert ivr_mode(c, new_year_eve) is ServiceMode.HOLIDAY
    assert ivr_mode(c, datetime(2026, 10, 2, 2, 0, tzinfo=UTC)) is ServiceMode.DAY
    log = await (await c.client.get("/api/admin/audit?action=settings.change",
                                    headers=c.admin)).json()
    [entry] = log["entries"]
    assert entry["actor"] == "root"
    assert entry["details"]["changes"]["long_wait_s"] == {"old": 60.0, "new": 30}

    status, data = await post(c, {"reset": ["holidays"]})
    assert status == 200 and "holidays" not in data["overridden"]
    assert ivr_mode(c, new_year_eve) is ServiceMode.DAY
    assert ivr_mode(c, datetime(2026, 10, 2, 2, 0, tzinfo=UTC)) is ServiceMode.HOLIDAY


async def test_only_admins_change_settings(console: Console) -> None:
    r = await console.client.post("/api/admin/settings", json={"changes": {"long_wait_s": 5}},
                                  headers=console.supervisor)
    assert r.status == 403
    assert console.product.supervision.policy.long_wait_s == 60.0


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="the browser test needs Chromium")
async def test_an_admin_changes_a_threshold_and_a_holiday_in_the_page(
        console: Console) -> None:
    from playwright.async_api import async_playwright

    c = console
    base = str(c.client.make_url("")).rstrip("/")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM),
                                          args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = await (await browser.new_context(
                locale="zh-CN", viewport={"width": 1366, "height": 768})).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(base + "/login")
            await page.fill("input[name=username]", "root")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.goto(base + "/admin")
            await page.wait_for_selector("#admin[data-ready='1']")
            assert await page.input_value("#settings input[name=long_wait_s]") == "60"
            # a bad value first: refused with the reason, nothing stored
            await page.fill("#settings input[name=long_wait_s]", "0")
            await page.click("#settings button[type=submit]")
            await page.wait_for_selector("#admin-msg.alert")
            assert "须在 1 到 3600 之间" in (await page.text_content("#admin-msg") or "")
            assert c.product.supervision.policy.long_wait_s == 60.0
            # then a threshold and a new holiday
            await page.fill("#settings input[name=long_wait_s]", "45")
            await page.click("#holiday-add")
            row = "#holidays tbody tr:last-child"
            await page.fill(f"{row} input[name=name]", "公司年会")
            await page.fill(f"{row} input[name=start]", "2026-12-31")
            await page.fill(f"{row} input[name=end]", "2026-12-31")
            await page.click("#settings button[type=submit]")
            await page.wait_for_selector("#audit td:has-text('settings.change')")
            # the consumers have it, without a restart
            assert c.product.supervision.policy.long_wait_s == 45.0
            assert ivr_mode(c, datetime(2026, 12, 31, 2, 0, tzinfo=UTC)) is ServiceMode.HOLIDAY
            assert c.product.fastagi is not None
            assert any(h.start == date(2026, 12, 31)
                       for h in c.product.fastagi.registry.current.holidays.holidays)
            # after a reload the page shows what is stored
            await page.reload()
            await page.wait_for_selector("#admin[data-ready='1']")
            assert await page.input_value("#settings input[name=long_wait_s]") == "45"
            names = await page.eval_on_selector_all(
                "#holidays input[name=name]", "els => els.map((e) => e.value)")
            assert "公司年会" in names
            assert "root" in (await page.text_content("[data-origin=long_wait_s]") or "")
            await page.locator("#settings-card").scroll_into_view_if_needed()
            await page.screenshot(path=str(SHOTS / "admin-settings.png"))
            assert errors == []
        finally:
            await browser.close()
