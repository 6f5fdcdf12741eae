"""The EAGI path without Asterisk: the real relay (``speech.eagi_relay``) reads audio from a
pipe standing in for EAGI's file descriptor 3 and streams it to the real stream server, which
decides with the real Korean model as the audio arrives."""

from __future__ import annotations

import asyncio
import os
import threading
import wave
from pathlib import Path
from typing import Any

import pytest

from speech.eagi_relay import relay
from speech.listener import load_phrase_table
from speech.recognizer import load_model
from speech.stream_server import SpeechStreamServer

KO = load_phrase_table()
INTENTS = ("repair", "install", "complaint", "status", "agent")


def pcm_of(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000
        return w.readframes(w.getnframes())


def feed(audio: bytes, seconds_of_silence: float, realtime: bool = False) -> int:
    """A pipe carrying ``audio`` then silence, written from a thread as Asterisk would (in
    20 ms frames); returns the read end. The write end closes when everything is written or
    the reader has gone."""
    read_end, write_end = os.pipe()
    data = audio + b"\0\0" * int(8000 * seconds_of_silence)

    def write() -> None:
        try:
            for at in range(0, len(data), 320):
                os.write(write_end, data[at:at + 320])
                if realtime:
                    threading.Event().wait(0.02)
        except OSError:
            pass
        finally:
            os.close(write_end)

    threading.Thread(target=write, daemon=True).start()
    return read_end


@pytest.fixture
async def server(model_dir: Path) -> Any:
    stream = SpeechStreamServer(KO, min_confidence=0.6, listen_s=6, end_silence_s=0.5)
    port = await stream.start("127.0.0.1", 0)
    yield stream, port, load_model(str(model_dir))
    await stream.stop()


async def test_a_streamed_answer_is_decided_half_a_second_after_the_speech(
        server: Any, voice: Any) -> None:
    stream, port, model = server
    decision = stream.expect("1.1-1", model, "ko", INTENTS)
    fd = feed(pcm_of(voice("상담원", rate=8000)), 3.0, realtime=True)
    try:
        sent = await asyncio.to_thread(relay, f"127.0.0.1:{port}", "1.1-1", fd)
    finally:
        os.close(fd)
    answer = await asyncio.wait_for(decision, 2)
    assert (answer.intent, answer.text) == ("agent", "상담원")
    # the relay stopped when told: well before the 3 s of trailing silence were sent
    with wave.open(str(voice("상담원", rate=8000))) as w:
        speech_bytes = 2 * w.getnframes()
    assert sent < speech_bytes + 2 * 8000 * 1.5
    assert stream.last_delay_s is not None and 0.4 < stream.last_delay_s < 1.0


async def test_a_silent_caller_is_silence(server: Any) -> None:
    stream, port, model = server
    decision = stream.expect("2.1-1", model, "ko", INTENTS)
    fd = feed(b"", 7.0)
    try:
        await asyncio.to_thread(relay, f"127.0.0.1:{port}", "2.1-1", fd)
    finally:
        os.close(fd)
    assert (await asyncio.wait_for(decision, 2)).why == "silence"


async def test_a_relay_for_an_unknown_listen_is_turned_away(server: Any) -> None:
    _, port, _ = server
    fd = feed(b"\1\0" * 8000 * 2, 0, realtime=True)
    try:
        sent = await asyncio.to_thread(relay, f"127.0.0.1:{port}", "nobody", fd)
    finally:
        os.close(fd)
    assert sent < 2 * 8000  # the server closed at once (the audio lasts 2 s)


def test_an_unreachable_server_is_an_os_error() -> None:
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(OSError):
            relay("127.0.0.1:1", "x", read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
