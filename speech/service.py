"""Speech use cases for the web pages: search, a recording's transcript, a wrap-up pre-fill."""

from __future__ import annotations

from dataclasses import dataclass

from speech.keywords import wrapup_prefill
from speech.ports import SearchHit, TranscriptStore
from speech.transcript import Transcript, normalise_query


@dataclass(slots=True)
class SpeechService:
    """A thin facade over the transcript store. ``enabled`` False: no model, so nothing new
    is transcribed (stored transcripts stay searchable)."""

    store: TranscriptStore
    enabled: bool
    language: str
    reason: str = ""

    async def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Recordings whose transcripts contain ``query`` (Chinese substrings, English words
        case-insensitively); each hit carries the moment to seek to."""
        needle = normalise_query(query)
        return await self.store.search(needle, limit) if needle else []

    async def transcript(self, recording_token: str) -> list[Transcript]:
        return await self.store.transcripts(recording_token)

    async def prefill(self, linked_id: str) -> str:
        """A wrap-up description from the call's transcript ('' until it is transcribed)."""
        return wrapup_prefill(await self.store.transcripts_of_call(linked_id))
