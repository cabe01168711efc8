"""What the case and note controllers share: the change trail, the acting user, not-found errors.

Every reason edit, void, expiry, note edit and note delete is written to
``moderation_change`` by ``_record`` in the same transaction as the change itself.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.db.context import current_actor
from guildbase.db.mixins import stamp
from guildbase.db.validation import snowflake
from guildbase.errors import NotFoundError
from guildbase.models.moderation import Case, ChangeAction, ModerationChange, Note

__all__ = ["MAX_PAGE"]  # the rest is private to the moderation modules

MAX_PAGE = 100  # the longest page of cases or notes one call returns


async def _record(
    session: AsyncSession,
    guild_id: int,
    action: ChangeAction,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    actor_id: int | None,
    case_id: int | None = None,
    note_id: int | None = None,
) -> None:
    session.add(
        ModerationChange(
            guild_id=guild_id,
            case_id=case_id,
            note_id=note_id,
            action=action,
            actor_id=actor_id,
            before=dict(before),
            after=dict(after),
        )
    )
    await session.flush()


async def _change(
    session: AsyncSession,
    row: Case | Note,
    action: ChangeAction,
    field: str,
    value: Any,
    *,
    actor: int | None,
) -> None:
    """Set ``row.<field>``, stamp ``actor`` on it, and record before/after in the trail, in one transaction."""
    before = getattr(row, field)
    setattr(row, field, value)
    stamp(row, "update", actor=actor)
    target = {"case_id": row.case_id} if isinstance(row, Case) else {"note_id": row.note_id}
    await _record(session, row.guild_id, action, {field: before}, {field: value}, actor_id=actor, **target)
    await session.refresh(row)


def _actor(actor_id: int | None) -> int | None:
    return current_actor() if actor_id is None else snowflake("actor_id", actor_id)


def _missing(kind: str, guild_id: int, number: int) -> NotFoundError:
    return NotFoundError(f"{kind} #{number} does not exist in guild {guild_id}")
