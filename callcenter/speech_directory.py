"""The speech feature's ports on the product's database and recording directory.

Search runs on the substring index the 0004 migration made: on SQLite the FTS5 ``trigram``
table ``transcripts_fts`` (``LIKE`` is answered from the index for needles of 3+ characters),
on PostgreSQL ``pg_trgm``'s GIN index (``ILIKE``). Both find Chinese inside Chinese text with
no word boundaries, and English words case-insensitively. A needle of one or two characters
(``投诉``) has no trigram: PostgreSQL then reads the whole GIN index, SQLite scans the column.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import exists, func, select, text, update

from callcenter.db.models import (
    CallRow,
    ComplaintRow,
    RecordingRow,
    SpeechAlertRow,
    TranscriptionJobRow,
    TranscriptRow,
)
from callcenter.db.repositories import Store
from recording.paths import resolve
from speech.jobs import JobState, priority_of, state_after_failure
from speech.keywords import KeywordHit
from speech.ports import Job, SearchHit
from speech.transcript import Transcript, locate, transcript_from_json

TRIGRAM = 3


class PlainWavRecordings:
    """:class:`speech.ports.RecordingAudio` on the plain WAV files under ``recording.dir``.

    Where recordings become compressed or encrypted at rest, this is the one place to
    decrypt/decode into a temporary WAV (and delete it when the ``async with`` ends)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @asynccontextmanager
    async def wav(self, recording_path: str) -> AsyncIterator[Path]:
        path = resolve(self.root, recording_path)
        if not path.is_file():
            raise FileNotFoundError(f"recording file missing: {recording_path}")
        yield path


def _job(job: TranscriptionJobRow, rec: RecordingRow) -> Job:
    return Job(id=job.id, recording_id=rec.id, recording_token=rec.token,
               recording_path=rec.path, linked_id=job.linked_id, priority=job.priority,
               attempts=job.attempts)


