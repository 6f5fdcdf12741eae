"""Headless Chromium: the transcript beside the recording; clicking a word seeks the player
there, and a search hit's ``#t=`` opens the player at its moment (under a strict CSP)."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callcenter.domain import Role
from callcenter.service import add_user
from callcenter.settings import load_settings
from callcenter.speech_directory import SqlTranscriptStore
from callcenter.web.app import build_web_app
from recording.repository import RecordingRepository
from recording.web import MODULE as RECORDINGS
from speech.service import SpeechService
from speech.transcript import Transcript, Word
from speech.web import module
from tests.page_scripts import VIOLATIONS, assert_strict_csp_held, enforce_strict_csp

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
WORDS = Transcript("mixed", (Word("我", 0.5, 0.7, 1.0), Word("要", 0.7, 0.9, 1.0),
                             Word("投诉", 3.2, 3.6, 0.9), Word("退款", 6.0, 6.5, 0.8)), 8.0)


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: the browser test needs Chromium")
    return CHROMIUM


@pytest.fixture
async def site(sqlite_store: Any, tmp_path: Path, chromium: Path
               ) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    store = sqlite_store
    await add_user(store, NOW, username="sup", display_name="sup", role=Role.SUPERVISOR,
                   password="password-1")
    await store.calls.upsert("1795330137.0", NOW)
    repo = RecordingRepository(store)
    rec = await repo.register("1795330137.0", "/var/spool/asterisk/monitor/1795330137.1.wav",
                              NOW)
    await repo.finish("1795330137.0", NOW + timedelta(minutes=1))
    (tmp_path / "rec").mkdir()
    with wave.open(str(tmp_path / "rec" / "1795330137.1.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000 * 8)
    ts = SqlTranscriptStore(store)
    await ts.enqueue_finished(NOW)
    job = await ts.claim(NOW)
    assert job is not None
    await ts.save(job, "zh-CN", [WORDS], NOW)
    settings = load_settings(environ={"CALLCENTER_RECORDING_DIR": str(tmp_path / "rec")})
    app = build_web_app(settings, store, modules=[
        RECORDINGS, module(SpeechService(ts, enabled=True, language="zh-CN"))])
    enforce_strict_csp(app)
    async with TestClient(TestServer(app)) as client:
        r = await client.post("/login", data={"username": "sup", "password": "password-1"},
                              allow_redirects=False)
        assert r.status == 302
        yield client, rec.id


async def test_clicking_a_word_seeks_the_recording_there(
        site: tuple[TestClient[Any, Any], str]) -> None:
    from playwright.async_api import async_playwright

    client, token = site
    base = str(client.make_url("/")).rstrip("/")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["cc_session"].value
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(locale="zh-CN")
            await context.add_cookies([{"name": "cc_session", "value": cookie, "url": base}])
            await context.add_init_script(VIOLATIONS)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/speech/search?q=投诉")
            await page.click("a.speech-hit")
            # functions, not expressions: the page's CSP forbids eval
            await page.wait_for_function(
                "() => document.getElementById('speech-audio').readyState >= 1", timeout=15_000)
            assert page.url.endswith(f"/speech/recordings/{token}#t=3.2")
            await page.wait_for_function(
                "() => Math.abs(document.getElementById('speech-audio').currentTime - 3.2) < 0.05",
                timeout=15_000)
            words = page.locator("button.speech-word")
            assert await words.all_text_contents() == ["我", "要", "投诉", "退款"]
            await words.nth(3).click()
            await page.wait_for_function(
                "() => document.getElementById('speech-audio').currentTime >= 6.0", timeout=15_000)
            await assert_strict_csp_held(page)
            assert errors == []
        finally:
            await browser.close()
