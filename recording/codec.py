"""Compressing recordings to Ogg/Opus and decoding them back (an adapter over opus-tools).

Why Ogg/Opus at 16 kbit/s (``bench/recordings.py``, 5 minutes of espeak-ng speech at 8 kHz mono
as Asterisk records, on the 2-core development machine under load 4): per recorded minute WAV
938 KB; MP3 (lame via ffmpeg, 16 kbit/s) 117 KB and 0.08 CPU s, but at that rate MP3 drops to
MPEG-2.5 at 8 kHz and smears speech; Opus (``--comp 10``) 117 KB and 0.91 CPU s (``--comp 5``:
0.5 s for 18 % more bytes), the whole telephone band kept at the same size. The pipeline's total is
1.13 CPU s per recorded minute (encode 0.91, verify by decoding 0.20, seal < 0.01, peaks 0.02),
off the call path on a worker. Chrome, Firefox, Edge and Safari 17+ play Ogg/Opus natively in
``<audio>``, byte ranges included, so the player needs no decoder of its own.

``opusenc`` keeps the sample count exactly (its pre-skip is trimmed by ``opusdec``), which is
what :func:`verify` checks before the original may be removed.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

from recording.errors import RecordingError

CODEC = "opus"
MEDIA_TYPE = "audio/ogg"
BITRATE_KBPS = {1: 16, 2: 24}  # mono; two channels (caller | agent)


class CodecError(RecordingError):
    """The encoder or decoder is missing, failed, or produced audio that does not match."""

    error_id = "recording_codec_error"
    status = 500


@dataclass(frozen=True, slots=True)
class PcmInfo:
    """What the original WAV holds: the numbers :func:`verify` compares."""

    channels: int
    rate: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def available() -> bool:
    """True when opus-tools (``opusenc``, ``opusdec``) are installed."""
    return shutil.which("opusenc") is not None and shutil.which("opusdec") is not None


def wav_info(path: Path) -> PcmInfo:
    """Channels, rate and frames of a PCM WAV; raises :class:`CodecError` when it is not one."""
    try:
        with wave.open(str(path), "rb") as w:
            return PcmInfo(w.getnchannels(), w.getframerate(), w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise CodecError(f"{path.name}: not a PCM WAV: {exc}") from exc


# The encoder runs at a lower CPU priority than the product's event loops: a backlog of
# recordings must never slow the IVR or the screen pops on a small machine.
NICE = ["nice", "-n", "10"] if shutil.which("nice") else []


def _run(args: list[str]) -> None:
    try:
        done = subprocess.run([*NICE, *args], capture_output=True, check=False,  # noqa: S603
                              timeout=600)
    except FileNotFoundError as exc:
        raise CodecError(f"{args[0]} is not installed (apt-get install opus-tools)") from exc
    except subprocess.TimeoutExpired as exc:
        raise CodecError(f"{args[0]} took longer than 10 minutes") from exc
    if done.returncode == 127:  # nice ran, the tool is not there
        raise CodecError(f"{args[0]} is not installed (apt-get install opus-tools)")
    if done.returncode != 0:
        raise CodecError(f"{args[0]} failed ({done.returncode}): "
                         f"{done.stderr.decode(errors='replace')[-300:]}")


def compress(src: Path, dst: Path) -> PcmInfo:
    """Encode the WAV ``src`` into Ogg/Opus ``dst`` (overwritten); returns the source's info."""
    info = wav_info(src)
    bitrate = BITRATE_KBPS.get(info.channels, 24)
    _run(["opusenc", "--quiet", "--bitrate", str(bitrate), "--comp", "10",
          str(src), str(dst)])
    return info


def decode(src: Path, dst: Path, rate: int = 16000) -> PcmInfo:
    """Decode Ogg/Opus ``src`` into a 16-bit PCM WAV ``dst`` at ``rate`` Hz."""
    _run(["opusdec", "--quiet", "--rate", str(rate), str(src), str(dst)])
    return wav_info(dst)


def verify(original: PcmInfo, encoded: Path, scratch: Path) -> PcmInfo:
    """Decode ``encoded`` (into ``scratch``, removed after) and check it holds as many frames
    and channels as the original; raises :class:`CodecError` otherwise."""
    try:
        back = decode(encoded, scratch, rate=original.rate)
    finally:
        scratch.unlink(missing_ok=True)
    tolerance = original.rate // 50  # 20 ms
    if back.channels != original.channels or abs(back.frames - original.frames) > tolerance:
        raise CodecError(f"{encoded.name}: decoded {back.channels} ch × {back.frames} frames, "
                         f"expected {original.channels} ch × {original.frames}")
    return back


def interleave(caller: Path, agent: Path, dst: Path) -> PcmInfo:
    """One two-channel WAV from MixMonitor's two legs, the caller's side (``r()``, what the
    caller's channel sends in) on the left and the agent's (``t()``) on the right, so QA and
    speech work can tell who spoke. The shorter leg is padded with silence. Raises
    :class:`CodecError` when the legs are not 16-bit PCM at one rate."""
    legs = []
    rates = set()
    for path in (caller, agent):
        try:
            with wave.open(str(path), "rb") as w:
                if w.getsampwidth() != 2 or w.getnchannels() != 1:
                    raise CodecError(f"{path.name}: a leg must be 16-bit mono PCM")
                rates.add(w.getframerate())
                legs.append(array("h", w.readframes(w.getnframes())))
        except (wave.Error, EOFError) as exc:
            raise CodecError(f"{path.name}: not a PCM WAV: {exc}") from exc
    if len(rates) != 1:
        raise CodecError(f"the legs have different rates: {sorted(rates)}")
    frames = max(len(leg) for leg in legs)
    out = array("h", bytes(4 * frames))
    for channel, leg in enumerate(legs):
        out[channel:channel + 2 * len(leg):2] = leg
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rates.pop())
        w.writeframes(out.tobytes())
    return wav_info(dst)
