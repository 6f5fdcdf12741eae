"""agents.state_interface: the device each agent's queue membership follows

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00

The CTI adds an agent to its queues with ``QueueAdd … StateInterface: <device>``; Asterisk
never rings a member whose device is invalid or unavailable. Until now every
``Local/<digits>@…`` interface got ``PJSIP/<digits>``, not configurable. NULL keeps that (the
``[ami] state_interface`` template), an empty string means no StateInterface (the member
follows its own interface), anything else is the device to follow.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('agents') as batch:
        batch.add_column(sa.Column('state_interface', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agents') as batch:
        batch.drop_column('state_interface')
