"""Real speech for the recording tests: espeak-ng renders it, as Asterisk would record a call
(16-bit PCM WAV). Tests that need it skip with the reason when espeak-ng or opus-tools are
missing (``.ci/run`` installs both)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from array import array
from pathlib import Path

import pytest

from recording import codec

CALLER = "您好，我的刷卡机坏了，需要报修。商户号是一二三四五。"
AGENT = "您好！工号八零零一为您服务。请问有什么可以帮您的？"


def need_audio_tools() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    if not codec.available():
        pytest.skip("opus-tools is not installed (apt-get install opus-tools)")


def speak(text: str, path: Path) -> Path:
    """``text`` spoken in Mandarin into a mono WAV at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", "cmn", "-w", str(path), text],
                   check=True, capture_output=True, timeout=60)
    return path


def stereo(left: Path, right: Path, path: Path) -> Path:
    """A two-channel WAV: the caller on the left, the agent on the right (as MixMonitor's
    receive and transmit legs), padded with silence to the longer one."""
    chans = []
    for p in (left, right):
        with wave.open(str(p), "rb") as w:
            rate = w.getframerate()
            chans.append(array("h", w.readframes(w.getnframes())))
    n = max(len(c) for c in chans)
    out = array("h", bytes(4 * n))
    for i, c in enumerate(chans):
        out[i:2 * len(c):2] = c
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(out.tobytes())
    return path


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    """A recorded call of real speech (caller then agent), mono, under ``tmp_path/src``."""
    need_audio_tools()
    return speak(CALLER + AGENT, tmp_path / "src" / "speech.wav")
