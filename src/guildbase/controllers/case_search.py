r"""Case search for moderators and the dashboard: any mix of member, moderator, type and words of the reason.

One query, newest first, paginated by ``number`` like ``history``. The words
are matched case-insensitively anywhere in the reason (``ILIKE`` with ``%``,
``_`` and ``\`` escaped, so a search for ``100%`` finds that text and no
pattern). The guild's ``(guild_id, number)`` key bounds the scan, and the
``LIMIT`` stops it at the first page of matches; a rare word in a guild with
millions of cases reads far, which is acceptable for a search box, not for a
hot path.
"""

from sqlalchemy import Select, select
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.rows import read_all
from guildbase.db.validation import (
    optional_positive,
    optional_snowflake,
    optional_text,
    page_limit,
    snowflake,
    validate_enum,
)
from guildbase.errors import ValidationError
from guildbase.models.moderation import Case, CaseRead, CaseType

__all__ = ["MAX_SEARCH_LENGTH", "CaseSearch", "search_query"]

MAX_SEARCH_LENGTH = 100
MAX_PAGE = 100


def _like(words: str) -> str:
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_query(
    guild_id: int,
    *,
    text: str | None = None,
    user_id: int | None = None,
    moderator_id: int | None = None,
    case_type: CaseType | None = None,
    limit: int = 25,
    before: int | None = None,
) -> Select[Case]:
    """The search as one statement (exactly what ``CaseSearch.search`` runs)."""
    stmt = select(Case).where(col(Case.guild_id) == guild_id)
    if text is not None:
        stmt = stmt.where(col(Case.reason).ilike(_like(text), escape="\\"))
    if user_id is not None:
        stmt = stmt.where(col(Case.user_id) == user_id)
    if moderator_id is not None:
        stmt = stmt.where(col(Case.moderator_id) == moderator_id)
    if case_type is not None:
        stmt = stmt.where(col(Case.type) == case_type)
    if before is not None:
        stmt = stmt.where(col(Case.number) < before)
    return stmt.order_by(col(Case.number).desc()).limit(limit)


class CaseSearch(Controller):
    """The search part of ``db.cases``."""

    async def search(
        self,
        guild_id: int,
        *,
        text: str | None = None,
        user_id: int | None = None,
        moderator_id: int | None = None,
        case_type: CaseType | str | None = None,
        limit: int = 25,
        before: int | None = None,
    ) -> list[CaseRead]:
        """A guild's cases matching every filter given, newest first (``before``: the page after that number)."""
        words = optional_text("text", text, max_length=MAX_SEARCH_LENGTH)
        if words is not None and not words.strip():
            raise ValidationError.single("text", "blank", "must hold something to search for, got only whitespace")
        stmt = search_query(
            snowflake("guild_id", guild_id),
            text=None if words is None else words.strip(),
            user_id=optional_snowflake("user_id", user_id),
            moderator_id=optional_snowflake("moderator_id", moderator_id),
            case_type=None if case_type is None else validate_enum("case_type", CaseType, case_type),
            limit=page_limit(limit, MAX_PAGE),
            before=optional_positive("before", before),
        )
        async with self._read() as session:
            return read_all(CaseRead, await session.scalars(stmt))