class SqlTranscriptStore:
    """:class:`speech.ports.TranscriptStore` on SQLite or PostgreSQL."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def enqueue_finished(self, now: datetime) -> int:
        async with self.store.transaction() as s:
            rows = (await s.execute(
                select(RecordingRow, CallRow.queue, CallRow.intent)
                .outerjoin(CallRow, CallRow.linked_id == RecordingRow.linked_id)
                .where(RecordingRow.ended_at.is_not(None),
                       ~exists().where(TranscriptionJobRow.recording_id == RecordingRow.id))
                .order_by(RecordingRow.id).limit(500))).all()
            for rec, queue, intent in rows:
                complaint = await s.scalar(select(exists().where(
                    ComplaintRow.linked_id == rec.linked_id)))
                s.add(TranscriptionJobRow(
                    recording_id=rec.id, linked_id=rec.linked_id,
                    priority=priority_of(queue=queue or "", intent=intent or "",
                                         has_complaint=bool(complaint)),
                    state=JobState.PENDING, attempts=0, error="", created_at=now,
                    updated_at=now))
            return len(rows)

    async def requeue_running(self, now: datetime) -> int:
        async with self.store.transaction() as s:
            result = await s.execute(
                update(TranscriptionJobRow)
                .where(TranscriptionJobRow.state == JobState.RUNNING)
                .values(state=JobState.PENDING, updated_at=now))
            return int(getattr(result, "rowcount", 0) or 0)

    async def claim(self, now: datetime) -> Job | None:
        async with self.store.transaction() as s:
            query = (select(TranscriptionJobRow, RecordingRow)
                     .join(RecordingRow, RecordingRow.id == TranscriptionJobRow.recording_id)
                     .where(TranscriptionJobRow.state == JobState.PENDING)
                     .order_by(TranscriptionJobRow.priority.desc(), TranscriptionJobRow.id)
                     .limit(1))
            if s.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=TranscriptionJobRow)
            found = (await s.execute(query)).first()
            if found is None:
                return None
            job, rec = found
            job.state = JobState.RUNNING
            job.updated_at = now
            return _job(job, rec)

    async def save(self, job: Job, language: str, transcripts: Sequence[Transcript],
                   now: datetime) -> None:
        async with self.store.transaction() as s:
            for old in await s.scalars(select(TranscriptRow).where(
                    TranscriptRow.recording_id == job.recording_id)):
                await s.delete(old)
            await s.flush()
            for t in transcripts:
                data = t.as_json()
                s.add(TranscriptRow(recording_id=job.recording_id, linked_id=job.linked_id,
                                    channel=t.channel, language=language, text=t.text,
                                    search_text=t.search_text, words=data["words"],
                                    duration_s=t.duration, created_at=now))
            await s.execute(update(TranscriptionJobRow)
                            .where(TranscriptionJobRow.id == job.id)
                            .values(state=JobState.DONE, error="", updated_at=now))

    async def fail(self, job: Job, error: str, now: datetime) -> str:
        state = state_after_failure(job.attempts + 1)
        async with self.store.transaction() as s:
            await s.execute(update(TranscriptionJobRow)
                            .where(TranscriptionJobRow.id == job.id)
                            .values(state=state, attempts=job.attempts + 1,
                                    error=error[:400], updated_at=now))
        return str(state)

    async def add_alert(self, job: Job, keywords: Sequence[str], hits: Sequence[KeywordHit],
                        now: datetime) -> None:
        async with self.store.transaction() as s:
            s.add(SpeechAlertRow(linked_id=job.linked_id, recording_id=job.recording_id,
                                 keywords=list(keywords), hits=[h.as_json() for h in hits],
                                 qa_pending=True, created_at=now))

    async def transcripts(self, recording_token: str) -> list[Transcript]:
        async with self.store.transaction() as s:
            rows = await s.scalars(
                select(TranscriptRow).join(RecordingRow,
                                           RecordingRow.id == TranscriptRow.recording_id)
                .where(RecordingRow.token == recording_token).order_by(TranscriptRow.id))
            return [_transcript(r) for r in rows]

    async def transcripts_of_call(self, linked_id: str) -> list[Transcript]:
        async with self.store.transaction() as s:
            rows = await s.scalars(select(TranscriptRow)
                                   .where(TranscriptRow.linked_id == linked_id)
                                   .order_by(TranscriptRow.id))
            return [_transcript(r) for r in rows]

    async def call_recordings(self, linked_id: str) -> list[tuple[bool, str | None]]:
        async with self.store.transaction() as s:
            rows = await s.execute(
                select(RecordingRow.ended_at, TranscriptionJobRow.state)
                .outerjoin(TranscriptionJobRow,
                           TranscriptionJobRow.recording_id == RecordingRow.id)
                .where(RecordingRow.linked_id == linked_id).order_by(RecordingRow.id))
            return [(ended is not None, state) for ended, state in rows.all()]

    async def search(self, needle: str, limit: int) -> list[SearchHit]:
        # LIKE wildcards typed by a user are taken literally by dropping them: the index
        # answers substrings, and '%' or '_' never occur in a transcript.
        needle = needle.replace("%", "").replace("_", "")
        if not needle:
            return []
        pattern = f"%{needle}%"
        async with self.store.transaction() as s:
            if s.get_bind().dialect.name == "postgresql":
                ids = select(TranscriptRow.id).where(TranscriptRow.search_text.ilike(pattern))
            elif len(needle) < TRIGRAM:
                # FTS5's trigram index matches nothing for a needle shorter than a trigram
                # (a two-character Chinese word): scan the column instead (LIKE is case-
                # insensitive for ASCII on SQLite).
                ids = select(TranscriptRow.id).where(TranscriptRow.search_text.like(pattern))
            else:
                ids = select(text("rowid")).select_from(text("transcripts_fts")).where(
                    text("search_text LIKE :pattern")).params(pattern=pattern)
            rows = (await s.execute(
                select(TranscriptRow, RecordingRow.token)
                .join(RecordingRow, RecordingRow.id == TranscriptRow.recording_id)
                .where(TranscriptRow.id.in_(ids))
                .order_by(TranscriptRow.id.desc()).limit(limit))).all()
            hits = []
            for row, token in rows:
                transcript = _transcript(row)
                hits.append(SearchHit(recording_token=token, linked_id=row.linked_id,
                                      channel=row.channel,
                                      start=locate(transcript.words, needle),
                                      text=row.search_text[:200]))
            return hits

    async def backlog(self) -> dict[str, int]:
        async with self.store.transaction() as s:
            rows = await s.execute(select(TranscriptionJobRow.state, func.count())
                                   .group_by(TranscriptionJobRow.state))
            return {state: int(count) for state, count in rows.all()}


def _transcript(row: TranscriptRow) -> Transcript:
    return transcript_from_json({"channel": row.channel, "duration": row.duration_s,
                                 "words": row.words})
