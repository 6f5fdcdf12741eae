"""Speech at the hotline's main menu through the real IVR adapter (ivr.service) and the real
Korean vosk model: the session is scripted (it stands in for Asterisk's RECORD FILE by writing
an espeak-ng utterance where Asterisk would), the recognizer is not."""

from __future__ import annotations

import asyncio
import os
import shutil
import wave
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ivr.ports import InMemoryDirectory
from ivr.service import run_hotline
from speech.eagi_relay import relay
from speech.listener import EagiSettings, VoskSpeechInput, load_phrase_table
from tests.ivr.test_service import DAYTIME, SHOP, FakeSession, Keys, clock_at, fixture_request
from tests.speech.test_stream import feed, pcm_of

KO_PHRASES = """
[languages]
zh = "ko"

[phrases.ko]
repair = ["수리"]
install = ["설치"]
complaint = ["민원"]
status = ["진행 상황 조회"]
agent = ["상담원"]
"""


@dataclass
class Reply:
    result: str | None
    data: str | None


@dataclass
class SpeakingSession(FakeSession):
    """Answers RECORD FILE with the next utterance: a WAV file (copied where Asterisk would
    write it), None (silence: a second of zeros), or a key (``"0"``: pressed while recording)."""

    utterances: list[Any] = field(default_factory=list)

    async def exec_app(self, app: str, args: str = "") -> Reply:
        """``EXEC EAGI relay,HOST:PORT,ID``: runs the real relay on the next utterance, fed
        in real time through a pipe as Asterisk feeds file descriptor 3."""
        self._dead(f"EXEC {app} {args.split(',', 1)[0]}")
        assert app == "EAGI"
        _, address, listen_id = args.split(",")
        said = self.utterances.pop(0) if self.utterances else None
        audio = b"" if said is None else pcm_of(said)
        fd = feed(audio, 3.0, realtime=True)
        try:
            await asyncio.to_thread(relay, address, listen_id, fd)
        finally:
            os.close(fd)
        return Reply("0", None)

    async def record_file(self, filename: str, file_format: str = "wav",
                          escape_digits: str = "#", timeout_ms: int = 10_000, *,
                          beep: bool = True, silence_s: int | None = None) -> Reply:
        self._dead(f"RECORD FILE {Path(filename).name} {file_format} {timeout_ms} s={silence_s}")
        said = self.utterances.pop(0) if self.utterances else None
        if isinstance(said, str):
            return Reply(str(ord(said)), "dtmf")
        target = Path(f"{filename}.{file_format}")
        if said is None:
            with wave.open(str(target), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(b"\0\0" * 8000)
        else:
            shutil.copy(said, target)
        return Reply("0", "timeout")


@pytest.fixture(params=["record_file", "eagi"])
async def listener(request: pytest.FixtureRequest, model_dir: Path, tmp_path: Path
                   ) -> Any:
    phrases = tmp_path / "phrases.toml"
    phrases.write_text(KO_PHRASES, encoding="utf-8")
    eagi = EagiSettings("callcenter-eagi", "127.0.0.1", 0, 0.5)
    speech = VoskSpeechInput({"ko": str(model_dir)}, load_phrase_table(phrases),
                             record_dir=tmp_path / "rec", min_confidence=0.6, listen_seconds=4,
                             silence_seconds=1, eagi=eagi if request.param == "eagi" else None)
    await speech.start()
    yield speech
    await speech.stop()


async def _call(listener: VoskSpeechInput, *utterances: Any, keys: list[object] | None = None
                ) -> tuple[str, str, SpeakingSession]:
    directory = InMemoryDirectory()
    directory.add_merchant(SHOP, ["13800138000"])
    request = replace(fixture_request(), caller_id="13800138000")
    session = SpeakingSession(request=request, script=[Keys("1"), *(keys or [])],
                              utterances=list(utterances))
    result = await run_hotline(session, directory, clock=clock_at(DAYTIME), speech=listener)
    return result.path, result.queue, session


async def test_a_spoken_agent_request_at_8khz_reaches_the_agent_queue(
        listener: VoskSpeechInput, voice: Any, tmp_path: Path) -> None:
    path, queue, session = await _call(listener, voice("상담원", rate=8000))
    assert path.endswith("menu:speech:agent>agent") and queue == "aftersales"
    if listener.eagi is None:
        assert any(c.startswith("RECORD FILE ivr-") and "s=1" in c for c in session.commands)
        assert list((tmp_path / "rec").iterdir()) == []  # the recorded answer is not kept
    else:
        assert "EXEC EAGI callcenter-eagi" in session.commands


async def test_a_spoken_complaint_goes_to_the_complaints_queue(
        listener: VoskSpeechInput, voice: Any) -> None:
    path, queue, _ = await _call(listener, voice("민원", rate=8000))
    assert "menu:speech:complaint>merchant:cid" in path and queue == "complaints"


async def test_silence_falls_back_to_the_keys(listener: VoskSpeechInput) -> None:
    path, queue, session = await _call(listener, None, keys=[Keys("0")])
    assert path.endswith("menu:speech:silence>menu:0>agent") and queue == "aftersales"
    assert [c for c in session.commands if "main_menu" in c][-1].startswith("GET DATA")


async def test_an_unsure_answer_falls_back_to_the_keys(
        listener: VoskSpeechInput, voice: Any) -> None:
    if listener.eagi is not None:
        pytest.skip("the unsure case is a 16 kHz recording (a file); EAGI audio is 8 kHz")
    # espeak-ng's "설치" (install) is heard by this model as 수리 with confidence 0.54
    path, _, _ = await _call(listener, voice("설치"), keys=[Keys("0")])
    assert "menu:speech:unsure>menu:0" in path


async def test_a_key_pressed_while_recording_is_a_key(listener: VoskSpeechInput) -> None:
    if listener.eagi is not None:
        pytest.skip("EAGI hands the script audio only; a key pressed then is not seen")
    path, _, _ = await _call(listener, "0")
    assert path.endswith("menu:0>agent")
