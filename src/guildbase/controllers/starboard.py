"""Starboard rules: board settings, idempotent stars and unstars, entries and their posts."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import RowMapping, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.features import gated
from guildbase.db.audit import locked_values, record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.validation import changes_of, optional_snowflake, snowflake, validate
from guildbase.errors import NotFoundError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import Feature
from guildbase.models.starboard import (
    Starboard,
    StarboardEntry,
    StarboardEntryRead,
    StarboardRead,
    StarboardStar,
    StarboardUpdate,
    StarChange,
)

__all__ = ["StarboardController"]

# Both statements change `starboard_star` and move `star_count` by exactly the
# number of star rows they changed, in one statement (one snapshot, row locks
# on the entry), so the cached count always equals the rows under concurrency.
# A star that is refused (self-star, ignored channel) or repeated changes
# nothing; its result reports the entry's current count from the snapshot.
_ADD_STAR_SQL = text("""
WITH board AS (
    SELECT b.threshold,
           (b.is_self_star_allowed OR CAST(:user_id AS bigint) <> CAST(:author_id AS bigint))
               AND NOT (:channel_id = ANY (b.ignored_channel_ids)) AS is_accepted
    FROM starboard AS b
    WHERE b.guild_id = :guild_id
), star AS (
    INSERT INTO starboard_star (guild_id, message_id, user_id)
    SELECT :guild_id, :message_id, :user_id FROM board WHERE board.is_accepted
    ON CONFLICT DO NOTHING
    RETURNING 1
), entry AS (
    INSERT INTO starboard_entry AS e (guild_id, message_id, channel_id, author_id, star_count)
    SELECT :guild_id, :message_id, :channel_id, :author_id, 1 WHERE EXISTS (SELECT FROM star)
    ON CONFLICT (guild_id, message_id) DO UPDATE
    SET star_count = e.star_count + 1, updated_at = now()
    RETURNING e.star_count, e.posted_message_id
)
SELECT board.threshold,
       coalesce(entry.star_count, current.star_count, 0) AS star_count,
       coalesce(entry.star_count - 1, current.star_count, 0) AS previous_count,
       coalesce(entry.posted_message_id, current.posted_message_id) AS posted_message_id
FROM board
LEFT JOIN entry ON true
LEFT JOIN starboard_entry AS current ON current.guild_id = :guild_id AND current.message_id = :message_id
""")

_REMOVE_STAR_SQL = text("""
WITH board AS (
    SELECT b.threshold FROM starboard AS b WHERE b.guild_id = :guild_id
), star AS (
    DELETE FROM starboard_star
    WHERE guild_id = :guild_id AND message_id = :message_id AND user_id = :user_id
    RETURNING 1
), entry AS (
    UPDATE starboard_entry AS e
    SET star_count = e.star_count - 1, updated_at = now()
    WHERE e.guild_id = :guild_id AND e.message_id = :message_id AND EXISTS (SELECT FROM star)
    RETURNING e.star_count, e.posted_message_id
)
SELECT board.threshold,
       coalesce(entry.star_count, current.star_count, 0) AS star_count,
       coalesce(entry.star_count + 1, current.star_count, 0) AS previous_count,
       coalesce(entry.posted_message_id, current.posted_message_id) AS posted_message_id
