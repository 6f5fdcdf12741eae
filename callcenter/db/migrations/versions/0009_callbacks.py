"""callbacks: kind, source_ref (unique), the pending clock's start, attempts, completion, review

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:20:00

Service-quality callbacks (回访, ``callcenter/callbacks/``): ``source_ref`` names what asked for
the callback (``task:T…``, ``complaint:7``, ``survey:<linked id>``, ``csv:…``) so planning a
day twice plans nothing twice; ``pending_since`` starts the 2-day clock once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.db.models import UTCDateTime

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('callbacks') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=24), nullable=False,
                                   server_default='service'))
        batch.add_column(sa.Column('source_ref', sa.String(length=80), nullable=True))
        batch.add_column(sa.Column('pending_since', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('next_attempt_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('completed_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('reviewed_by', sa.String(length=64), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('reviewed_at', UTCDateTime(), nullable=True))
        batch.create_unique_constraint(batch.f('uq_callbacks_source_ref'), ['source_ref'])
    op.create_index(op.f('ix_callbacks_status_planned_for'), 'callbacks',
                    ['status', 'planned_for'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_callbacks_status_planned_for'), table_name='callbacks')
    with op.batch_alter_table('callbacks') as batch:
        batch.drop_constraint(batch.f('uq_callbacks_source_ref'), type_='unique')
        for name in ('reviewed_at', 'reviewed_by', 'completed_at', 'next_attempt_at',
                     'attempts', 'pending_since', 'source_ref', 'kind'):
            batch.drop_column(name)
