"""guild_id in the keys of the event trails, the logs, the audit log and reminders (R8.5, distributable by guild).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 23:40:00.000000

A table distributed by ``guild_id`` (``guildbase.scaleout``) needs it in its
primary key and on every row:

- the partitioned trails (``guild_event``, ``invite_use``, ``permission_check``,
  ``reaction_event``, ``voice_event``, ``voice_session``) and ``command_log``:
  the key becomes ``(<id>, <time>, guild_id)``, the id first so the key's index
  still serves lookups by id. ``ALTER`` on a partitioned table reaches every
  partition, and the ones ``partition_ensure`` / ``command_log_ensure_partition``
  create later take the parent's key;
- ``audit_log``, ``command_log`` and ``reminder`` had a nullable ``guild_id``
  (global changes, DM commands, DM reminders): it becomes ``NOT NULL DEFAULT 0``
  (guild 0, a shard of its own; ``db.types.GuildKeyType``), its check
  ``>= 0`` instead of ``> 0``, and the NULLs become 0. ``audit_log`` and
  ``reminder`` key on ``(<id>, guild_id)``;
- ``reminder`` loses its foreign key to ``guild`` (there is no guild 0): the
  controllers keep what it did (``models/reminders.py``); its partial index on
  ``guild_id`` skips guild 0 instead of NULL.

The downgrade restores the previous schema exactly: 0 becomes NULL again, and
reminders whose guild is gone (which the cascade would have deleted) are
deleted before the foreign key returns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, primary key before, without guild_id)
KEYS = (
    ("guild_event", ("event_id", "occurred_at")),
    ("invite_use", ("use_id", "joined_at")),
    ("permission_check", ("check_id", "checked_at")),
    ("reaction_event", ("event_id", "occurred_at")),
    ("voice_event", ("event_id", "occurred_at")),
    ("voice_session", ("session_id", "started_at")),
    ("command_log", ("log_id", "created_at")),
    ("audit_log", ("audit_id",)),
    ("reminder", ("reminder_id",)),
)
NO_GUILD_TABLES = ("audit_log", "command_log", "reminder")
"""Tables whose rows of no guild move from NULL to guild 0."""


def _key(table: str, columns: Sequence[str]) -> None:
    op.drop_constraint(op.f(f"pk_{table}"), table, type_="primary")
    op.create_primary_key(op.f(f"pk_{table}"), table, list(columns))


def upgrade() -> None:
    op.drop_constraint(op.f("fk_reminder_guild_id_guild"), "reminder", type_="foreignkey")
    op.drop_index(op.f("ix_reminder_guild_id"), table_name="reminder")
    for table in NO_GUILD_TABLES:
        op.drop_constraint(op.f(f"ck_{table}_guild_id_positive"), table, type_="check")
        op.execute(f"UPDATE {table} SET guild_id = 0 WHERE guild_id IS NULL")  # noqa: S608 - constant names
        op.alter_column(table, "guild_id", server_default=sa.text("0"), nullable=False)
        op.create_check_constraint(op.f(f"ck_{table}_guild_id_not_negative"), table, "guild_id >= 0")
    op.create_index(op.f("ix_reminder_guild_id"), "reminder", ["guild_id"], postgresql_where="guild_id <> 0")
    for table, columns in KEYS:
        _key(table, [*columns, "guild_id"])


def downgrade() -> None:
    for table, columns in reversed(KEYS):
        _key(table, columns)
    op.drop_index(op.f("ix_reminder_guild_id"), table_name="reminder")
    for table in reversed(NO_GUILD_TABLES):
        op.drop_constraint(op.f(f"ck_{table}_guild_id_not_negative"), table, type_="check")
        op.alter_column(table, "guild_id", server_default=None, nullable=True)
        op.execute(f"UPDATE {table} SET guild_id = NULL WHERE guild_id = 0")  # noqa: S608 - constant names
        op.create_check_constraint(op.f(f"ck_{table}_guild_id_positive"), table, "guild_id > 0")
    op.create_index(op.f("ix_reminder_guild_id"), "reminder", ["guild_id"], postgresql_where="guild_id IS NOT NULL")
    # What the cascade would have done: a reminder of a guild deleted by hand (not by guilds.delete) goes.
    op.execute(
        "DELETE FROM reminder AS r WHERE r.guild_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM guild AS g WHERE g.guild_id = r.guild_id)"
    )
    op.create_foreign_key(
        op.f("fk_reminder_guild_id_guild"), "reminder", "guild", ["guild_id"], ["guild_id"], ondelete="CASCADE"
    )
