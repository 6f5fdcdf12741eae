"""reports: a counter of the call-backs requested from a queue in each KPI cell

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 14:20:00

A caller who pressed 1 in a queue and had a call-back booked ends ``callback_requested``
(``cti/call_state.py`` rule 7): neither offered, answered nor abandoned (kpi rule R11), counted
in ``report_cells.callback_requested``. Cells written before this revision hold 0: the calls
they count were stored as ``failed`` then, which tallied to nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('report_cells') as batch:
        batch.add_column(sa.Column('callback_requested', sa.Integer(), nullable=False,
                                   server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('report_cells') as batch:
        batch.drop_column('callback_requested')
