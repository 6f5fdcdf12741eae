"""The prompt catalogue and its rendering to 8 kHz 16-bit mono WAV with espeak-ng + sox."""

from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path
from types import MappingProxyType

import pytest

from ivr.callback import CALLBACK_PROMPTS
from ivr.menu import READOUT_PROMPTS
from ivr.menu_config import load_menu
from ivr.prompts import (
    LANG_DIRS,
    Prompt,
    PromptCatalogue,
    build_prompts,
    find_espeak,
    load_catalogue,
    prompt_file,
    render_prompts,
    rendered_path,
)

CATALOGUE = load_catalogue()
ESPEAK = find_espeak()
SOX = shutil.which("sox")
needs_tools = pytest.mark.skipif(
    ESPEAK is None or SOX is None,
    reason=f"prompt rendering needs espeak-ng and sox (espeak-ng: {ESPEAK or 'missing'}, "
           f"sox: {SOX or 'missing'}); apt-get install espeak-ng sox",
)
DIALPLAN_PROMPTS = {"queue_timeout"} | CALLBACK_PROMPTS


def test_every_prompt_the_ivr_can_play_is_in_the_catalogue() -> None:
    wanted = load_menu().prompt_ids() | READOUT_PROMPTS | DIALPLAN_PROMPTS
    assert wanted - CATALOGUE.ids == set()


def test_catalogue_has_no_unused_prompts() -> None:
    used = load_menu().prompt_ids() | READOUT_PROMPTS | DIALPLAN_PROMPTS
    assert CATALOGUE.ids - used == set()


def test_every_prompt_has_mandarin_and_english_text() -> None:
    for prompt in CATALOGUE.prompts.values():
        assert prompt.zh and prompt.en, prompt.id
        assert any("\u4e00" <= c <= "\u9fff" for c in prompt.zh), prompt.id


def test_a_listening_menu_says_its_keys_and_that_the_caller_may_speak() -> None:
    from ivr.menu_config import ChoiceNode
    from speech.listener import load_phrase_table

    phrases = load_phrase_table()
    listening = [n for n in load_menu().nodes.values()
                 if isinstance(n, ChoiceNode) and n.speech]
    assert [n.id for n in listening] == ["main"]
    for node in listening:
        assert node.speech_prompt is not None
        keys, spoken = CATALOGUE.prompts[node.prompt], CATALOGUE.prompts[node.speech_prompt]
        for lang in ("zh", "en"):
            text = spoken.text(lang)
            assert text.startswith(keys.text(lang)), (node.id, lang)  # the keys, unchanged
            said = text[len(keys.text(lang)):].casefold()
            assert ("说" in said) if lang == "zh" else ("say" in said and "speak" in said)
            # an example the recogniser knows for every intent the node offers
            for intent in node.speech:
                examples = phrases.phrases[phrases.speech_language(lang)][intent]
                assert any(p.casefold() in said for p in examples), (node.id, lang, intent)
        # the keys-only prompt does not invite speech (it plays when nothing can be heard)
        assert "说" not in keys.zh and "say" not in keys.en.casefold()


@needs_tools
def test_the_speech_invitation_is_rendered_after_the_keys(tmp_path: Path) -> None:
    report = render_prompts(CATALOGUE.subset(["main_menu", "main_menu_speech"]), tmp_path,
                            ESPEAK, sox_path=SOX)
    assert report.ok, report.summary()
    for lang in LANG_DIRS:
        seconds = {}
        for prompt in ("main_menu", "main_menu_speech"):
            with wave.open(str(rendered_path(tmp_path, prompt, lang)), "rb") as audio:
                assert (audio.getframerate(), audio.getnchannels()) == (8000, 1)
                seconds[prompt] = audio.getnframes() / 8000
        # the same keys, then several seconds more of "or say …"
        assert seconds["main_menu_speech"] > seconds["main_menu"] + 3.0, (lang, seconds)


