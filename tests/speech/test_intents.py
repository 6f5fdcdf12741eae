"""The spoken-choice decision (pure), on recorded results of the Korean vosk model in grammar
mode (espeak-ng utterances, 16 kHz unless noted), and the phrase table."""

from __future__ import annotations

from typing import Any

import pytest

from speech.errors import PhraseTableError
from speech.intents import UNKNOWN_WORD, decide, intent_in_text, parse_phrase_table
from speech.jobs import call_progress
from speech.listener import load_phrase_table

TABLE = load_phrase_table()
INTENTS = ("repair", "install", "complaint", "status", "agent")


def _result(*words: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"result": [{"word": w, "conf": c, "start": 0.1 * i, "end": 0.1 * i + 0.1}
                        for i, (w, c) in enumerate(words)],
             "text": " ".join(w for w, _ in words)}]


@pytest.mark.parametrize(("recorded", "intent", "why"), [
    (_result(("수리", 1.0)), "repair", ""),                          # "수리"
    (_result(("상담원", 0.86)), "agent", ""),                        # "상담원" at 8 kHz
    (_result(("진행", 1.0), ("상황", 1.0), ("조회", 1.0), ("조회", 1.0)), "status", ""),
    (_result(("수리", 0.544913)), None, "unsure"),                   # "설치" heard as 수리
    ([], None, "silence"),                                           # nothing said
    (_result((UNKNOWN_WORD, 1.0)), None, "unknown"),
    (_result(("민원", 1.0)), None, "unknown"),  # complaint, but this node does not offer it
])
def test_decision_on_recorded_korean_results(recorded: list[dict[str, Any]],
                                             intent: str | None, why: str) -> None:
    offered = INTENTS if recorded != _result(("민원", 1.0)) else ("repair", "agent")
    found = decide(recorded, TABLE, "ko", offered, min_confidence=0.6)
    assert (found.intent, found.why) == (intent, why)


def test_chinese_phrases_match_whatever_the_segmentation() -> None:
    heard = _result(("我", 0.9), ("要", 0.9), ("查询", 0.9), ("进度", 0.9))
    assert decide(heard, TABLE, "zh-CN", INTENTS, 0.6).intent == "status"
    assert decide(_result(("转", 0.8), ("人工", 0.8)), TABLE, "zh-CN", INTENTS, 0.6).intent == "agent"
    assert decide(_result(("Repair", 0.9)), TABLE, "en", INTENTS, 0.6).intent == "repair"


def test_grammar_is_the_offered_phrases_and_unk() -> None:
    assert TABLE.grammar("ko", ("repair", "agent")) == ["수리", "상담원", UNKNOWN_WORD]
    assert TABLE.speech_language("zh") == "zh-CN" and TABLE.speech_language("en") == "en"
    assert set(TABLE.phrases["zh-CN"]["complaint"]) == {"投诉"}


@pytest.mark.parametrize(("data", "error"), [
    ({"phrases": {"ko": {"repair": []}}}, "phrases.ko.repair"),
    ({"phrases": {"ko": "수리"}}, r"\[phrases.ko\]"),
    ({"languages": {"zh": 1}}, "languages"),
    ({"phrase": {}}, "unknown table"),
])
def test_a_malformed_table_is_refused_by_name(data: dict[str, Any], error: str) -> None:
    with pytest.raises(PhraseTableError, match=error):
        parse_phrase_table(data)


@pytest.mark.parametrize(("language", "text", "intent"), [
    ("zh-CN", "我的刷卡机坏了要报修上次维修太慢我要投诉", "repair"),  # 报修 comes first
    ("zh-CN", "我要投诉你们的维修", "complaint"),
    ("zh-CN", "我 要 查询 进度", "status"),  # the model's word segmentation does not matter
    ("zh-CN", "你好请问营业时间", None),
    ("en", "I want to check progress on my repair", "status"),
    ("en", "the REAGENT is broken", "repair"),  # whole words: 'agent' is not in 'reagent'
    ("en", "hello", None),
    ("fr", "réparation", None),  # no phrases for that language
])
def test_the_intent_of_a_whole_call_is_the_first_phrase_the_caller_said(
        language: str, text: str, intent: str | None) -> None:
    assert intent_in_text(TABLE, language, text) == intent


@pytest.mark.parametrize(("recordings", "progress"), [
    ([], "none"),
    ([(False, None)], "pending"),          # still recording
    ([(True, None)], "pending"),           # ended, its job not made yet
    ([(True, "running")], "pending"),
    ([(True, "done"), (True, "pending")], "pending"),
    ([(True, "done")], "done"),
    ([(True, "done"), (True, "failed")], "done"),
    ([(True, "failed")], "none"),
])
def test_a_calls_transcription_is_pending_until_every_recording_is_settled(
        recordings: list[tuple[bool, str | None]], progress: str) -> None:
    assert call_progress(recordings) == progress
