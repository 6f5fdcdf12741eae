"""The vosk adapter: load a model once per process, decode PCM, translate vosk's errors.

``AcceptWaveform`` is blocking C code that holds a core for as long as the audio needs: callers
on an event loop run these functions in an executor or a separate process (the transcription
worker runs them in its own low-priority process pool, the IVR in a thread). Models are always
loaded from a directory (``Model(path)``): ``Model(lang=…)`` would download at run time, which
a closed network forbids.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speech.errors import AudioFormatError, ModelUnavailable
from speech.transcript import Transcript, transcript_from_results

logger = logging.getLogger(__name__)

# 0.25 s of 16 kHz audio per AcceptWaveform call: vosk's own examples use 4000 frames; larger
# chunks do not decode faster and delay the end-of-utterance decision of the IVR.
CHUNK_FRAMES = 4000
STEREO_CHANNELS = ("caller", "agent")  # left = caller, right = agent (MixMonitor r()/t() order)

_models: dict[str, Any] = {}
_lock = threading.Lock()


def load_model(path: str | Path) -> Any:
    """The vosk model in ``path``, loaded once per process (~300-500 MB for a small model).

    Raises :class:`ModelUnavailable` when the directory is missing, vosk is not installed or
    vosk cannot load it.
    """
    key = str(path)
    with _lock:
        if key in _models:
            return _models[key]
        if not key or not Path(key).is_dir():
            raise ModelUnavailable(key, "no such directory")
        try:
            import vosk
        except ImportError as exc:
            raise ModelUnavailable(key, "the vosk package is not installed "
                                        "(pip install 'callcenter[speech]')") from exc
        vosk.SetLogLevel(-1)  # vosk logs every decoder setting to stderr otherwise
        try:
            model = vosk.Model(key)
        except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
            raise ModelUnavailable(key, f"vosk cannot load it ({exc})") from exc
        _models[key] = model
        return model


@dataclass(frozen=True, slots=True)
class Pcm:
    """16-bit little-endian mono PCM at ``rate`` Hz."""

    rate: int
    data: bytes

    @property
    def duration(self) -> float:
        return len(self.data) / 2 / self.rate if self.rate else 0.0


def read_wav(path: str | Path) -> list[Pcm]:
    """The channels of a 16-bit PCM WAV file, one :class:`Pcm` each.

    Raises :class:`AudioFormatError` for anything else (GSM-in-WAV, 8-bit, unreadable).
    """
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2 or w.getcomptype() != "NONE":
                raise AudioFormatError(f"{path}: not 16-bit PCM WAV")
            rate, channels = w.getframerate(), w.getnchannels()
            frames = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise AudioFormatError(f"{path}: {exc}") from exc
    if channels == 1:
        return [Pcm(rate, frames)]
    samples = array("h")
    samples.frombytes(frames[: len(frames) - len(frames) % (2 * channels)])
    if sys.byteorder == "big":
        samples.byteswap()
    out: list[Pcm] = []
    for channel in range(channels):
        part = samples[channel::channels]
        if sys.byteorder == "big":
            part.byteswap()
        out.append(Pcm(rate, part.tobytes()))
    return out


def decode(model: Any, pcm: Pcm, grammar: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """vosk's results for ``pcm``: one dict per utterance (blocking; see the module docstring).

    ``grammar`` restricts the vocabulary to these phrases (vosk's grammar mode); words the
    model does not know are dropped by vosk with a warning.
    """
    import vosk

    if grammar is None:
        recognizer = vosk.KaldiRecognizer(model, pcm.rate)
    else:
        recognizer = vosk.KaldiRecognizer(model, pcm.rate,
                                          json.dumps(list(grammar), ensure_ascii=False))
    recognizer.SetWords(True)
    results: list[dict[str, Any]] = []
    step = CHUNK_FRAMES * 2
    for at in range(0, len(pcm.data), step):
        if recognizer.AcceptWaveform(pcm.data[at:at + step]):
            results.append(json.loads(recognizer.Result()))
    results.append(json.loads(recognizer.FinalResult()))
    return [r for r in results if r.get("result")]


def transcribe_file(model_dir: str | Path, path: str | Path) -> list[Transcript]:
    """Transcripts of a WAV file: one ``mixed`` transcript for mono, ``caller`` and ``agent``
    for a two-channel file. Raises :class:`ModelUnavailable`, :class:`AudioFormatError`."""
    model = load_model(model_dir)
    channels = read_wav(path)
    names = ("mixed",) if len(channels) == 1 else STEREO_CHANNELS
    return [transcript_from_results(name, decode(model, pcm), pcm.duration)
            for name, pcm in zip(names, channels, strict=False)]


def merged_json(transcripts: Sequence[Transcript]) -> dict[str, Any]:
    """The ``callcenter transcribe`` output: ``text`` and ``words`` (each ``word``, ``start``,
    ``end``, ``conf``) over all channels in time order, plus each channel's transcript."""
    words = sorted((w for t in transcripts for w in t.words), key=lambda w: (w.start, w.end))
    return {"text": " ".join(w.word for w in words),
            "words": [w.as_json() for w in words],
            "duration": max((t.duration for t in transcripts), default=0.0),
            "channels": [t.as_json() for t in transcripts]}


def model_problem(path: str | Path) -> str:
    """Why ``path`` cannot be a vosk model, without loading it ('' when it looks usable):
    the ``serve`` process checks this once, and switches speech off with one log line."""
    key = str(path)
    if not key:
        return "no model configured for this language (speech.models)"
    folder = Path(key)
    if not folder.is_dir():
        return f"model directory {key} does not exist"
    if not ((folder / "am" / "final.mdl").is_file() or (folder / "final.mdl").is_file()):
        return f"{key} is not a vosk model directory (no am/final.mdl)"
    try:
        import vosk  # noqa: F401
    except ImportError:
        return "the vosk package is not installed (pip install 'callcenter[speech]')"
    return ""