def test_prompt_file_and_rendered_path_agree() -> None:
    assert prompt_file("/var/lib/callcenter/prompts/", "welcome", "zh") == \
        "/var/lib/callcenter/prompts/zh_CN/welcome"
    assert prompt_file("callcenter", "welcome", "en") == "callcenter/en/welcome"
    out = Path("/srv/prompts")
    for lang in LANG_DIRS:
        assert str(rendered_path(out, "welcome", lang)) == \
            prompt_file(str(out), "welcome", lang) + ".wav"


def two_prompts() -> PromptCatalogue:
    return CATALOGUE.subset(["welcome", "month_11"])


@needs_tools
def test_renders_two_prompts_as_8khz_mono_16bit_wav(tmp_path: Path) -> None:
    report = render_prompts(two_prompts(), tmp_path, ESPEAK, sox_path=SOX)
    assert report.ok, report.summary()
    expected = {tmp_path / d / f"{p}.wav" for d in ("zh_CN", "en") for p in ("welcome", "month_11")}
    assert set(report.rendered) == expected
    for path in expected:
        with wave.open(str(path), "rb") as audio:
            assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == \
                (8000, 1, 2), path
            assert audio.getnframes() > 8000 * 0.3, path  # at least 0.3 s of speech
    assert not list(tmp_path.rglob("*.part"))


@needs_tools
def test_build_prompts_renders_a_catalogue_file(tmp_path: Path) -> None:
    catalogue = tmp_path / "prompts.toml"
    catalogue.write_text('[beep_test]\nzh = "测试"\nen = "test"\n', encoding="utf-8")
    report = build_prompts(tmp_path / "out", catalogue_path=catalogue)
    assert report.ok, report.summary()
    assert (tmp_path / "out" / "zh_CN" / "beep_test.wav").is_file()
    assert "2 prompt files written" in report.summary()


@needs_tools
def test_text_starting_with_a_dash_is_spoken_not_taken_as_an_option(tmp_path: Path) -> None:
    catalogue = PromptCatalogue(MappingProxyType({"dash": Prompt("dash", "-w 你好", "-w hello")}))
    report = render_prompts(catalogue, tmp_path, ESPEAK, sox_path=SOX, langs=("en",))
    assert report.ok, report.summary()
    assert rendered_path(tmp_path, "dash", "en").is_file()


def test_missing_espeak_is_reported_and_nothing_is_written(tmp_path: Path) -> None:
    report = render_prompts(two_prompts(), tmp_path / "out", tmp_path / "no-espeak-ng")
    assert not report.ok
    assert report.missing_tool is not None and "espeak-ng not found" in report.missing_tool
    assert "apt-get install espeak-ng" in report.summary()
    assert not (tmp_path / "out").exists()


def test_missing_sox_is_reported(tmp_path: Path) -> None:
    fake_espeak = tmp_path / "espeak-ng"
    fake_espeak.write_text("#!/bin/sh\nexit 0\n")
    fake_espeak.chmod(0o755)
    report = render_prompts(two_prompts(), tmp_path / "out", fake_espeak,
                            sox_path=tmp_path / "no-sox")
    assert report.missing_tool is not None and "sox not found" in report.missing_tool


def test_a_failing_tool_is_listed_per_prompt(tmp_path: Path) -> None:
    broken = tmp_path / "espeak-ng"
    broken.write_text("#!/bin/sh\necho 'voice not found' >&2\nexit 1\n")
    broken.chmod(0o755)
    sox = tmp_path / "sox"
    sox.write_text("#!/bin/sh\nexit 0\n")
    sox.chmod(0o755)
    report = render_prompts(two_prompts(), tmp_path / "out", broken, sox_path=sox)
    assert not report.ok and report.rendered == ()
    assert len(report.failed) == 4
    assert any(f.startswith("zh_CN/welcome: espeak-ng exited 1: voice not found")
               for f in report.failed)
    assert os.access(broken, os.X_OK)
