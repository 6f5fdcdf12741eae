"""teams: the team (班组) of each account, for the team lead's own-team views

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 13:45:00

A team lead sees the reports, staffing and roster of its own team's agents only
(``callcenter/team_directory.py``); an account without a row has no team.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'team_members',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('team', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_team_members_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_team_members')),
    )
    op.create_index(op.f('ix_team_members_team'), 'team_members', ['team'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_team_members_team'), table_name='team_members')
    op.drop_table('team_members')
