"""Content rules. For now, bookmarks: a user's saved messages, unique per user and message."""

from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.core import snowflake
from guildbase.db.validation import validate
from guildbase.errors import ConflictError, ValidationError
from guildbase.models.content import EXCERPT_MAX_LENGTH, Bookmark, BookmarkCreate, BookmarkRead

MAX_LIST = 100
ELLIPSIS = "…"


def excerpt(content: str, limit: int = EXCERPT_MAX_LENGTH) -> str:
    """The message text with whitespace collapsed, cut at ``limit`` with an ellipsis."""
    flat = " ".join(content.split())
    return flat if len(flat) <= limit else flat[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


class BookmarkController(Controller):
    """Saved messages; listing is newest first by keyset on (created_at, message_id)."""

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

        Raises:
            ConflictError: the user already bookmarked this message.
        """
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
                msg = f"message_id: {checked.message_id} is already bookmarked by user {checked.user_id}"
                raise ConflictError(msg)
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
        if not 1 <= limit <= MAX_LIST:
            raise ValidationError.single("limit", "range", f"must be 1-{MAX_LIST}, got {limit}")
        stmt = select(Bookmark).where(col(Bookmark.user_id) == user_id)
        if guild_id is not None:
            stmt = stmt.where(col(Bookmark.guild_id) == snowflake("guild_id", guild_id))
        if before is not None:
            stmt = stmt.where(tuple_(col(Bookmark.created_at), col(Bookmark.message_id)) < tuple_(*before))
        stmt = stmt.order_by(col(Bookmark.created_at).desc(), col(Bookmark.message_id).desc()).limit(limit)
        async with self._write() as session:
            return [BookmarkRead.model_validate(row) for row in await session.scalars(stmt)]

    async def delete(self, user_id: int, message_id: int) -> bool:
        """Remove a user's bookmark of a message; False if there was none."""
        user_id, message_id = snowflake("user_id", user_id), snowflake("message_id", message_id)
        stmt = delete(Bookmark).where(col(Bookmark.user_id) == user_id, col(Bookmark.message_id) == message_id)
        async with self._write() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]
