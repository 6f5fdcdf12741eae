"""Transcripts: words with timestamps and confidence, built from vosk's JSON results (pure).

vosk gives one result per utterance (``AcceptWaveform`` returned true, then ``FinalResult``)::

    {"result": [{"conf": 1.0, "end": 0.39, "start": 0.0, "word": "수리"}], "text": "수리"}

An utterance without words is ``{"text": ""}``. A transcript is the words of every utterance
of one channel in time order; ``text`` joins them with spaces as vosk does.

Chinese models emit words separated by spaces (``我 要 投诉``) and may split a word a caller
thinks of as one (``投 诉``). ``search_text`` therefore drops the space between two CJK
characters, so that a substring index (SQLite FTS5 trigram, PostgreSQL pg_trgm) finds ``投诉``
whatever the model's segmentation; Latin words keep their spaces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CHANNELS = ("mixed", "caller", "agent")


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word: seconds from the start of the recording, confidence 0..1."""

    word: str
    start: float
    end: float
    conf: float

    def as_json(self) -> dict[str, Any]:
        return {"word": self.word, "start": self.start, "end": self.end, "conf": self.conf}


@dataclass(frozen=True, slots=True)
class Transcript:
    """The words of one channel of one recording (``channel`` is one of ``CHANNELS``)."""

    channel: str
    words: tuple[Word, ...]
    duration: float

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)

    @property
    def search_text(self) -> str:
        return search_text(w.word for w in self.words)

    def as_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "duration": self.duration, "text": self.text,
                "words": [w.as_json() for w in self.words]}


def words_from_result(result: Mapping[str, Any], offset: float = 0.0) -> list[Word]:
    """The words of one vosk result (``offset`` seconds added to every time)."""
    words: list[Word] = []
    for item in result.get("result", ()):
        if not isinstance(item, Mapping):
            continue
        text = str(item.get("word", "")).strip()
        if not text:
            continue
        words.append(Word(word=text, start=round(float(item.get("start", 0.0)) + offset, 3),
                          end=round(float(item.get("end", 0.0)) + offset, 3),
                          conf=round(float(item.get("conf", 0.0)), 4)))
    return words


def transcript_from_results(channel: str, results: Iterable[Mapping[str, Any]],
                            duration: float) -> Transcript:
    """One channel's transcript from its vosk results, in order."""
    words: list[Word] = []
    for result in results:
        words.extend(words_from_result(result))
    return Transcript(channel=channel, words=tuple(words), duration=round(duration, 3))


def transcript_from_json(data: Mapping[str, Any]) -> Transcript:
    """The inverse of :meth:`Transcript.as_json` (stored transcripts, recorded results)."""
    words = tuple(Word(word=str(w["word"]), start=float(w["start"]), end=float(w["end"]),
                       conf=float(w["conf"])) for w in data.get("words", ()))
    return Transcript(channel=str(data.get("channel", "mixed")), words=words,
                      duration=float(data.get("duration", 0.0)))


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF)


def search_text(words: Iterable[str]) -> str:
    """Words joined for a substring index: no space between CJK words, one between others.

    >>> search_text(["我", "要", "投", "诉", "refund", "please"])
    '我要投诉 refund please'
    """
    out: list[str] = []
    for word in words:
        if out and not (_is_cjk(out[-1][-1]) and _is_cjk(word[0])):
            out.append(" ")
        out.append(word)
    return "".join(out)


def normalise_query(query: str) -> str:
    """A user's search words in the form ``search_text`` stores (CJK spaces dropped, case
    folded)."""
    return search_text(query.split()).casefold()


def locate(transcript_words: Sequence[Word], needle: str) -> float | None:
    """The start time of the first word where ``needle`` (as ``normalise_query`` gives it)
    begins, or None: the moment a search hit jumps to in the player."""
    if not needle:
        return None
    joined = ""
    starts: list[tuple[int, float]] = []
    previous = ""
    for w in transcript_words:
        if joined and not (_is_cjk(previous[-1]) and _is_cjk(w.word[0])):
            joined += " "
        starts.append((len(joined), w.start))
        joined += w.word.casefold()
        previous = w.word
    at = joined.find(needle)
    if at < 0:
        return None
    moment = starts[0][1] if starts else None
    for index, start in starts:
        if index > at:
            break
        moment = start
    return moment
