"""Recordings: audible 8 kHz 16-bit mono WAV files named after the caller's Uniqueid."""

from __future__ import annotations

import array
import asyncio
import io
import wave
from pathlib import Path

import pytest

from simulator.pbx import StartRecording, StopRecording
from simulator.recordings import ESPEAK, WavRecorder, render, speech


def _read(data: bytes) -> tuple[wave._wave_params, array.array[int]]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        params = wav.getparams()
        samples = array.array("h", wav.readframes(wav.getnframes()))
    return params, samples


def test_a_recording_is_8khz_16bit_mono_of_the_calls_length() -> None:
    params, samples = _read(render(12.5, use_speech=False))
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 8000)
    assert params.nframes == 100_000
    assert max(samples) > 1000  # audible, unlike the lab's silent files


@pytest.mark.skipif(not Path(ESPEAK).exists(), reason="espeak-ng is not installed")
def test_the_label_is_spoken_when_espeak_ng_exists() -> None:
    spoken = speech("hotline call, queue aftersales, agent 8001")
    assert spoken is not None and len(spoken) > 8000  # more than a second of speech
    params, _ = _read(render(10, "hotline call, queue aftersales, agent 8001"))
    assert params.nframes == 80_000


def test_without_espeak_ng_the_recording_has_tones_only(tmp_path: Path) -> None:
    assert speech("hello", espeak=str(tmp_path / "no-espeak")) is None


async def test_the_recorder_writes_the_file_where_asterisk_reports_it(tmp_path: Path) -> None:
    written: list[Path] = []
    recorder = WavRecorder(use_speech=False, on_written=written.append)
    path = str(tmp_path / "monitor" / "1795330137.1.wav")
    recorder.start(StartRecording("c1", path, "aftersales", "PJSIP/8001"), now=100.0)
    recorder.stop(StopRecording("c1", path), now=111.8)
    await recorder.flush()
    assert written == [Path(path)]
    params, _ = _read(await asyncio.to_thread(Path(path).read_bytes))
    assert params.nframes == pytest.approx(11.8 * 8000, abs=1)
    assert not list((tmp_path / "monitor").glob("*.part"))


async def test_a_recording_is_capped(tmp_path: Path) -> None:
    recorder = WavRecorder(use_speech=False, max_seconds=2.0)
    path = str(tmp_path / "long.wav")
    recorder.start(StartRecording("c1", path, "aftersales", "PJSIP/8001"), now=0.0)
    recorder.stop(StopRecording("c1", path), now=3600.0)
    await recorder.flush()
    assert _read(await asyncio.to_thread(Path(path).read_bytes))[0].nframes == 16_000
