"""Guild-leading foreign keys for custom-command uses, poll options and votes (R8.5, co-location by guild).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 20:10:00.000000

A sharded PostgreSQL keeps a parent and its children on one shard only when
their foreign key contains the distribution column (``guildbase.scaleout``).
Each parent gains a unique key ``(guild_id, <id>)`` and each child's foreign
key becomes ``(guild_id, <id>)`` under its old name; a child row can no longer
point at another guild's parent, which the application never did.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (parent table, parent key column, unique key name)
PARENTS = (
    ("custom_command", "command_id", "uq_custom_command_guild_id_command_id"),
    ("poll", "poll_id", "uq_poll_guild_id_poll_id"),
    ("poll_option", "option_id", "uq_poll_option_guild_id_option_id"),
)
# (child table, foreign key name, column, parent table)
CHILDREN = (
    ("custom_command_use", "fk_custom_command_use_command_id", "command_id", "custom_command"),
    ("poll_option", "fk_poll_option_poll_id_poll", "poll_id", "poll"),
    ("poll_vote", "fk_poll_vote_poll_id_poll", "poll_id", "poll"),
    ("poll_vote", "fk_poll_vote_option_id_poll_option", "option_id", "poll_option"),
)


def upgrade() -> None:
    for table, column, name in PARENTS:
        op.create_unique_constraint(name, table, ["guild_id", column])
    for table, name, column, parent in CHILDREN:
        op.drop_constraint(name, table, type_="foreignkey")
        op.create_foreign_key(name, table, parent, ["guild_id", column], ["guild_id", column], ondelete="CASCADE")


def downgrade() -> None:
    for table, name, column, parent in CHILDREN:
        op.drop_constraint(name, table, type_="foreignkey")
        op.create_foreign_key(name, table, parent, [column], [column], ondelete="CASCADE")
    for table, _column, name in reversed(PARENTS):
        op.drop_constraint(name, table, type_="unique")
