"""Spoken menu choices (pure): the intent → phrases table, the grammar handed to vosk, and the
decision from vosk's result.

Rules:
1. The grammar of a node is the phrases of the intents it offers, plus ``[unk]`` (vosk maps
   anything else to it when the model has that word): a restricted vocabulary, so a small model
   is accurate and fast.
2. No word heard → ``silence``. Words heard but no phrase of an offered intent among them (or
   only ``[unk]``) → ``unknown``. A phrase heard with a mean word confidence below the
   threshold → ``unsure``. Otherwise the intent of the longest phrase found in what was heard.
3. Phrases are compared as the transcript search compares text: CJK spaces dropped, case
   folded (``查询 进度`` = ``查询进度``, ``Repair`` = ``repair``).
4. In a whole call's transcript (the wrap-up suggestion, :func:`intent_in_text`) the intent is
   the one whose phrase the caller said first (the reason for calling comes early); a Latin
   phrase matches whole words only (``agent`` is not in ``reagent``), a Chinese one anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from speech.errors import PhraseTableError
from speech.transcript import normalise_query, words_from_result

UNKNOWN_WORD = "[unk]"


@dataclass(frozen=True, slots=True)
class PhraseTable:
    """``languages``: menu language → speech language; ``phrases``: speech language →
    intent → phrases."""

    languages: Mapping[str, str]
    phrases: Mapping[str, Mapping[str, tuple[str, ...]]]

    def speech_language(self, menu_lang: str) -> str:
        return self.languages.get(menu_lang, "")

    def grammar(self, language: str, intents: Sequence[str]) -> list[str]:
        """Rule 1: the phrases vosk may choose from."""
        table = self.phrases.get(language, {})
        out = [p for intent in intents for p in table.get(intent, ())]
        return [*dict.fromkeys(out), UNKNOWN_WORD]


def parse_phrase_table(data: Mapping[str, Any]) -> PhraseTable:
    """The table from its TOML form (``[languages]``, ``[phrases.<language>]``).

    Raises :class:`PhraseTableError` naming the bad key."""
    languages = data.get("languages", {})
    phrases = data.get("phrases", {})
    if not isinstance(languages, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in languages.items()):
        raise PhraseTableError("[languages] must map menu languages to speech languages")
    if not isinstance(phrases, dict):
        raise PhraseTableError("[phrases] must be a table of languages")
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for language, intents in phrases.items():
        if not isinstance(intents, dict):
            raise PhraseTableError(f"[phrases.{language}] must be a table of intents")
        table[language] = {}
        for intent, items in intents.items():
            if (not isinstance(items, list) or not items
                    or not all(isinstance(p, str) and p.strip() for p in items)):
                raise PhraseTableError(
                    f"phrases.{language}.{intent} must be a non-empty list of phrases")
            table[language][intent] = tuple(p.strip() for p in items)
    unknown = set(data) - {"languages", "phrases"}
    if unknown:
        raise PhraseTableError(f"unknown table(s): {', '.join(sorted(unknown))}")
    return PhraseTable(languages=dict(languages), phrases=table)


@dataclass(frozen=True, slots=True)
class Recognition:
    """The decision: ``intent`` or None with ``why`` (``silence``, ``unknown``, ``unsure``);
    ``text`` and ``confidence`` are what was heard (for the log and the path)."""

    intent: str | None
    why: str
    text: str
    confidence: float


def decide(results: Sequence[Mapping[str, Any]], table: PhraseTable, language: str,
           intents: Sequence[str], min_confidence: float) -> Recognition:
    """Rules 2 and 3 on vosk's results for one spoken answer."""
    words = [w for r in results for w in words_from_result(r)]
    heard = [w for w in words if w.word != UNKNOWN_WORD]
    text = " ".join(w.word for w in words)
    if not words:
        return Recognition(None, "silence", "", 0.0)
    said = normalise_query(" ".join(w.word for w in heard))
    candidates = sorted(((normalise_query(p), intent)
                         for intent in intents
                         for p in table.phrases.get(language, {}).get(intent, ())),
                        key=lambda pair: -len(pair[0]))
    found = next((intent for phrase, intent in candidates if phrase and phrase in said), None)
    confidence = round(sum(w.conf for w in heard) / len(heard), 4) if heard else 0.0
    if found is None:
        return Recognition(None, "unknown", text, confidence)
    if confidence < min_confidence:
        return Recognition(None, "unsure", text, confidence)
    return Recognition(found, "", text, confidence)


def intent_in_text(table: PhraseTable, language: str, text: str) -> str | None:
    """Rule 4: the intent of the phrase that occurs first in ``text`` (a transcript's
    ``search_text``), the longer phrase on a tie; None when no phrase of ``language`` is in it."""
    said = normalise_query(text)
    best: tuple[int, int, str] | None = None
    for intent, phrases in table.phrases.get(language, {}).items():
        for phrase in phrases:
            needle = normalise_query(phrase)
            if not needle:
                continue
            found = re.search(rf"(?<![^\W_]){re.escape(needle)}(?![^\W_])", said) \
                if needle.isascii() else re.search(re.escape(needle), said)
            if found is not None:
                key = (found.start(), -len(needle), intent)
                best = key if best is None or key < best else best
    return best[2] if best is not None else None
