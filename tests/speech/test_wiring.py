"""``install(runtime, options)``: speech joins the product, or switches off with one line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from callcenter.db.engine import create_engine, session_factory
from callcenter.db.repositories import Store
from callcenter.runtime import RunOptions, Runtime
from callcenter.settings import load_settings
from speech.wiring import install
from speech.worker import TranscriptionWorker


async def _runtime(url: str, env: dict[str, str]) -> Runtime:
    engine = create_engine(url)
    return Runtime(settings=load_settings(environ=env), engine=engine,
                   store=Store(session_factory(engine)))


async def test_without_a_model_speech_is_off_with_one_log_line_and_pages_remain(
        sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runtime = await _runtime(sqlite_url, {"CALLCENTER_SPEECH_MODELS": f"zh-CN={tmp_path}/none"})
    try:
        with caplog.at_level(logging.INFO, logger="speech"):
            service = await install(runtime, RunOptions())
        assert [r.getMessage() for r in caplog.records] == [
            f"speech is off: model directory {tmp_path}/none does not exist; everything else runs"]
        assert not service.enabled and runtime.components == []
        assert [m.name for m in runtime.modules] == ["speech"]
        report = await runtime.health["speech"]()
        assert report["ok"] and not report["enabled"]
    finally:
        await runtime.engine.dispose()


async def test_with_a_model_the_worker_joins_the_runtime(sqlite_url: str,
                                                         model_dir: Path) -> None:
    runtime = await _runtime(sqlite_url, {"CALLCENTER_SPEECH_MODELS": f"ko={model_dir}",
                                          "CALLCENTER_SPEECH_LANGUAGE": "ko"})
    try:
        service = await install(runtime, RunOptions())
        assert service.enabled
        [worker] = runtime.components
        assert isinstance(worker, TranscriptionWorker)
        assert worker.model_dir == str(model_dir) and worker.nice == 19
        assert (await runtime.health["speech"]())["backlog"] == {}
    finally:
        await runtime.engine.dispose()


async def test_the_ivr_hears_callers_in_the_languages_that_have_a_model(
        sqlite_url: str, model_dir: Path, tmp_path: Path) -> None:
    from ivr.wiring import install as install_ivr
    from tests.speech.test_ivr_speech import KO_PHRASES

    phrases = tmp_path / "phrases.toml"
    phrases.write_text(KO_PHRASES, encoding="utf-8")
    runtime = await _runtime(sqlite_url, {
        "CALLCENTER_SPEECH_MODELS": f"ko={model_dir}",
        "CALLCENTER_SPEECH_PHRASES_FILE": str(phrases),
        "CALLCENTER_SPEECH_RECORD_DIR": str(tmp_path / "answers"),
        "CALLCENTER_SPEECH_STREAM_PORT": "0", "CALLCENTER_FASTAGI_PORT": "0"})
    try:
        component = await install_ivr(runtime, RunOptions())
        assert component is not None and component.speech is not None
        assert component.speech.menu_langs == {"zh"}
        await component.start()
        try:
            assert component.speech.stream_port  # EAGI relays have somewhere to stream
        finally:
            await component.stop()
    finally:
        await runtime.engine.dispose()


async def test_without_a_model_the_ivr_is_keys_only(sqlite_url: str) -> None:
    from ivr.wiring import install as install_ivr

    runtime = await _runtime(sqlite_url, {})
    try:
        component = await install_ivr(runtime, RunOptions())
        assert component is not None and component.speech is None
    finally:
        await runtime.engine.dispose()
