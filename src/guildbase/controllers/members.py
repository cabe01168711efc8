"""Users as members of guilds, and the guild-level member blacklist."""

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.audit import locked_values, record_audit
from guildbase.db.validation import flag, optional_text, snowflake, validate
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import (
    REASON_MAX_LENGTH,
    DiscordUser,
    Member,
    MemberBase,
    MemberRead,
)

__all__ = ["MemberController"]


_BLACKLIST_FIELDS = ("is_blacklisted", "blacklist_reason")


class MemberController(Controller):
    """Users as members of guilds, and the guild-level member blacklist."""

    async def ensure(self, guild_id: int, user_id: int, *, is_bot: bool = False) -> MemberRead:
        """Record (or re-record after a leave) a member; safe under concurrent calls."""
        checked = validate(MemberBase, {"guild_id": guild_id, "user_id": user_id})
        is_bot = flag("is_bot", is_bot)
        async with self._write() as session:
            await session.execute(
                insert(DiscordUser).values(user_id=checked.user_id, is_bot=is_bot).on_conflict_do_nothing()
            )
            stmt = insert(Member).values(guild_id=checked.guild_id, user_id=checked.user_id)
            upsert = stmt.on_conflict_do_update(
                index_elements=["guild_id", "user_id"],
                set_={
                    "left_at": None,
                    "joined_at": case((col(Member.left_at).is_not(None), func.now()), else_=col(Member.joined_at)),
                },
            ).returning(Member)
            member = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            return MemberRead.model_validate(member)

    async def get(self, guild_id: int, user_id: int) -> MemberRead | None:
        """The member, or None if never seen."""
        key = (snowflake("guild_id", guild_id), snowflake("user_id", user_id))
        async with self._write() as session:
            member = await Member.get(session, key)
            return None if member is None else MemberRead.model_validate(member)

    async def leave(self, guild_id: int, user_id: int) -> bool:
        """Mark a member as gone; per-guild data stays (levels survive a rejoin)."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        async with self._write() as session:
            result = await session.execute(
                update(Member)
                .where(col(Member.guild_id) == guild_id, col(Member.user_id) == user_id, col(Member.left_at).is_(None))
                .values(left_at=func.now(), updated_at=func.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_blacklisted(
        self, guild_id: int, user_id: int, *, blacklisted: bool, reason: str | None = None
    ) -> MemberRead:
        """Block (or unblock) a user from using the bot in one guild."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        blacklisted = flag("blacklisted", blacklisted)
        reason = optional_text("reason", reason, max_length=REASON_MAX_LENGTH)
        checked = MemberBase(guild_id=guild_id, user_id=user_id, is_blacklisted=blacklisted, blacklist_reason=reason)
        async with self._write() as session:
            await session.execute(insert(DiscordUser).values(user_id=checked.user_id).on_conflict_do_nothing())
            before = await locked_values(session, Member, _BLACKLIST_FIELDS, guild_id=guild_id, user_id=user_id)
            stmt = insert(Member).values(
                guild_id=checked.guild_id,
                user_id=checked.user_id,
                is_blacklisted=blacklisted,
                blacklist_reason=checked.blacklist_reason if blacklisted else None,
            )
            upsert = stmt.on_conflict_do_update(
                index_elements=["guild_id", "user_id"],
                set_={
                    "is_blacklisted": stmt.excluded.is_blacklisted,
                    "blacklist_reason": stmt.excluded.blacklist_reason,
                    "updated_at": func.now(),
                },
            ).returning(Member)
            member = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            await record_audit(
                session,
                AuditAction.MEMBER_BLACKLIST,
                AuditEntity.MEMBER,
                user_id,
                guild_id=guild_id,
                before=before or {"is_blacklisted": False},
                after={name: getattr(member, name) for name in _BLACKLIST_FIELDS},
                reason=reason,
            )
            return MemberRead.model_validate(member)

    async def is_blacklisted(self, guild_id: int, user_id: int) -> bool:
        """Whether the user is blocked in this guild (the global blacklist is separate)."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        async with self._write() as session:
            stmt = select(
                exists().where(
                    col(Member.guild_id) == guild_id, col(Member.user_id) == user_id, col(Member.is_blacklisted)
                )
            )
            return bool((await session.execute(stmt)).scalar_one())

    async def count(self, guild_id: int) -> int:
        """Members currently in the guild."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._read() as session:
            stmt = (
                select(func.count())
                .select_from(Member)
                .where(col(Member.guild_id) == guild_id, col(Member.left_at).is_(None))
            )
            return int((await session.execute(stmt)).scalar_one())
