"""recordings: a lease on the storage pipeline's rows (claimed_by, lease_until)

Revision ID: 0011_recording_lease
Revises: 0009
Create Date: 2026-12-02 13:20:00

Several ``serve`` processes may run the storage pipeline (``recording.pipeline``): each claims
a recording by setting ``claimed_by`` and ``lease_until`` in one conditional UPDATE (only when
the row is unclaimed or its lease has run out), renews the lease with every committed step and
commits a step only while it still holds it. A claimer that crashed leaves a lease that runs
out; another process then resumes the row at its committed stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callcenter.db.models import UTCDateTime

revision: str = '0011_recording_lease'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('recordings') as batch:
        batch.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('lease_until', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('recordings') as batch:
        batch.drop_column('lease_until')
        batch.drop_column('claimed_by')
