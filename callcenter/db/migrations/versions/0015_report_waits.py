"""reports: the answered calls' waits per KPI cell, so any service-level threshold is exact

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 14:20:00

``report_cell_waits`` holds, per 15-minute cell (start, queue, agent), how many answered calls
waited each whole millisecond count (``wait_ms``, rounded up). A report counts the calls
answered within the threshold in force (``runtime_settings.service_level_s``, changeable at
run time) as ``sum(answered) where wait_ms <= threshold``, instead of the ``answered_in_sl``
counter materialized with the threshold of the day the cell was built (docs/kpi.md).

The refresher's mark is dropped, so the next refresh rebuilds every cell and fills the table
for the calls already stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.db.models import UTCDateTime

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'report_cell_waits',
        sa.Column('start', UTCDateTime(), nullable=False),
        sa.Column('queue', sa.String(length=64), nullable=False),
        sa.Column('agent_number', sa.String(length=20), nullable=False),
        sa.Column('wait_ms', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('answered', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('start', 'queue', 'agent_number', 'wait_ms',
                                name=op.f('pk_report_cell_waits')),
    )
    op.create_index('ix_report_cell_waits_day', 'report_cell_waits',
                    ['day', 'queue', 'agent_number'], unique=False)
    op.execute("DELETE FROM report_state WHERE name = 'cells'")


def downgrade() -> None:
    op.drop_index('ix_report_cell_waits_day', table_name='report_cell_waits')
    op.drop_table('report_cell_waits')
