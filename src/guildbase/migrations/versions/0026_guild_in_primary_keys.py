"""guild_id in the primary and unique keys of 17 guild tables, and in every foreign key between them (R8.5).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 23:30:00.000000

A sharded PostgreSQL (Citus) enforces a key per shard, so each key of a table
distributed by guild must contain ``guild_id`` (``guildbase.scaleout``):

- each table's primary key becomes ``(<id>, guild_id)``: the id first, so the
  key's index still serves every lookup by id (the models keep their ORM
  identity on the id alone);
- the separate ``UNIQUE (guild_id, <id>)`` keys that were the targets of the
  guild-leading foreign keys (0019, 0024) are dropped: the primary key has the
  same columns, and PostgreSQL takes it as the target in either order;
- ``ticket_message`` and ``ticket_participant`` gain ``guild_id``, filled from
  their ticket, then NOT NULL with a foreign key to ``guild``;
- every foreign key between these tables includes ``guild_id``
  (ticket → panel; event, message and participant → ticket; item → integration);
- the unique keys on a ticket's channel, an option's position and a snippet's
  own name gain ``guild_id`` (a plain index keeps the lookup by channel alone).

A child row pointing at another guild's parent, which the application never
writes, fails the upgrade instead of being kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → (its primary key before, after)
KEYS: dict[str, tuple[list[str], list[str]]] = {
    "autoresponder": (["autoresponder_id"], ["autoresponder_id", "guild_id"]),
    "custom_command": (["command_id"], ["command_id", "guild_id"]),
    "integration": (["integration_id"], ["integration_id", "guild_id"]),
    "integration_item": (["integration_id", "item_id"], ["integration_id", "item_id", "guild_id"]),
    "message_filter": (["filter_id"], ["filter_id", "guild_id"]),
    "mod_case": (["case_id"], ["case_id", "guild_id"]),
    "note": (["note_id"], ["note_id", "guild_id"]),
    "permission_rule": (["rule_id"], ["rule_id", "guild_id"]),
    "poll": (["poll_id"], ["poll_id", "guild_id"]),
    "poll_option": (["option_id"], ["option_id", "guild_id"]),
    "snippet": (["snippet_id"], ["snippet_id", "guild_id"]),
    "snippet_name": (["name_id"], ["name_id", "guild_id"]),
    "ticket": (["ticket_id"], ["ticket_id", "guild_id"]),
    "ticket_event": (["event_id"], ["event_id", "guild_id"]),
    "ticket_message": (["message_id"], ["message_id", "guild_id"]),
    "ticket_panel": (["panel_id"], ["panel_id", "guild_id"]),
    "ticket_participant": (["ticket_id", "user_id"], ["ticket_id", "user_id", "guild_id"]),
}
# (table, unique key name, parent key column): the (guild_id, <id>) keys the primary key now covers
COVERED = (
    ("custom_command", "uq_custom_command_guild_id_command_id", "command_id"),
    ("poll", "uq_poll_guild_id_poll_id", "poll_id"),
    ("poll_option", "uq_poll_option_guild_id_option_id", "option_id"),
    ("snippet", "uq_snippet_guild_id_snippet_id", "snippet_id"),
)
# Guild-leading foreign keys already there, re-made on the new primary keys: (table, name, column, parent)
GUILD_LEADING = (
    ("custom_command_use", "fk_custom_command_use_command_id", "command_id", "custom_command"),
    ("poll_option", "fk_poll_option_poll_id_poll", "poll_id", "poll"),
    ("poll_vote", "fk_poll_vote_poll_id_poll", "poll_id", "poll"),
    ("poll_vote", "fk_poll_vote_option_id_poll_option", "option_id", "poll_option"),
    ("snippet_name", "fk_snippet_name_guild_id_snippet_id_snippet", "snippet_id", "snippet"),
)
# Foreign keys that gain guild_id: (table, old name, new name, column, parent)
GAINING = (
    (
        "ticket",
        "fk_ticket_panel_id_ticket_panel",
        "fk_ticket_guild_id_panel_id_ticket_panel",
        "panel_id",
        "ticket_panel",
    ),
    (
        "ticket_event",
        "fk_ticket_event_ticket_id_ticket",
        "fk_ticket_event_guild_id_ticket_id_ticket",
        "ticket_id",
        "ticket",
    ),
    (
        "ticket_message",
        "fk_ticket_message_ticket_id_ticket",
        "fk_ticket_message_guild_id_ticket_id_ticket",
        "ticket_id",
        "ticket",
    ),
    (
        "ticket_participant",
        "fk_ticket_participant_ticket_id_ticket",
        "fk_ticket_participant_guild_id_ticket_id_ticket",
        "ticket_id",
        "ticket",
    ),
    (
        "integration_item",
        "fk_integration_item_owner",
        "fk_integration_item_guild_id_integration_id_integration",
        "integration_id",
        "integration",
    ),
)
NEW_GUILD_COLUMN = ("ticket_message", "ticket_participant")


def _add_guild_column(table: str) -> None:
    op.add_column(table, sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=True))
    op.execute(
        f"UPDATE {table} AS child SET guild_id = t.guild_id FROM ticket AS t "  # noqa: S608 - constants above
        "WHERE t.ticket_id = child.ticket_id"
    )
    op.alter_column(table, "guild_id", nullable=False)
    op.create_check_constraint(op.f(f"ck_{table}_guild_id_positive"), table, "guild_id > 0")
    op.create_foreign_key(
        op.f(f"fk_{table}_guild_id_guild"), table, "guild", ["guild_id"], ["guild_id"], ondelete="CASCADE"
    )


def _swap_primary_keys(*, forward: bool) -> None:
    for table, (before, after) in KEYS.items():
        op.drop_constraint(op.f(f"pk_{table}"), table, type_="primary")
        op.create_primary_key(op.f(f"pk_{table}"), table, after if forward else before)


def upgrade() -> None:
    for table in NEW_GUILD_COLUMN:
        _add_guild_column(table)
    # Foreign keys hold on to the key they were made against: drop them before their target goes.
    for table, name, _column, _parent in GUILD_LEADING:
        op.drop_constraint(name, table, type_="foreignkey")
    for table, old, _new, _column, _parent in GAINING:
        op.drop_constraint(old, table, type_="foreignkey")
    _swap_primary_keys(forward=True)
    for table, name, _column in COVERED:
        op.drop_constraint(name, table, type_="unique")

    op.drop_index("uq_ticket_channel_id", table_name="ticket")
    op.create_index("uq_ticket_guild_id_channel_id", "ticket", ["guild_id", "channel_id"], unique=True)
    op.create_index("ix_ticket_channel_id", "ticket", ["channel_id"])
    op.drop_constraint("uq_poll_option_poll_id_position", "poll_option", type_="unique")
    op.create_unique_constraint(
        op.f("uq_poll_option_guild_id_poll_id_position"), "poll_option", ["guild_id", "poll_id", "position"]
    )
    op.drop_index("ix_snippet_name_snippet_id_own", table_name="snippet_name")
    op.create_index(
        "ix_snippet_name_guild_id_snippet_id_own",
        "snippet_name",
        ["guild_id", "snippet_id"],
        unique=True,
        postgresql_where=sa.text("NOT is_alias"),
    )

    for table, name, column, parent in GUILD_LEADING:
        op.create_foreign_key(name, table, parent, ["guild_id", column], ["guild_id", column], ondelete="CASCADE")
    for table, _old, new, column, parent in GAINING:
        op.create_foreign_key(new, table, parent, ["guild_id", column], ["guild_id", column], ondelete="CASCADE")


def downgrade() -> None:
    for table, name, _column, _parent in GUILD_LEADING:
        op.drop_constraint(name, table, type_="foreignkey")
    for table, _old, new, _column, _parent in GAINING:
        op.drop_constraint(new, table, type_="foreignkey")

    op.drop_index("ix_snippet_name_guild_id_snippet_id_own", table_name="snippet_name")
    op.create_index(
        "ix_snippet_name_snippet_id_own",
        "snippet_name",
        ["snippet_id"],
        unique=True,
        postgresql_where=sa.text("NOT is_alias"),
    )
    op.drop_constraint(op.f("uq_poll_option_guild_id_poll_id_position"), "poll_option", type_="unique")
    op.create_unique_constraint(op.f("uq_poll_option_poll_id_position"), "poll_option", ["poll_id", "position"])
    op.drop_index("ix_ticket_channel_id", table_name="ticket")
    op.drop_index("uq_ticket_guild_id_channel_id", table_name="ticket")
    op.create_index("uq_ticket_channel_id", "ticket", ["channel_id"], unique=True)

    for table, name, column in COVERED:
        op.create_unique_constraint(name, table, ["guild_id", column])
    _swap_primary_keys(forward=False)
    for table, old, _new, column, parent in GAINING:
        op.create_foreign_key(old, table, parent, [column], [column], ondelete="CASCADE")
    for table, name, column, parent in GUILD_LEADING:
        op.create_foreign_key(name, table, parent, ["guild_id", column], ["guild_id", column], ondelete="CASCADE")
    for table in reversed(NEW_GUILD_COLUMN):
        op.drop_column(table, "guild_id")  # its check and foreign key go with it
