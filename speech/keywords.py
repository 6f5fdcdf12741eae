"""Keyword alerts (pure): which configured words a call's transcripts contain, and where.

Rules:
1. A keyword matches as a substring of a channel's search text (``投诉`` inside ``我要投诉``,
   whatever the model's word segmentation), case folded: the same rule as transcript search.
2. A call raises one alert listing every keyword heard; each hit keeps the channel and the
   moment of the first occurrence, so the supervisor's player can jump there.
3. No keyword heard, no alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from speech.transcript import Transcript, locate, normalise_query


@dataclass(frozen=True, slots=True)
class KeywordHit:
    """``keyword`` first heard on ``channel`` at ``start`` seconds."""

    keyword: str
    channel: str
    start: float

    def as_json(self) -> dict[str, Any]:
        return {"keyword": self.keyword, "channel": self.channel, "start": self.start}


def find_keywords(transcripts: Sequence[Transcript], keywords: Sequence[str]
                  ) -> list[KeywordHit]:
    """Every (keyword, channel) heard, in keyword order then channel order."""
    hits: list[KeywordHit] = []
    for keyword in keywords:
        needle = normalise_query(keyword)
        for transcript in transcripts:
            moment = locate(transcript.words, needle)
            if moment is not None:
                hits.append(KeywordHit(keyword, transcript.channel, moment))
    return hits


def alert_message(linked_id: str, recording: str, hits: Sequence[KeywordHit]
                  ) -> dict[str, Any]:
    """The supervisors' alert on the ``wallboard`` topic (one per call with hits)."""
    return {"type": "speech_alert", "linked_id": linked_id, "recording": recording,
            "keywords": sorted({h.keyword for h in hits}),
            "hits": [h.as_json() for h in hits], "qa": True}


def wrapup_prefill(transcripts: Sequence[Transcript], limit: int = 400) -> str:
    """A description the agent can edit in the wrap-up: what the caller said (the mixed
    transcript when the recording has one channel), cut to the wrap-up field's length."""
    by_channel = {t.channel: t for t in transcripts}
    source = by_channel.get("caller") or by_channel.get("mixed")
    if source is None:
        return ""
    text = source.search_text
    return text if len(text) <= limit else text[: limit - 1] + "…"
