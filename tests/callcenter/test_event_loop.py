"""`callcenter serve` runs on uvloop by default and on asyncio when told or when uvloop is
missing."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from callcenter.event_loop import loop_name, runner
from callcenter.settings import SettingsError, load_settings


async def _which() -> str:
    return loop_name()


def test_serve_runs_on_uvloop_by_default() -> None:
    settings = load_settings(environ={})
    assert settings.server.event_loop == "uvloop"
    assert runner(settings.server.event_loop)(_which()) == "uvloop"


def test_asyncio_loop_can_be_chosen() -> None:
    settings = load_settings(environ={"CALLCENTER_SERVER_EVENT_LOOP": "asyncio"})
    assert runner(settings.server.event_loop) is asyncio.run
    assert runner("asyncio")(_which()) == "asyncio"


def test_missing_uvloop_falls_back_to_asyncio_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    with caplog.at_level(logging.WARNING, logger="callcenter.event_loop"):
        run = runner("uvloop")
    assert run is asyncio.run
    assert "uvloop is not installed" in caplog.text


def test_unknown_event_loop_setting_is_refused_naming_the_key() -> None:
    with pytest.raises(SettingsError, match=r"server\.event_loop"):
        load_settings(environ={"CALLCENTER_SERVER_EVENT_LOOP": "trio"})
