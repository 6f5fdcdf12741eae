"""What the speech feature needs from storage and peers (implemented in
``callcenter/speech_directory.py``).

* :class:`RecordingAudio`: "give me a readable 16-bit PCM WAV of recording X". Today the
  recordings are plain WAV files under ``recording.dir``; when recordings are compressed or
  encrypted at rest, the implementation decrypts/decodes into a temporary file here and
  removes it on exit, and nothing else in this package changes.
* :class:`TranscriptStore`: the durable job queue, transcripts, search and alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from speech.keywords import KeywordHit
from speech.transcript import Transcript


@dataclass(frozen=True, slots=True)
class Job:
    """One recording to transcribe, as claimed by the worker."""

    id: int
    recording_id: int
    recording_token: str
    recording_path: str  # the stored name under the recording directory
    linked_id: str
    priority: int
    attempts: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A recording whose transcript contains the words searched for, and where."""

    recording_token: str
    linked_id: str
    channel: str
    start: float | None
    text: str


class RecordingAudio(Protocol):
    def wav(self, recording_path: str) -> AbstractAsyncContextManager[Path]:
        """A 16-bit PCM WAV file of the recording, valid inside the ``async with``.

        Raises ``FileNotFoundError`` when the recording is not there (yet)."""
        ...


class TranscriptStore(Protocol):
    async def enqueue_finished(self, now: datetime) -> int:
        """A pending job for every ended recording that has none; returns how many."""
        ...

    async def requeue_running(self, now: datetime) -> int:
        """Jobs left ``running`` by a stopped process go back to ``pending``."""
        ...

    async def claim(self, now: datetime) -> Job | None:
        """The next pending job (highest priority, then oldest), now ``running``."""
        ...

    async def save(self, job: Job, language: str, transcripts: Sequence[Transcript],
                   now: datetime) -> None:
        """Store the transcripts (replacing earlier ones) and mark the job done, atomically."""
        ...

    async def fail(self, job: Job, error: str, now: datetime) -> str:
        """Count a failed attempt; returns the job's new state (``pending`` or ``failed``)."""
        ...

    async def add_alert(self, job: Job, keywords: Sequence[str], hits: Sequence[KeywordHit],
                        now: datetime) -> None:
        """Record the alert and mark the call for QA."""
        ...

    async def transcripts(self, recording_token: str) -> list[Transcript]:
        """The stored transcripts of a recording (empty when not transcribed yet)."""
        ...

    async def transcripts_of_call(self, linked_id: str) -> list[Transcript]:
        """The stored transcripts of every recording of a call."""
        ...

    async def call_recordings(self, linked_id: str) -> list[tuple[bool, str | None]]:
        """For each recording of a call: whether it ended, and its transcription job's state
        (None before the job exists). ``speech.jobs.call_progress`` reads it."""
        ...

    async def search(self, needle: str, limit: int) -> list[SearchHit]:
        """Recordings whose transcript contains ``needle`` (as ``normalise_query`` gives it),
        newest first."""
        ...

    async def backlog(self) -> dict[str, int]:
        """Jobs per state."""
        ...
