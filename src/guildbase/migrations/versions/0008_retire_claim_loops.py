"""Drop the claim columns and due indexes of the retired ``claim_due`` loops.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:30:00.000000

Expiry and delivery have one way now: the job runner, whose ``job`` rows carry
the lease, the fence and the retry budget. ``mod_case.claimed_at`` and
``reminder.claimed_until`` were the leases of the two hand-rolled loops
(``db.cases.claim_due``, ``db.reminders.claim_due``), and ``ix_mod_case_due`` /
``ix_reminder_due`` served only their scans. Nothing writes or reads them.

The downgrade recreates the columns empty (no loop holds a lease across a
downgrade) and the partial indexes as 0002 and 0003 made them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASE_DUE = "status = 'active' AND processed_at IS NULL AND expires_at IS NOT NULL"
REMINDER_DUE = "status = 'pending'"


def upgrade() -> None:
    op.drop_index("ix_mod_case_due", table_name="mod_case", postgresql_where=sa.text(CASE_DUE))
    op.drop_column("mod_case", "claimed_at")
    op.drop_index("ix_reminder_due", table_name="reminder", postgresql_where=sa.text(REMINDER_DUE))
    op.drop_column("reminder", "claimed_until")


def downgrade() -> None:
    op.add_column("reminder", sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_index("ix_reminder_due", "reminder", ["remind_at"], postgresql_where=sa.text(REMINDER_DUE))
    op.add_column("mod_case", sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_index("ix_mod_case_due", "mod_case", ["expires_at"], postgresql_where=sa.text(CASE_DUE))
