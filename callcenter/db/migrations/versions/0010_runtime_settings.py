"""run-time settings changed in /admin; unsaved wrap-ups kept across restarts

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 13:30:00

``runtime_settings`` holds the thresholds, targets, business hours and holidays an
administrator changed in the browser (``callcenter.runtime_settings``): a key that is not
there keeps the value of the files. ``unsaved_wrapups`` is the desk's list of calls whose
wrap-up is not saved yet and the deadline of the after-call work that holds the agent
(``cti.agent_state`` rule 12), so a restart of the product keeps both.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.db.models import UTCDateTime

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'runtime_settings',
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('updated_by', sa.String(length=64), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('key', name='pk_runtime_settings'),
    )
    op.create_table(
        'unsaved_wrapups',
        sa.Column('agent_number', sa.String(length=20), nullable=False),
        sa.Column('linked_id', sa.String(length=64), nullable=False),
        sa.Column('interface', sa.String(length=100), nullable=False),
        sa.Column('due_at', UTCDateTime(), nullable=False),
        sa.Column('held_until', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('agent_number', 'linked_id', name='pk_unsaved_wrapups'),
    )


def downgrade() -> None:
    op.drop_table('unsaved_wrapups')
    op.drop_table('runtime_settings')
