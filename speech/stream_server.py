"""The speech stream server: EAGI relays (``speech.eagi_relay``) stream callers' audio here,
and it decides as the audio arrives.

Wire format (one connection per spoken answer)::

    relay → server   LISTEN <listen id>\\n   then raw 8 kHz 16-bit little-endian mono audio
    server → relay   DONE\\n                  when decided (then the server closes)

The IVR registers a listen (:meth:`SpeechStreamServer.expect`) before it starts the relay and
awaits the decision. The decision comes when vosk's endpoint fires after speech, or after
``end_silence_s`` of energy-detected silence following speech (vosk 0.3.45 cannot shorten its
own endpoint), or after ``listen_s`` of audio or of wall time (then what was heard is decided
on). Decoding runs
in a thread per chunk: vosk's C code releases the GIL, so the event loop keeps serving calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr.ports import SpokenAnswer
from speech.intents import PhraseTable, decide

logger = logging.getLogger(__name__)

RATE = 8000
CHUNK_BYTES = 1600  # 100 ms: the decision granularity of the energy endpoint
VOICED_RMS = 300.0  # 16-bit samples; Asterisk's own silence threshold (dsp.conf) is 256
HEADER_TIMEOUT_S = 5.0


def rms(chunk: bytes) -> float:
    samples = array("h")
    samples.frombytes(chunk[: len(chunk) - len(chunk) % 2])
    if not samples:
        return 0.0
    return float((sum(s * s for s in samples) / len(samples)) ** 0.5)


@dataclass(slots=True)
class _Listen:
    model: Any
    language: str
    intents: tuple[str, ...]
    decided: asyncio.Future[SpokenAnswer]
    grammar: list[str] = field(default_factory=list)


class SpeechStreamServer:
    """Decides spoken answers streamed by EAGI relays (see the module docstring)."""

    def __init__(self, table: PhraseTable, *, min_confidence: float, listen_s: float,
                 end_silence_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table
        self.min_confidence = min_confidence
        self.listen_s = listen_s
        self.end_silence_s = end_silence_s
        self.clock = clock
        self.pending: dict[str, _Listen] = {}
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[Any]] = set()
        self.last_delay_s: float | None = None  # end of speech → decision, of the last listen

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._handle, host, port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        # Python 3.11's wait_closed does not wait for the connection handlers: end them here.
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        for listen in self.pending.values():
            if not listen.decided.done():
                listen.decided.set_result(SpokenAnswer(None, "silence"))

    def expect(self, listen_id: str, model: Any, language: str,
               intents: Sequence[str]) -> asyncio.Future[SpokenAnswer]:
        """Register a listen; the future resolves with the decision (``silence`` when the
        relay never comes or sends nothing)."""
        decided: asyncio.Future[SpokenAnswer] = asyncio.get_running_loop().create_future()
        self.pending[listen_id] = _Listen(model, language, tuple(intents), decided,
                                          self.table.grammar(language, intents))
        return decided

    def forget(self, listen_id: str) -> None:
        listen = self.pending.pop(listen_id, None)
        if listen is not None and not listen.decided.done():
            listen.decided.set_result(SpokenAnswer(None, "silence"))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
            task.add_done_callback(self.handlers.discard)
        try:
            async with asyncio.timeout(HEADER_TIMEOUT_S):
                line = await reader.readline()
            word, _, listen_id = line.decode("ascii", "replace").strip().partition(" ")
            listen = self.pending.get(listen_id) if word == "LISTEN" else None
            if listen is None:
                logger.warning("speech stream: unexpected header %r", line[:80])
                return
            answer = await self._decide(listen, reader)
            if not listen.decided.done():
                listen.decided.set_result(answer)
            writer.write(b"DONE\n")
            await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            logger.info("speech stream: relay connection ended: %s", exc)
        except asyncio.CancelledError:
            # stop() ends the handler; asyncio's server callback would log a cancelled
            # handler task as an error (Python 3.11), so it ends normally instead.
            return
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _decide(self, listen: _Listen, reader: asyncio.StreamReader) -> SpokenAnswer:
        import vosk

        recognizer = await asyncio.to_thread(
            vosk.KaldiRecognizer, listen.model, RATE,
            json.dumps(listen.grammar, ensure_ascii=False))
        recognizer.SetWords(True)
        received = 0.0
        speech_end: float | None = None
        silent = 0.0
        results: list[dict[str, Any]] = []
        # Bounded in audio and in wall time: a channel may stop sending frames altogether.
        deadline = asyncio.get_running_loop().time() + self.listen_s
        while received < self.listen_s:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await reader.readexactly(CHUNK_BYTES)
            except asyncio.IncompleteReadError as partial:
                chunk = partial.partial
            except TimeoutError:
                break
            if not chunk:
                break
            received += len(chunk) / (2 * RATE)
            if rms(chunk) > VOICED_RMS:
                speech_end, silent = self.clock(), 0.0
            else:
                silent += len(chunk) / (2 * RATE)
            if await asyncio.to_thread(recognizer.AcceptWaveform, chunk) and speech_end:
                results.append(json.loads(recognizer.Result()))
                break
            if speech_end is not None and silent >= self.end_silence_s:
                break
            if len(chunk) < CHUNK_BYTES:
                break
        if not results:
            results.append(json.loads(await asyncio.to_thread(recognizer.FinalResult)))
        found = decide(results, self.table, listen.language, listen.intents,
                       self.min_confidence)
        if speech_end is not None:
            self.last_delay_s = self.clock() - speech_end
            logger.info("speech: decided %s %.0f ms after the end of speech",
                        found.intent or found.why, 1000 * self.last_delay_s)
        return SpokenAnswer(found.intent, found.why, found.text, found.confidence)
