"""recordings: storage pipeline stage, index columns, access audit, purge log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 08:30:00

* ``recordings``: the storage pipeline's stage and retry (``recording.pipeline_state``); the
  stored file, codec, key id, plaintext size, checksum, duration and waveform peaks; the call
  facts copied at indexing (agent, queue, merchant, caller) with keyset indexes for the search;
  ``retain_until`` for the retention purge.
* ``recording_access``: who played or downloaded which recording and range.
* ``recording_purges``: what the retention purge deleted.
* ``qa_assignments`` and the new ``qa_reviews`` columns: quality inspection (sampled calls,
  versioned score sheets, the agent's acknowledgement or dispute).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.db.models

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = callcenter.db.models.UTCDateTime

NEW_COLUMNS = [
    sa.Column('stage', sa.String(length=16), server_default='new', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('retry_at', UTC(), nullable=True),
    sa.Column('last_error', sa.Text(), server_default='', nullable=False),
    sa.Column('stored_path', sa.String(length=400), server_default='', nullable=False),
    sa.Column('codec', sa.String(length=16), server_default='', nullable=False),
    sa.Column('channels', sa.Integer(), server_default='1', nullable=False),
    sa.Column('key_id', sa.String(length=16), server_default='', nullable=False),
    sa.Column('plain_size', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), server_default='', nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('peaks', sa.JSON(), nullable=True),
    sa.Column('agent_number', sa.String(length=20), server_default='', nullable=False),
    sa.Column('queue', sa.String(length=64), server_default='', nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=True),
    sa.Column('caller_number', sa.String(length=40), server_default='', nullable=False),
    sa.Column('indexed_at', UTC(), nullable=True),
    sa.Column('retain_until', UTC(), nullable=True),
]

INDEXES = [
    ('ix_recordings_started_id', ['started_at', 'id']),
    ('ix_recordings_agent_duration', ['agent_number', 'duration_s', 'id']),
    ('ix_recordings_merchant_started', ['merchant_id', 'started_at', 'id']),
    ('ix_recordings_queue_started', ['queue', 'started_at', 'id']),
    ('ix_recordings_caller_started', ['caller_number', 'started_at', 'id']),
    ('ix_recordings_duration_id', ['duration_s', 'id']),
    ('ix_recordings_stage_retry', ['stage', 'retry_at']),
]


QA_REVIEW_COLUMNS = [
    sa.Column('assignment_id', sa.Integer(), nullable=True),
    sa.Column('recording_token', sa.String(length=40), server_default='', nullable=False),
    sa.Column('form_version', sa.String(length=40), server_default='', nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('superseded', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('correction_reason', sa.String(length=400), server_default='', nullable=False),
    sa.Column('agent_answer', sa.String(length=20), server_default='', nullable=False),
    sa.Column('agent_answer_note', sa.String(length=400), server_default='', nullable=False),
    sa.Column('agent_answer_at', UTC(), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table('recordings') as batch:
        for column in NEW_COLUMNS:
            batch.add_column(column)
    for name, columns in INDEXES:
        op.create_index(name, 'recordings', columns, unique=False)
    op.create_index('ix_recordings_agent_started', 'recordings',
                    ['agent_number', 'started_at', 'id'], unique=False,
                    postgresql_include=['linked_id'])
    op.create_table('recording_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_token', sa.String(length=40), nullable=False),
    sa.Column('linked_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('range_start', sa.Integer(), nullable=True),
    sa.Column('range_end', sa.Integer(), nullable=True),
    sa.Column('at', UTC(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_access')),
    )
    op.create_index(op.f('ix_recording_access_recording_token'), 'recording_access',
                    ['recording_token'], unique=False)
    op.create_index(op.f('ix_recording_access_at'), 'recording_access', ['at'], unique=False)
    op.create_table('recording_purges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_token', sa.String(length=40), nullable=False),
    sa.Column('linked_id', sa.String(length=64), nullable=False),
    sa.Column('stored_path', sa.String(length=400), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('started_at', UTC(), nullable=True),
    sa.Column('retain_until', UTC(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('purged_at', UTC(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_purges')),
    )
    op.create_index(op.f('ix_recording_purges_linked_id'), 'recording_purges', ['linked_id'],
                    unique=False)
    op.create_index(op.f('ix_recording_purges_purged_at'), 'recording_purges', ['purged_at'],
                    unique=False)
    with op.batch_alter_table('qa_reviews') as batch:
        for column in QA_REVIEW_COLUMNS:
            batch.add_column(column)
    op.create_index(op.f('ix_qa_reviews_assignment_id'), 'qa_reviews', ['assignment_id'],
                    unique=False)
    op.create_table('qa_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('recording_token', sa.String(length=40), nullable=False),
    sa.Column('linked_id', sa.String(length=64), nullable=False),
    sa.Column('agent_number', sa.String(length=20), nullable=False),
    sa.Column('reviewer', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTC(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_qa_assignments')),
    sa.UniqueConstraint('recording_id', name=op.f('uq_qa_assignments_recording_id')),
    )
    for column in ('linked_id', 'agent_number', 'reviewer', 'day'):
        op.create_index(op.f(f'ix_qa_assignments_{column}'), 'qa_assignments', [column],
                        unique=False)


def downgrade() -> None:
    op.drop_table('qa_assignments')
    op.drop_index(op.f('ix_qa_reviews_assignment_id'), table_name='qa_reviews')
    with op.batch_alter_table('qa_reviews') as batch:
        for column in reversed(QA_REVIEW_COLUMNS):
            batch.drop_column(column.name)
    op.drop_table('recording_purges')
    op.drop_table('recording_access')
    op.drop_index('ix_recordings_agent_started', table_name='recordings')
    for name, _ in INDEXES:
        op.drop_index(name, table_name='recordings')
    with op.batch_alter_table('recordings') as batch:
        for column in reversed(NEW_COLUMNS):
            batch.drop_column(column.name)
