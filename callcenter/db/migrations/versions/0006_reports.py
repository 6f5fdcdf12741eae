"""reports: KPI cells per 15 minutes x queue x agent, the refresher's marks, calls.ended_at index,
rosters and shift swaps

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:40:00

``report_cells`` holds one additive KPI tally per 15-minute interval, queue and agent, kept up
to date as calls end (``callcenter/reports_store.py``), so a month's report sums a few
thousand rows instead of scanning the calls. ``ix_calls_ended_at`` lets the refresher find the
calls that ended since its last run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.db.models import UTCDateTime

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("calls", "ivr_only", "offered", "answered", "abandoned", "short_abandoned",
            "answered_in_sl")
SUMS = ("wait_answered_s", "wait_abandoned_s", "talk_s", "acw_s")
MORE = ("transferred", "wrapped_up", "surveyed", "satisfaction_sum", "satisfied", "contacts",
        "repeats")


def upgrade() -> None:
    op.create_index(op.f('ix_calls_ended_at'), 'calls', ['ended_at'], unique=False)
    op.create_table(
        'report_cells',
        sa.Column('start', UTCDateTime(), nullable=False),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('agent_number', sa.String(length=20), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        *(sa.Column(n, sa.Integer(), nullable=False) for n in COUNTERS),
        *(sa.Column(n, sa.Float(), nullable=False) for n in SUMS),
        *(sa.Column(n, sa.Integer(), nullable=False) for n in MORE),
        sa.PrimaryKeyConstraint('start', 'queue', 'agent_number', name=op.f('pk_report_cells')),
    )
    op.create_index('ix_report_cells_day', 'report_cells', ['day', 'queue', 'agent_number'],
                    unique=False)
    op.create_table(
        'report_state',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_report_state')),
    )
    op.create_table(
        'rosters',
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('roster_csv', sa.Text(), nullable=False),
        sa.Column('leave_csv', sa.Text(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('month', name=op.f('pk_rosters')),
    )
    op.create_table(
        'roster_swaps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('agent_a', sa.String(length=20), nullable=False),
        sa.Column('agent_b', sa.String(length=20), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('decided_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_swaps')),
    )
    op.create_index(op.f('ix_roster_swaps_month'), 'roster_swaps', ['month'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_roster_swaps_month'), table_name='roster_swaps')
    op.drop_table('roster_swaps')
    op.drop_table('rosters')
    op.drop_table('report_state')
    op.drop_index('ix_report_cells_day', table_name='report_cells')
    op.drop_table('report_cells')
    op.drop_index(op.f('ix_calls_ended_at'), table_name='calls')
