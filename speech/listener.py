"""Spoken menu choices on vosk: :class:`ivr.ports.SpeechInput` for the FastAGI IVR.

Two ways to hear the caller, ``speech.ivr_input``:

* ``eagi`` (the default: half a second sooner, README "Speech"): the IVR runs the EAGI relay
  (``speech.eagi_relay``), which streams the audio to :class:`~speech.stream_server.
  SpeechStreamServer` in this process; it decodes as the caller speaks and decides 0.5 s
  (``speech.end_silence_ms``) after the speech ends.
* ``record_file``: the IVR records the answer with ``RECORD FILE … s=<silence>`` (whole
  seconds only) into ``record_dir`` (a directory Asterisk writes and this process reads: the
  same path on both, a shared mount when they are different machines), then
  :meth:`VoskSpeechInput.recognise` decodes it.

Both decode in grammar mode (``speech.intents``) in a thread: vosk's C decoder releases the
GIL, so the event loop keeps serving other calls. Models are loaded once, at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.ports import EagiListen, SpokenAnswer
from speech.errors import PhraseTableError, SpeechError
from speech.intents import PhraseTable, decide, parse_phrase_table
from speech.recognizer import decode, load_model, model_problem, read_wav
from speech.stream_server import SpeechStreamServer

logger = logging.getLogger(__name__)

DEFAULT_PHRASES = Path(__file__).resolve().parent / "phrases.toml"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def load_phrase_table(path: Path | None = None) -> PhraseTable:
    """The intent → phrases table (default: ``speech/phrases.toml``).

    Raises :class:`PhraseTableError` for an unreadable or malformed file."""
    source = path or DEFAULT_PHRASES
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PhraseTableError(f"{source}: {exc}") from exc
    return parse_phrase_table(data)


@dataclass(frozen=True, slots=True)
class EagiSettings:
    """EAGI mode: the relay script Asterisk runs, where the stream server listens (and the
    address Asterisk reaches it at, when different), the silence that ends an answer."""

    script: str
    host: str
    port: int
    end_silence_s: float
    advertised_host: str = ""


class SpeechSettingsLike(Protocol):
    """The ``[speech]`` settings this module reads (``callcenter.settings.SpeechSettings``)."""

    @property
    def ivr(self) -> bool: ...
    @property
    def models(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def phrases_file(self) -> str: ...
    @property
    def record_dir(self) -> str: ...
    @property
    def min_confidence(self) -> float: ...
    @property
    def listen_seconds(self) -> float: ...
    @property
    def silence_seconds(self) -> int: ...
    @property
    def ivr_input(self) -> str: ...
    @property
    def eagi_script(self) -> str: ...
    @property
    def stream_host(self) -> str: ...
    @property
    def stream_port(self) -> int: ...
    @property
    def end_silence_ms(self) -> int: ...


class VoskSpeechInput:
    """Grammar-mode recognition of a recorded answer, per menu language."""

    def __init__(self, models: Mapping[str, str], table: PhraseTable, *, record_dir: Path,
                 min_confidence: float, listen_seconds: float, silence_seconds: int,
                 eagi: EagiSettings | None = None) -> None:
        self.table = table
        self.eagi = eagi
        self.stream: SpeechStreamServer | None = None
        self.stream_port: int | None = None
        self.record_dir = record_dir
        self.min_confidence = min_confidence
        self._listen_ms = int(listen_seconds * 1000)
        self._silence_s = silence_seconds
        self.models: dict[str, str] = {}  # menu language → model directory
        for menu_lang, language in table.languages.items():
            directory = models.get(language, "")
            if not model_problem(directory) and language in table.phrases:
                self.models[menu_lang] = directory
        self._counter = itertools.count(1)

    @property
    def menu_langs(self) -> frozenset[str]:
        return frozenset(self.models)

    @property
    def listen_ms(self) -> int:
        return self._listen_ms

    @property
    def silence_s(self) -> int:
        return self._silence_s

    async def start(self) -> None:
        """Load the models (:meth:`warm`), then, in EAGI mode, start the stream server the
        relays connect to."""
        await self.warm()
        if self.eagi is not None and self.models:
            self.stream = SpeechStreamServer(
                self.table, min_confidence=self.min_confidence,
                listen_s=self._listen_ms / 1000, end_silence_s=self.eagi.end_silence_s)
            self.stream_port = await self.stream.start(self.eagi.host, self.eagi.port)
            logger.info("speech: EAGI relays stream to %s:%d", self.eagi.host, self.stream_port)

    async def stop(self) -> None:
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None

    def eagi_listen(self, unique_id: str, lang: str, intents: Sequence[str]
                    ) -> EagiListen | None:
        """In EAGI mode: the relay's arguments and the decision to await (None: RECORD FILE)."""
        directory = self.models.get(lang)
        if self.stream is None or self.eagi is None or directory is None:
            return None
        listen_id = f"{_SAFE.sub('_', unique_id)[:60]}-{next(self._counter)}"
        decision = self.stream.expect(listen_id, load_model(directory),
                                      self.table.speech_language(lang), intents)
        address = f"{self.eagi.advertised_host or self.eagi.host}:{self.stream_port}"
        return EagiListen(listen_id, f"{self.eagi.script},{address},{listen_id}", decision)

    def end_listen(self, listen_id: str) -> None:
        if self.stream is not None:
            self.stream.forget(listen_id)

    async def warm(self) -> None:
        """Load every model now (in a thread), so that no caller waits for it. A model that
        fails to load is dropped with a log line: that language keeps keys only."""
        self.record_dir.mkdir(parents=True, exist_ok=True)
        for menu_lang, directory in list(self.models.items()):
            try:
                await asyncio.to_thread(load_model, directory)
            except SpeechError as exc:
                logger.warning("speech in the IVR is off for %s: %s", menu_lang, exc)
                del self.models[menu_lang]

    def record_target(self, unique_id: str) -> str:
        """A fresh file name (no extension: RECORD FILE adds ``.wav``)."""
        name = f"ivr-{_SAFE.sub('_', unique_id)[:60]}-{next(self._counter)}"
        return str(self.record_dir / name)

    async def recognise(self, target: str, lang: str, intents: Sequence[str]) -> SpokenAnswer:
        """Decode ``target``.wav in grammar mode; never raises (an unreadable recording is
        ``silence``, so the caller falls back to the keys)."""
        directory = self.models.get(lang)
        if directory is None:
            return SpokenAnswer(None, "silence")
        language = self.table.speech_language(lang)
        grammar = self.table.grammar(language, intents)
        try:
            results = await asyncio.to_thread(self._decode, directory, f"{target}.wav", grammar)
        except SpeechError as exc:
            logger.warning("speech: %s not recognised: %s", target, exc)
            return SpokenAnswer(None, "silence")
        found = decide(results, self.table, language, intents, self.min_confidence)
        return SpokenAnswer(found.intent, found.why, found.text, found.confidence)

    @staticmethod
    def _decode(directory: str, path: str, grammar: list[str]) -> list[dict[str, object]]:
        [pcm, *_] = read_wav(path)
        return decode(load_model(directory), pcm, grammar)

    def discard(self, target: str) -> None:
        with contextlib.suppress(OSError):
            Path(f"{target}.wav").unlink()




def speech_input(settings: SpeechSettingsLike) -> VoskSpeechInput | None:
    """The IVR's speech input from the ``[speech]`` settings, or None (keys only) when
    ``speech.ivr`` is off or no menu language has a usable model (the speech wiring already
    logged why). Raises :class:`PhraseTableError` for a malformed phrases file."""
    if not settings.ivr:
        return None
    table = load_phrase_table(Path(settings.phrases_file) if settings.phrases_file else None)
    listener = VoskSpeechInput(dict(settings.models), table,
                               record_dir=Path(settings.record_dir).resolve(),
                               min_confidence=settings.min_confidence,
                               listen_seconds=settings.listen_seconds,
                               silence_seconds=settings.silence_seconds,
                               eagi=None if settings.ivr_input != "eagi" else EagiSettings(
                                   settings.eagi_script, settings.stream_host,
                                   settings.stream_port, settings.end_silence_ms / 1000))
    if not listener.menu_langs:
        return None
    logger.info("speech in the IVR (%s): %s", settings.ivr_input, ", ".join(
        f"{lang} ({listener.models[lang]})" for lang in sorted(listener.menu_langs)))
    return listener
