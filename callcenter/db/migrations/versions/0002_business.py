"""business records: task dispositions, call links, number counters, outbox leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00

What the business package (``callcenter.business``) needs beyond the initial schema:

* ``tasks.disposition`` / ``tasks.department``: the wrap-up that created the record;
* ``task_calls``: every call recorded on or linked to a task, one per call (unique linked id);
* ``task_counters``: the per-day sequence behind ``RP20261122-0001``;
* ``outbox.lease_owner`` / ``give_up_at`` / ``dead_at``: claims with a lease, the 3-day window;
* ``complaints.second_line_at``: when the second line had the complaint ticket.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import callcenter.db.models

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('task_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('linked_id', sa.String(length=64), nullable=False),
    sa.Column('agent_number', sa.String(length=20), nullable=False),
    sa.Column('relation', sa.String(length=10), nullable=False),
    sa.Column('at', callcenter.db.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_calls_task_id_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_calls')),
    sa.UniqueConstraint('linked_id', name=op.f('uq_task_calls_linked_id'))
    )
    with op.batch_alter_table('task_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_calls_task_id'), ['task_id'], unique=False)

    op.create_table('task_counters',
    sa.Column('key', sa.String(length=16), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_task_counters'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disposition', sa.String(length=32), server_default='', nullable=False))
        batch_op.add_column(sa.Column('department', sa.String(length=64), server_default='', nullable=False))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('give_up_at', callcenter.db.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('dead_at', callcenter.db.models.UTCDateTime(), nullable=True))

    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('second_line_at', callcenter.db.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_column('second_line_at')

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('dead_at')
        batch_op.drop_column('give_up_at')
        batch_op.drop_column('lease_owner')

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('department')
        batch_op.drop_column('disposition')

    op.drop_table('task_counters')
    with op.batch_alter_table('task_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_calls_task_id'))

    op.drop_table('task_calls')
