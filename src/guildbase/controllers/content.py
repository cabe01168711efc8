"""Content rules. For now, bookmarks: a user's saved messages, unique per user and message."""

from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.features import gated
from guildbase.db.rows import read_all
from guildbase.db.validation import aware, optional_snowflake, page_limit, snowflake, text, validate
from guildbase.errors import ValidationError, shown
from guildbase.models.content import EXCERPT_MAX_LENGTH, Bookmark, BookmarkCreate, BookmarkRead
from guildbase.models.core import Feature

__all__ = ["MAX_LIST", "MESSAGE_MAX_LENGTH", "BookmarkController", "excerpt"]

MAX_LIST = 100
MESSAGE_MAX_LENGTH = 4000
"""The longest message Discord sends (with Nitro); ``content`` beyond it cannot be a real message."""
ELLIPSIS = "…"


def excerpt(content: str, limit: int = EXCERPT_MAX_LENGTH) -> str:
    """The message text with whitespace collapsed, cut at ``limit`` with an ellipsis."""
    flat = " ".join(content.split())
    return flat if len(flat) <= limit else flat[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


class BookmarkController(Controller):
    """Saved messages; listing is newest first by keyset on (created_at, message_id)."""

    @gated(Feature.BOOKMARKS)
    async def add(
        self,
        guild_id: int,
        user_id: int,
        message_id: int,
        *,
        channel_id: int,
        author_id: int,
        content: str = "",
    ) -> BookmarkRead:
        """Save a message for a user, keeping a short excerpt of ``content`` (the full text stays on Discord).

        Saving it again is a no-op that returns the bookmark already saved (the
        rule for every repeated add, see docs/development.md).
        """
        content = text("content", content, max_length=MESSAGE_MAX_LENGTH)
        checked = validate(
            BookmarkCreate,
            {
                "guild_id": guild_id,
                "user_id": user_id,
                "message_id": message_id,
                "channel_id": channel_id,
                "author_id": author_id,
                "excerpt": excerpt(content),
            },
        )
        stmt = insert(Bookmark).values(**checked.model_dump()).on_conflict_do_nothing().returning(Bookmark)
        async with self._write() as session:
            row = (await session.scalars(stmt)).one_or_none()
            if row is None:
                row = await session.get_one(Bookmark, (checked.guild_id, checked.user_id, checked.message_id))
            return BookmarkRead.model_validate(row)

    async def list_for_user(
        self,
        user_id: int,
        *,
        guild_id: int | None = None,
        limit: int = 25,
        before: tuple[datetime, int] | None = None,
    ) -> list[BookmarkRead]:
        """A user's bookmarks, newest first; pass the last one's ``(created_at, message_id)`` as ``before``."""
        user_id = snowflake("user_id", user_id)
        guild = optional_snowflake("guild_id", guild_id)
        limit = page_limit(limit, MAX_LIST)
        cursor = _cursor(before)
        stmt = select(Bookmark).where(col(Bookmark.user_id) == user_id)
        if guild is not None:
            stmt = stmt.where(col(Bookmark.guild_id) == guild)
        if cursor is not None:
            stmt = stmt.where(tuple_(col(Bookmark.created_at), col(Bookmark.message_id)) < tuple_(*cursor))
        stmt = stmt.order_by(col(Bookmark.created_at).desc(), col(Bookmark.message_id).desc()).limit(limit)
        async with self._write() as session:
            return read_all(BookmarkRead, await session.scalars(stmt))

    async def delete(self, user_id: int, message_id: int) -> bool:
        """Remove a user's bookmark of a message; False if there was none."""
        user_id, message_id = snowflake("user_id", user_id), snowflake("message_id", message_id)
        stmt = delete(Bookmark).where(col(Bookmark.user_id) == user_id, col(Bookmark.message_id) == message_id)
        async with self._write() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


def _cursor(before: object) -> tuple[datetime, int] | None:
    """``before`` as a checked ``(created_at, message_id)`` pair, or None."""
    if before is None:
        return None
    if not isinstance(before, tuple) or len(before) != 2:  # noqa: PLR2004 - a pair
        raise ValidationError.single(
            "before", "cursor", f"must be a (created_at, message_id) pair, got {shown(before)}"
        )
    return aware("before.0", before[0]), snowflake("before.1", before[1])
