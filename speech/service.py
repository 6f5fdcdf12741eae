"""Speech use cases for the web pages: search, a recording's transcript, a wrap-up pre-fill."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from speech.intents import PhraseTable, intent_in_text
from speech.jobs import call_progress
from speech.keywords import WrapupSuggestion, wrapup_suggestion
from speech.ports import SearchHit, TranscriptStore
from speech.transcript import Transcript, normalise_query

EMPTY_TABLE = PhraseTable(languages={}, phrases={})


@dataclass(frozen=True, slots=True)
class Prefill:
    """A call's wrap-up suggestion and where its transcription stands: ``ready`` (transcribed),
    ``pending`` (recording or transcription still under way: ask again later), ``none`` (no
    recording, or it could not be transcribed) or ``off`` (speech has no model here)."""

    status: str
    suggestion: WrapupSuggestion

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "description": self.suggestion.description,
                "keywords": list(self.suggestion.keywords), "intent": self.suggestion.intent}


@dataclass(slots=True)
class SpeechService:
    """A thin facade over the transcript store. ``enabled`` False: no model, so nothing new
    is transcribed (stored transcripts stay searchable). ``keywords`` are the alert words and
    ``phrases`` the IVR's spoken phrases, both read again in a wrap-up's transcript."""

    store: TranscriptStore
    enabled: bool
    language: str
    reason: str = ""
    keywords: tuple[str, ...] = ()
    phrases: PhraseTable = field(default=EMPTY_TABLE)

    async def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Recordings whose transcripts contain ``query`` (Chinese substrings, English words
        case-insensitively); each hit carries the moment to seek to."""
        needle = normalise_query(query)
        return await self.store.search(needle, limit) if needle else []

    async def transcript(self, recording_token: str) -> list[Transcript]:
        return await self.store.transcripts(recording_token)

    async def prefill(self, linked_id: str) -> Prefill:
        """The wrap-up suggestion from the call's transcript (empty until it is transcribed)
        and the transcription's status (see :class:`Prefill`)."""
        transcripts = await self.store.transcripts_of_call(linked_id)
        suggestion = wrapup_suggestion(
            transcripts, self.keywords,
            lambda text: intent_in_text(self.phrases, self.language, text))
        if transcripts:
            return Prefill("ready", suggestion)
        progress = call_progress(await self.store.call_recordings(linked_id))
        if progress == "pending" and not self.enabled:
            progress = "off"  # no model: nothing here will transcribe it
        return Prefill("none" if progress == "done" else progress, suggestion)