FROM board
LEFT JOIN entry ON true
LEFT JOIN starboard_entry AS current ON current.guild_id = :guild_id AND current.message_id = :message_id
""")


async def _audit(session: AsyncSession, guild_id: int, before: dict[str, Any], after: dict[str, Any]) -> None:
    await record_audit(
        session,
        AuditAction.STARBOARD_CONFIG,
        AuditEntity.STARBOARD,
        guild_id,
        guild_id=guild_id,
        before=before,
        after=after,
    )


class StarboardController(Controller):
    """A guild's starboard: settings, stars (idempotent, race-free counts) and posted entries."""

    async def configure(
        self, guild_id: int, changes: StarboardUpdate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> StarboardRead:
        """Create or change the board; ``channel_id`` is required when creating it."""
        guild_id = snowflake("guild_id", guild_id)
        given = changes_of(changes, StarboardUpdate) | fields
        checked = validate(StarboardUpdate, given)
        values = checked.model_dump(include=set(given))
        if "channel_id" not in values:  # a change to an existing board: an INSERT would need the channel
            change = (
                update(Starboard)
                .where(col(Starboard.guild_id) == guild_id)
                .values(**values, **actor_columns(Starboard, "update"))
                .returning(Starboard)
            )
            async with self._write() as session:
                before = await locked_values(session, Starboard, values, guild_id=guild_id)
                row = (await session.scalars(change, execution_options={"populate_existing": True})).one_or_none()
                if row is None:
                    raise ValidationError.single("channel_id", "missing", "is required to create a starboard")
                await _audit(session, guild_id, before, {name: getattr(row, name) for name in values})
                return StarboardRead.model_validate(row)
        stmt = insert(Starboard).values(guild_id=guild_id, **values, **actor_columns(Starboard, "insert"))
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id"],
            set_={
                **{name: stmt.excluded[name] for name in values},
                **actor_columns(Starboard, "update"),
                "updated_at": func.now(),
            },
        ).returning(Starboard)
        async with self._write() as session:
            before = await locked_values(session, Starboard, values, guild_id=guild_id)
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            await _audit(session, guild_id, before, {name: getattr(row, name) for name in values})
            return StarboardRead.model_validate(row)

    async def get_config(self, guild_id: int) -> StarboardRead | None:
        """The board's settings, or None when the guild has no starboard."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            row = await session.get(Starboard, guild_id)
            return None if row is None else StarboardRead.model_validate(row)

    @gated(Feature.STARBOARD)
    async def add_star(
        self, guild_id: int, message_id: int, user_id: int, *, channel_id: int, author_id: int
    ) -> StarChange:
        """Record ``user_id``'s star on a message in ONE statement; repeating it changes nothing.

        Self-stars (unless allowed) and stars in ignored channels are refused
        without error: the result's ``is_changed`` is False. ``crossed_up``
        tells the bot to post the message to the board.
        """
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "message_id": snowflake("message_id", message_id),
            "user_id": snowflake("user_id", user_id),
            "channel_id": snowflake("channel_id", channel_id),
            "author_id": snowflake("author_id", author_id),
        }
        async with self._write() as session:
            row = (await session.execute(_ADD_STAR_SQL, params)).mappings().one_or_none()
            return _change(params, row)

    @gated(Feature.STARBOARD)
    async def remove_star(self, guild_id: int, message_id: int, user_id: int) -> StarChange:
        """Take back ``user_id``'s star in ONE statement; removing a missing star changes nothing.

        ``crossed_down`` tells the bot to take the message off the board.
        """
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "message_id": snowflake("message_id", message_id),
            "user_id": snowflake("user_id", user_id),
        }
        async with self._write() as session:
            row = (await session.execute(_REMOVE_STAR_SQL, params)).mappings().one_or_none()
            return _change(params, row)

    async def get_entry(self, guild_id: int, message_id: int) -> StarboardEntryRead | None:
        """A starred message's entry, or None if nobody starred it."""
        key = (snowflake("guild_id", guild_id), snowflake("message_id", message_id))
        async with self._write() as session:
            row = await session.get(StarboardEntry, key)
            return None if row is None else StarboardEntryRead.model_validate(row)

    async def set_posted_message(
        self, guild_id: int, message_id: int, posted_message_id: int | None
    ) -> StarboardEntryRead:
        """Remember (or, with None, forget) the board's copy of a starred message."""
        guild_id, message_id = snowflake("guild_id", guild_id), snowflake("message_id", message_id)
        posted = optional_snowflake("posted_message_id", posted_message_id)
        stmt = (
            update(StarboardEntry)
            .where(col(StarboardEntry.guild_id) == guild_id, col(StarboardEntry.message_id) == message_id)
            .values(posted_message_id=posted, updated_at=func.now())
            .returning(StarboardEntry)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
            if row is None:
                msg = f"message_id: {message_id} has no starboard entry in guild {guild_id}; star it first"
                raise NotFoundError(msg)
            return StarboardEntryRead.model_validate(row)

    async def star_count(self, guild_id: int, message_id: int) -> int:
        """Stars counted from the star rows themselves (the cached count's ground truth)."""
        guild_id, message_id = snowflake("guild_id", guild_id), snowflake("message_id", message_id)
        stmt = (
            select(func.count())
            .select_from(StarboardStar)
            .where(col(StarboardStar.guild_id) == guild_id, col(StarboardStar.message_id) == message_id)
        )
        async with self._write() as session:
            return int((await session.execute(stmt)).scalar_one())


def _change(params: Mapping[str, int], row: RowMapping | None) -> StarChange:
    if row is None:
        guild_id = params["guild_id"]
        msg = f"guild_id: guild {guild_id} has no starboard; call db.starboard.configure({guild_id}, channel_id=…)"
        raise NotFoundError(msg)
    return StarChange(guild_id=params["guild_id"], message_id=params["message_id"], **row)
