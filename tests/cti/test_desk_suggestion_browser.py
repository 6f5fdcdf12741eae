"""Headless Chromium at 1366x768: the wrap-up form takes what the call's transcript suggests
(``GET /api/speech/calls/{id}/prefill``) once the recording is transcribed. While it is being
transcribed the form says so and asks again; then it fills the empty description, marked as a
suggestion until the agent edits it, shows the disposition and keywords heard, and never
changes what the agent typed (it offers to add the caller's words instead).

The call is the real captured call of scenario 01 (intent repair chosen in the IVR, so the
IVR's disposition is already in the form: the transcript does not replace it). The transcript
is stored as the worker stores one.

Screenshots (look at them): /tmp/shots-f/desk-suggest-pending.png,
/tmp/shots-f/desk-suggest-filled.png, /tmp/shots-f/desk-suggest-typed-en.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callcenter.db.repositories import Store
from callcenter.speech_directory import SqlTranscriptStore
from cti.agent_state import AgentConfig
from recording.repository import RecordingRepository
from speech.listener import load_phrase_table
from speech.service import SpeechService
from speech.transcript import Transcript, Word
from speech.web import module as speech_module
from tests.cti import test_service
from tests.cti.test_desk_shift_browser import LAPTOP, in_view
from tests.cti.test_desktop_browser import CHROMIUM, Desk, chromium, log_in, served_desk
from tests.cti.test_service import NOW

template_db = test_service.template_db
cti_store = test_service.cti_store

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: the browser test needs Chromium")]

SHOTS = Path("/tmp/shots-f")
CALL = "1795330137.0"  # scenario 01's call, taken by agent 8001
# What the caller said, as the Chinese model segments it: 报修 (repair) comes first, 投诉 is
# one of the alert keywords.
SAID = ("我的", "刷卡机", "坏了", "要", "报修", "上次", "维修", "太慢", "我要", "投诉")
CALLER = Transcript("caller", tuple(Word(w, i * 0.6, i * 0.6 + 0.5, 0.9)
                                    for i, w in enumerate(SAID)), 8.0)
SUGGESTED = "我的刷卡机坏了要报修上次维修太慢我要投诉"


@pytest.fixture
async def desk(cti_store: Store) -> AsyncIterator[tuple[Desk, SqlTranscriptStore]]:
    transcripts = SqlTranscriptStore(cti_store)
    speech = SpeechService(transcripts, enabled=True, language="zh-CN",
                           keywords=("投诉", "媒体", "曝光", "报警", "退款"),
                           phrases=load_phrase_table())
    async with served_desk(cti_store, AgentConfig(wrap_up_s=5.0, hold_wrap_up_s=300.0),
                           extra_modules=[speech_module(speech)]) as served:
        # The call's recording (MixMonitor): it ends with the call and waits for the worker.
        repo = RecordingRepository(cti_store)
        await repo.register(CALL, f"/var/spool/asterisk/monitor/{CALL}.wav", NOW)
        yield served, transcripts


async def transcribe(store: SqlTranscriptStore) -> None:
    """What the transcription worker does once the recording ended."""
    await RecordingRepository(store.store).finish(CALL, NOW + timedelta(minutes=2))
    await store.enqueue_finished(NOW)
    job = await store.claim(NOW)
    assert job is not None and job.linked_id == CALL
    await store.save(job, "zh-CN", [CALLER], NOW)


async def to_wrapup(page: Any, desk: Desk) -> None:
    async with page.expect_response("**/api/agent/login") as login:
        await page.click("#btn-login")
    assert (await login.value).ok
    desk.feed_until("Newchannel", including=False)
    await page.wait_for_selector("#state-badge.state.available")
    while desk.position < len(desk.stream):
        desk.feed_until("Hangup")
    await desk.service.settle()
    await page.wait_for_selector("#wrapup:not([hidden])")


async def test_transcript_fills_the_empty_description_as_a_marked_suggestion(
        desk: tuple[Desk, SqlTranscriptStore]) -> None:
    served, transcripts = desk
    SHOTS.mkdir(exist_ok=True)  # noqa: ASYNC240 - once, before the browser starts
    async with chromium() as browser:
        context = await browser.new_context(locale="zh-CN", viewport=LAPTOP)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, served.base, "8001")
        await to_wrapup(page, served)

        # Recording still open: the form says a suggestion is coming, and fills nothing.
        await page.wait_for_selector("#suggest-pending:not([hidden])")
        assert await page.input_value("textarea[name=description]") == ""
        assert await page.input_value("select[name=disposition]") == "repair"  # the IVR's
        await page.screenshot(path=str(SHOTS / "desk-suggest-pending.png"))

        await transcribe(transcripts)
        # The next poll (every 5 s) finds the transcript.
        await page.wait_for_selector("textarea[name=description].suggested", timeout=15_000)
        assert await page.input_value("textarea[name=description]") == SUGGESTED
        assert await page.is_visible("[data-suggest-for=description]")
        # The IVR's disposition stays and is not marked; the transcript's agrees with it.
        assert await page.input_value("select[name=disposition]") == "repair"
        assert await page.is_hidden("[data-suggest-for=disposition]")
        facts = await page.text_content("#suggest-facts") or ""
        assert "报修（任务单）" in facts and "投诉" in facts
        assert await page.is_hidden("#suggest-pending")
        assert await page.text_content("#desc-count") == f"{len(SUGGESTED)}/200 字"
        # At 1366x768 the suggestion does not push the Save button off the screen.
        assert await page.evaluate("window.scrollY") == 0
        assert await in_view(page, "#speech-suggest")
        assert await in_view(page, "#wrapup-form button[type=submit]")
        await page.screenshot(path=str(SHOTS / "desk-suggest-filled.png"))

        # Editing the text makes it the agent's: the mark goes, the text stays as edited.
        await page.fill("textarea[name=description]", SUGGESTED[:11] + "，已约工程师")
        assert await page.is_hidden("[data-suggest-for=description]")
        assert not await page.locator("textarea[name=description].suggested").count()
        assert await page.is_hidden("#suggest-discard")
        assert errors == []


async def test_discarding_takes_back_only_what_the_suggestion_filled(
        desk: tuple[Desk, SqlTranscriptStore]) -> None:
    served, transcripts = desk
    await transcribe(transcripts)
    async with chromium() as browser:
        page = await (await browser.new_context(locale="zh-CN", viewport=LAPTOP)).new_page()
        await log_in(page, served.base, "8001")
        await to_wrapup(page, served)
        await page.wait_for_selector("textarea[name=description].suggested")
        await page.click("#suggest-discard")
        assert await page.input_value("textarea[name=description]") == ""
        assert await page.input_value("select[name=disposition]") == "repair"  # the IVR's
        assert await page.is_hidden("#speech-suggest")


async def test_what_the_agent_typed_is_never_replaced_only_added_to_on_request(
        desk: tuple[Desk, SqlTranscriptStore]) -> None:
    served, transcripts = desk
    async with chromium() as browser:
        page = await (await browser.new_context(locale="en-US", viewport=LAPTOP)).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, served.base, "8001")
        await to_wrapup(page, served)
        await page.wait_for_selector("#suggest-pending:not([hidden])")
        await page.fill("textarea[name=description]", "Card reader dead")

        await transcribe(transcripts)
        await page.wait_for_selector("#suggest-use:not([hidden])", timeout=15_000)
        assert await page.input_value("textarea[name=description]") == "Card reader dead"
        assert not await page.locator("textarea[name=description].suggested").count()
        note = await page.text_content("#suggest-note") or ""
        assert note == f"The caller said: {SUGGESTED}"
        assert "Keywords heard: 投诉" in (await page.text_content("#suggest-facts") or "")
        await page.screenshot(path=str(SHOTS / "desk-suggest-typed-en.png"))

        await page.click("#suggest-use")
        assert await page.input_value("textarea[name=description]") == \
            f"Card reader dead {SUGGESTED}"
        assert await page.is_hidden("#suggest-use")
        assert errors == []
