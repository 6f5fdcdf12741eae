"""callbacks: the place a queue call-back keeps (queue, arrival, priority, position, number,
and its claim by an agent)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 13:40:00

A caller who pressed 1 in a queue (``[cc-queue-exit]``, ``ivr/callback.py``) is a
``queue_callback`` whose ``source_ref`` is ``queue:<linked id>`` (one per call). These columns
keep the caller's place (``callcenter/callbacks/keep_place.py``): ``queue_arrived_at`` is when
the caller joined the queue; ``place_state`` waiting -> claimed -> done | waiting | failed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.db.models import UTCDateTime

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('claimed_at', 'claimed_by', 'place_tries', 'place_state', 'callback_number',
           'queue_position', 'queue_priority', 'queue_arrived_at', 'queue')


def upgrade() -> None:
    with op.batch_alter_table('callbacks') as batch:
        batch.add_column(sa.Column('queue', sa.String(length=24), nullable=True))
        batch.add_column(sa.Column('queue_arrived_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('queue_priority', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('queue_position', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('callback_number', sa.String(length=20), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('place_state', sa.String(length=12), nullable=True))
        batch.add_column(sa.Column('place_tries', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('claimed_by', sa.String(length=20), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('claimed_at', UTCDateTime(), nullable=True))
    op.create_index(op.f('ix_callbacks_queue_place_state'), 'callbacks',
                    ['queue', 'place_state'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_callbacks_queue_place_state'), table_name='callbacks')
    with op.batch_alter_table('callbacks') as batch:
        for name in COLUMNS:
            batch.drop_column(name)
