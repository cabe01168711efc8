"""Guild lifecycle: join, leave, delete (per-guild numbering lives in ``db.numbering``).

The other core concepts live beside it: ``guild_config`` (settings and feature
toggles), ``members`` (membership and the per-guild blacklist) and ``blacklist``
(the global one); their controllers are re-exported here for ``database.py``.
"""

from datetime import datetime

from sqlalchemy import case, delete, func, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.blacklist import BlacklistController
from guildbase.controllers.guild_config import GuildConfigController, guild_cache_keys
from guildbase.controllers.members import MemberController
from guildbase.db.audit import locked_values, record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.validation import moment, snowflake, validate
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import (
    Guild,
    GuildBase,
    GuildConfig,
    GuildRead,
)
from guildbase.models.reminders import Reminder

__all__ = ["BlacklistController", "GuildConfigController", "GuildController", "MemberController"]


_GUILD_FIELDS = ("name", "joined_at", "left_at")
_IN_A_GUILD = text("reminder.guild_id <> 0")
"""Written out so the planner can use the partial ``ix_reminder_guild_id`` whatever the bound guild."""


class GuildController(Controller):
    """Guild lifecycle. ``join`` is idempotent and safe to call from every shard at once."""

    async def join(self, guild_id: int, *, name: str | None = None, joined_at: datetime | None = None) -> GuildRead:
        """Record that the bot is in a guild, creating its default config in the same transaction."""
        checked = validate(GuildBase, {"guild_id": guild_id, "name": name})
        when = moment("joined_at", joined_at)
        stmt = insert(Guild).values(guild_id=checked.guild_id, name=checked.name, joined_at=when)
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id"],
            set_={
                "name": func.coalesce(stmt.excluded.name, col(Guild.name)),
                "joined_at": case(
                    (col(Guild.left_at).is_not(None), stmt.excluded.joined_at), else_=col(Guild.joined_at)
                ),
                "left_at": None,
                "updated_at": func.now(),
            },
        ).returning(Guild)
        async with self._write() as session:
            before = await locked_values(session, Guild, _GUILD_FIELDS, guild_id=checked.guild_id)
            guild = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            after = {name: getattr(guild, name) for name in _GUILD_FIELDS}
            await record_audit(
                session,
                AuditAction.GUILD_JOIN,
                AuditEntity.GUILD,
                guild.guild_id,
                guild_id=guild.guild_id,
                before=before,
                after=after,
            )
            await session.execute(
                insert(GuildConfig)
                .values(guild_id=checked.guild_id, **actor_columns(GuildConfig, "insert"))
                .on_conflict_do_nothing()
            )
            return GuildRead.model_validate(guild)

    async def leave(self, guild_id: int) -> bool:
        """Mark the guild as left; its data stays until ``delete`` (or retention) removes it."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            result = await session.execute(
                update(Guild)
                .where(col(Guild.guild_id) == guild_id, col(Guild.left_at).is_(None))
                .values(left_at=func.now())
                .returning(col(Guild.left_at))
            )
            left_at = result.scalar_one_or_none()
            if left_at is None:
                return False
            await record_audit(
                session,
                AuditAction.GUILD_LEAVE,
                AuditEntity.GUILD,
                guild_id,
                guild_id=guild_id,
                before={"left_at": None},
                after={"left_at": left_at},
            )
            return True

    async def get(self, guild_id: int) -> GuildRead | None:
        """The guild, or None if the bot never joined it."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            guild = await Guild.get(session, guild_id)
            return None if guild is None else GuildRead.model_validate(guild)

    async def delete(self, guild_id: int) -> bool:
        """Delete the guild and, by cascade, every guild-scoped row; the audit log keeps the deletion."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            before = await locked_values(session, Guild, _GUILD_FIELDS, guild_id=guild_id)
            result = await session.execute(delete(Guild).where(col(Guild.guild_id) == guild_id))
            if result.rowcount:  # type: ignore[attr-defined]
                # Reminders have no foreign key to guild (DM reminders are guild 0): their cascade is here.
                await session.execute(delete(Reminder).where(col(Reminder.guild_id) == guild_id, _IN_A_GUILD))
                await record_audit(
                    session, AuditAction.GUILD_DELETE, AuditEntity.GUILD, guild_id, guild_id=guild_id, before=before
                )
            self._stale(session, *guild_cache_keys(guild_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]
