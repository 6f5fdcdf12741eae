"""`callcenter transcribe FILE.wav --model DIR` on a real vosk model (the acceptance contract)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.speech.conftest import stereo


def transcribe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    return subprocess.run([sys.executable, "-m", "callcenter.cli", "transcribe", *args],
                          cwd=cwd, env=environ, capture_output=True, text=True, timeout=120,
                          check=False)


def test_transcribe_prints_text_and_timed_words_of_a_spoken_korean_word(
        model_dir: Path, voice: Any, tmp_path: Path) -> None:
    wav = voice("여보세요 라디오")
    result = transcribe(str(wav), "--model", str(model_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert "라디오" in out["text"].split()
    radio = next(w for w in out["words"] if w["word"] == "라디오")
    assert set(radio) == {"word", "start", "end", "conf"}
    # "라디오" is the second word: it starts after "여보세요" and ends before the file does
    assert 0.3 < radio["start"] < radio["end"] <= out["duration"]
    assert 0.5 <= radio["conf"] <= 1.0
    starts = [w["start"] for w in out["words"]]
    assert starts == sorted(starts)
    assert out["channels"][0]["channel"] == "mixed"


def test_two_channel_recording_is_transcribed_per_speaker(
        model_dir: Path, voice: Any, tmp_path: Path) -> None:
    wav = stereo(voice("라디오"), voice("네"), tmp_path / "call.wav")
    result = transcribe(str(wav), "--model", str(model_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    channels = {c["channel"]: c for c in json.loads(result.stdout)["channels"]}
    assert set(channels) == {"caller", "agent"}
    assert "라디오" in channels["caller"]["text"]
    assert "라디오" not in channels["agent"]["text"]


def test_missing_model_is_one_clear_error_line(tmp_path: Path, voice: Any) -> None:
    result = transcribe(str(voice("라디오")), "--model", str(tmp_path / "none"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: speech model {tmp_path / 'none'}: no such directory"]


def test_a_file_that_is_not_pcm_wav_is_refused(model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav file")
    result = transcribe(str(bad), "--model", str(model_dir), cwd=tmp_path)
    assert result.returncode == 1 and "bad.wav" in result.stderr
