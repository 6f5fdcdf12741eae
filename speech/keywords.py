"""Keyword alerts (pure): which configured words a call's transcripts contain, and where.

Rules:
1. A keyword matches as a substring of a channel's search text (``投诉`` inside ``我要投诉``,
   whatever the model's word segmentation), case folded: the same rule as transcript search.
2. A call raises one alert listing every keyword heard; each hit keeps the channel and the
   moment of the first occurrence, so the supervisor's player can jump there.
3. No keyword heard, no alert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


# The wrap-up description's limit (callcenter.business.wrapup.DESCRIPTION_MAX, the domain's
# "description of at most 200 characters"): a longer suggestion could not be saved as it is.
DESCRIPTION_LIMIT = 200


def caller_words(transcripts: Sequence[Transcript]) -> Transcript | None:
    """What the caller said: the caller channel, else the mixed one (one-channel recordings)."""
    by_channel = {t.channel: t for t in transcripts}
    return by_channel.get("caller") or by_channel.get("mixed")


def wrapup_prefill(transcripts: Sequence[Transcript], limit: int = DESCRIPTION_LIMIT) -> str:
    """A description the agent can edit in the wrap-up: what the caller said (the mixed
    transcript when the recording has one channel), cut to the wrap-up field's length."""
    source = caller_words(transcripts)
    if source is None:
        return ""
    text = source.search_text
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class WrapupSuggestion:
    """What a call's transcript suggests for its wrap-up, for the agent to accept or change:
    a ``description`` (the caller's words), the alert ``keywords`` heard (in the configured
    order) and the ``intent`` of the first phrase of the IVR's phrase table the caller said."""

    description: str
    keywords: tuple[str, ...]
    intent: str | None


def wrapup_suggestion(transcripts: Sequence[Transcript], keywords: Sequence[str],
                      intent_of: Callable[[str], str | None],
                      limit: int = DESCRIPTION_LIMIT) -> WrapupSuggestion:
    """The suggestion from the caller's words (rule 1 for the keywords); ``intent_of`` reads
    an intent from text (``speech.intents.intent_in_text`` bound to the phrase table)."""
    source = caller_words(transcripts)
    if source is None:
        return WrapupSuggestion("", (), None)
    heard = tuple(dict.fromkeys(h.keyword for h in find_keywords([source], keywords)))
    return WrapupSuggestion(wrapup_prefill([source], limit), heard,
                            intent_of(source.search_text))
