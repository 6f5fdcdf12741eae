"""Recordings of simulated calls: one WAV file per answered call, where Asterisk would write it.

Asterisk's queue MixMonitor writes ``<monitor dir>/<caller channel Uniqueid>.wav`` (and
``<uid>-<queue>.wav`` after a blind transfer): 8 kHz, 16-bit, mono. The simulator writes the
same files so that the product's recording index and player work in demo mode. Unlike the
lab's silent recordings, these are audible: a spoken label from espeak-ng when
``/usr/bin/espeak-ng`` exists ("hotline call, queue aftersales, agent 8001"), then two tones
taking turns like a conversation. The file is written when the recording stops (the call's
hang-up or transfer), in a worker thread, capped at ``max_seconds``.

``render(duration, label)`` is pure apart from the optional espeak-ng subprocess; the
``WavRecorder`` port only schedules the writes.
"""

from __future__ import annotations

import array
import asyncio
import io
import logging
import math
import shutil
import subprocess
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from simulator.pbx import StartRecording, StopRecording

logger = logging.getLogger(__name__)

SAMPLE_RATE: Final = 8000
ESPEAK: Final = "/usr/bin/espeak-ng"
AMPLITUDE: Final = 6000


def _tone(frequency: float, seconds: float) -> array.array[int]:
    count = int(seconds * SAMPLE_RATE)
    step = 2 * math.pi * frequency / SAMPLE_RATE
    return array.array("h", (int(AMPLITUDE * math.sin(step * i)) for i in range(count)))


# Two "voices" of half a second each, tiled: building a minute of audio costs a copy, not a
# minute of sin() calls.
_CALLER_TONE: Final = _tone(440.0, 0.5)
_AGENT_TONE: Final = _tone(660.0, 0.5)
_SILENCE: Final = array.array("h", bytes(2 * SAMPLE_RATE // 4))


def conversation(seconds: float) -> array.array[int]:
    """Caller and agent tones taking turns (1.5 s and 1 s), a quarter second apart."""
    total = max(0, int(seconds * SAMPLE_RATE))
    out = array.array("h")
    turn = 0
    while len(out) < total:
        voice = _CALLER_TONE if turn % 2 == 0 else _AGENT_TONE
        out.extend(voice * (3 if turn % 2 == 0 else 2))
        out.extend(_SILENCE)
        turn += 1
    del out[total:]
    return out


def _resample(samples: array.array[int], rate: int) -> array.array[int]:
    """Linear interpolation to 8 kHz (espeak-ng speaks at 22.05 kHz)."""
    if rate == SAMPLE_RATE or not samples:
        return samples
    ratio = rate / SAMPLE_RATE
    count = int(len(samples) / ratio)
    last = len(samples) - 1
    out = array.array("h", bytes(2 * count))
    for i in range(count):
        position = i * ratio
        left = int(position)
        right = min(left + 1, last)
        fraction = position - left
        out[i] = int(samples[left] * (1 - fraction) + samples[right] * fraction)
    return out


def speech(text: str, voice: str = "en", espeak: str = ESPEAK) -> array.array[int] | None:
    """``text`` spoken by espeak-ng as 8 kHz samples, or None when espeak-ng is missing or
    fails (the recording then has tones only)."""
    if not Path(espeak).exists() and shutil.which(espeak) is None:
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed program, text passed as one argument
            [espeak, "-v", voice, "-s", "150", "--stdout", text], capture_output=True,
            timeout=10, check=True)
        with wave.open(io.BytesIO(done.stdout), "rb") as wav:
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
        logger.warning("espeak-ng failed (%s): recording without speech", exc)
        return None
    samples = array.array("h")
    samples.frombytes(raw[: len(raw) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return _resample(samples, rate)


def render(seconds: float, label: str = "", *, use_speech: bool = True) -> bytes:
    """A WAV file (bytes) of ``seconds`` seconds: the spoken label, then the conversation."""
    total = max(1, int(seconds * SAMPLE_RATE))
    samples = array.array("h")
    if label and use_speech:
        spoken = speech(label)
        if spoken is not None:
            samples.extend(spoken[:total])
    if len(samples) < total:
        samples.extend(conversation((total - len(samples)) / SAMPLE_RATE))
    if sys.byteorder == "big":
        samples.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples.tobytes())
    return buffer.getvalue()


def write_recording(path: Path, seconds: float, label: str, *, use_speech: bool = True) -> Path:
    """Write the WAV file (parents created); returns its path. Raises ``OSError``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = render(seconds, label, use_speech=use_speech)
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    temporary.replace(path)  # a reader never sees half a file
    return path


@dataclass(frozen=True, slots=True)
class _Open:
    started: float
    label: str


class WavRecorder:
    """The engine's ``RecorderPort``: remembers when each recording started, writes the file
    in a worker thread when it stops. ``written`` lists the files written so far."""

    def __init__(self, *, max_seconds: float = 1800.0, use_speech: bool = True,
                 on_written: Callable[[Path], None] | None = None) -> None:
        self.max_seconds = max_seconds
        self.use_speech = use_speech
        self.on_written = on_written
        self.written: list[Path] = []
        self._open: dict[str, _Open] = {}
        self._tasks: set[asyncio.Future[Path]] = set()

    def start(self, effect: StartRecording, now: float) -> None:
        extension = effect.interface.rsplit("/", 1)[-1].split("@")[0]
        label = f"hotline call, queue {effect.queue}, agent {extension}"
        self._open[effect.path] = _Open(now, label)

    def stop(self, effect: StopRecording, now: float) -> None:
        opened = self._open.pop(effect.path, None)
        if opened is None:
            return
        seconds = min(self.max_seconds, max(0.5, now - opened.started))
        path = Path(effect.path)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, lambda: write_recording(
            path, seconds, opened.label, use_speech=self.use_speech))
        self._tasks.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Path]) -> None:
        self._tasks.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            logger.error("recording not written: %s", exc)
            return
        path = future.result()
        self.written.append(path)
        logger.info("recording written: %s", path)
        if self.on_written is not None:
            self.on_written(path)

    async def flush(self) -> None:
        """Wait for the files being written."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
