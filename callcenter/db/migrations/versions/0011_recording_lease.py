"""recordings: a lease on the storage pipeline's rows; recording playback in the audit log

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 13:20:00

* ``recordings.claimed_by``, ``recordings.lease_until``: several ``serve`` processes may run
  the storage pipeline (``recording.pipeline``). Each claims a recording in one conditional
  UPDATE (only when the row is unclaimed or its lease has run out), renews the lease with every
  committed step and commits a step only while it still holds it. A claimer that crashed leaves
  a lease that runs out; another process then resumes the row at its committed stage.
* ``recording_access`` is folded into ``audit_log`` (one place and one query for who listened
  to what, see ``callcenter.recording_directory.StoreAccessLog``): each row becomes an entry
  ``recording.<action>`` by the user, target the recording's token, the call, role, user id and
  byte range in ``details``; the table is dropped. ``ix_audit_log_target_at`` answers "who heard
  this recording". The downgrade moves those entries back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from callcenter.db.models import UTCDateTime

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
ACTIONS = {"play": "recording.play", "download": "recording.download",
           "peaks": "recording.peaks"}

AUDIT = sa.table('audit_log', sa.column('id', sa.Integer()), sa.column('at', UTCDateTime()),
                 sa.column('actor', sa.String()), sa.column('action', sa.String()),
                 sa.column('target', sa.String()), sa.column('details', sa.JSON()))


def _access_table() -> sa.TableClause:
    return sa.table('recording_access', sa.column('id', sa.Integer()),
                    sa.column('recording_token', sa.String()), sa.column('linked_id', sa.String()),
                    sa.column('user_id', sa.Integer()), sa.column('username', sa.String()),
                    sa.column('role', sa.String()), sa.column('action', sa.String()),
                    sa.column('range_start', sa.Integer()), sa.column('range_end', sa.Integer()),
                    sa.column('at', UTCDateTime()))


def upgrade() -> None:
    with op.batch_alter_table('recordings') as batch:
        batch.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('lease_until', UTCDateTime(), nullable=True))
    op.create_index('ix_audit_log_target_at', 'audit_log', ['target', 'at'], unique=False)
    bind = op.get_bind()
    access = _access_table()
    last = 0
    while True:  # in id order, a batch at a time: the table may hold years of plays
        rows = bind.execute(sa.select(access).where(access.c.id > last)
                            .order_by(access.c.id).limit(BATCH)).all()
        if not rows:
            break
        bind.execute(AUDIT.insert(), [{
            "at": r.at, "actor": r.username[:64],
            "action": ACTIONS.get(r.action, f"recording.{r.action}")[:40],
            "target": r.recording_token,
            "details": {"linked_id": r.linked_id, "role": r.role, "user_id": r.user_id,
                        "range": [r.range_start, r.range_end]}} for r in rows])
        last = rows[-1].id
    op.drop_index(op.f('ix_recording_access_at'), table_name='recording_access')
    op.drop_index(op.f('ix_recording_access_recording_token'), table_name='recording_access')
    op.drop_table('recording_access')


def downgrade() -> None:
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
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_access')),
    )
    op.create_index(op.f('ix_recording_access_recording_token'), 'recording_access',
                    ['recording_token'], unique=False)
    op.create_index(op.f('ix_recording_access_at'), 'recording_access', ['at'], unique=False)
    bind = op.get_bind()
    back = {v: k for k, v in ACTIONS.items()}
    entries = bind.execute(sa.select(AUDIT).where(AUDIT.c.action.in_(list(back)))
                           .order_by(AUDIT.c.id)).all()
    if entries:
        rows: list[dict[str, Any]] = []
        for e in entries:
            details = e.details or {}
            span = details.get("range") or [None, None]
            rows.append({"recording_token": e.target[:40],
                         "linked_id": str(details.get("linked_id", ""))[:64],
                         "user_id": details.get("user_id"), "username": e.actor,
                         "role": str(details.get("role", ""))[:20], "action": back[e.action],
                         "range_start": span[0], "range_end": span[1], "at": e.at})
        bind.execute(_access_table().insert(), rows)
        bind.execute(AUDIT.delete().where(AUDIT.c.action.in_(list(back))))
    op.drop_index('ix_audit_log_target_at', table_name='audit_log')
    with op.batch_alter_table('recordings') as batch:
        batch.drop_column('lease_until')
        batch.drop_column('claimed_by')
