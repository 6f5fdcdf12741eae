"""speech: transcription queue, transcripts with a substring search index, keyword alerts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00

* ``transcription_jobs``: the worker's durable queue, one row per recording (claimed in
  ``(state, priority DESC, id)`` order: complaint calls first);
* ``transcripts``: words with timestamps and confidence per channel, and ``search_text``
  (CJK words joined without spaces, see ``speech.transcript.search_text``);
* ``speech_alerts``: keywords heard, the call marked for QA.

Chinese has no spaces, so a word index cannot find ``投诉`` inside ``我要投诉``: the search
index is a substring one. SQLite: an FTS5 table with the ``trigram`` tokenizer (SQLite >= 3.34)
over ``transcripts.search_text``, kept in step by triggers; it answers ``LIKE '%…%'`` from the
index for needles of 3+ characters and scans for shorter ones. PostgreSQL: ``pg_trgm`` and a
GIN index with ``gin_trgm_ops``, which serves ``ILIKE '%…%'`` the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.db.models

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = callcenter.db.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'transcription_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recording_id', sa.Integer(), nullable=False),
        sa.Column('linked_id', sa.String(length=64), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.String(length=400), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.Column('updated_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'],
                                name=op.f('fk_transcription_jobs_recording_id_recordings')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transcription_jobs')),
        sa.UniqueConstraint('recording_id', name=op.f('uq_transcription_jobs_recording_id')),
    )
    op.create_index('ix_transcription_jobs_claim', 'transcription_jobs',
                    ['state', 'priority', 'id'], unique=False)
    op.create_index(op.f('ix_transcription_jobs_linked_id'), 'transcription_jobs',
                    ['linked_id'], unique=False)
    op.create_table(
        'transcripts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('recording_id', sa.Integer(), nullable=False),
        sa.Column('linked_id', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('language', sa.String(length=16), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('search_text', sa.Text(), nullable=False),
        sa.Column('words', sa.JSON(), nullable=False),
        sa.Column('duration_s', sa.Float(), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'],
                                name=op.f('fk_transcripts_recording_id_recordings')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transcripts')),
        sa.UniqueConstraint('recording_id', 'channel',
                            name=op.f('uq_transcripts_recording_id')),
    )
    op.create_index(op.f('ix_transcripts_recording_id'), 'transcripts', ['recording_id'],
                    unique=False)
    op.create_index(op.f('ix_transcripts_linked_id'), 'transcripts', ['linked_id'], unique=False)
    op.create_table(
        'speech_alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('linked_id', sa.String(length=64), nullable=False),
        sa.Column('recording_id', sa.Integer(), nullable=False),
        sa.Column('keywords', sa.JSON(), nullable=False),
        sa.Column('hits', sa.JSON(), nullable=False),
        sa.Column('qa_pending', sa.Boolean(), nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'],
                                name=op.f('fk_speech_alerts_recording_id_recordings')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_speech_alerts')),
    )
    op.create_index(op.f('ix_speech_alerts_linked_id'), 'speech_alerts', ['linked_id'],
                    unique=False)
    op.create_index(op.f('ix_speech_alerts_qa_pending'), 'speech_alerts', ['qa_pending'],
                    unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_transcripts_search_trgm ON transcripts "
                   "USING gin (search_text gin_trgm_ops)")
    else:
        op.execute("CREATE VIRTUAL TABLE transcripts_fts USING fts5(search_text, "
                   "content='transcripts', content_rowid='id', tokenize='trigram')")
        op.execute("CREATE TRIGGER transcripts_fts_ai AFTER INSERT ON transcripts BEGIN "
                   "INSERT INTO transcripts_fts(rowid, search_text) "
                   "VALUES (new.id, new.search_text); END")
        op.execute("CREATE TRIGGER transcripts_fts_ad AFTER DELETE ON transcripts BEGIN "
                   "INSERT INTO transcripts_fts(transcripts_fts, rowid, search_text) "
                   "VALUES ('delete', old.id, old.search_text); END")
        op.execute("CREATE TRIGGER transcripts_fts_au AFTER UPDATE ON transcripts BEGIN "
                   "INSERT INTO transcripts_fts(transcripts_fts, rowid, search_text) "
                   "VALUES ('delete', old.id, old.search_text); "
                   "INSERT INTO transcripts_fts(rowid, search_text) "
                   "VALUES (new.id, new.search_text); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_transcripts_search_trgm")
    else:
        for trigger in ("transcripts_fts_ai", "transcripts_fts_ad", "transcripts_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS transcripts_fts")
    op.drop_index(op.f('ix_speech_alerts_qa_pending'), table_name='speech_alerts')
    op.drop_index(op.f('ix_speech_alerts_linked_id'), table_name='speech_alerts')
    op.drop_table('speech_alerts')
    op.drop_index(op.f('ix_transcripts_linked_id'), table_name='transcripts')
    op.drop_index(op.f('ix_transcripts_recording_id'), table_name='transcripts')
    op.drop_table('transcripts')
    op.drop_index(op.f('ix_transcription_jobs_linked_id'), table_name='transcription_jobs')
    op.drop_index('ix_transcription_jobs_claim', table_name='transcription_jobs')
    op.drop_table('transcription_jobs')
