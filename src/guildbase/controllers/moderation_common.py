"""What the case and note controllers share: the change trail, the acting user, not-found errors.

Every case creation, reason edit, void, expiry, note creation, edit and delete
is written to ``audit_log`` (``db.audit.record_audit``) in the same transaction
as the change itself; ``changes()`` reads a case's or a note's rows back.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.db.audit import record_audit
from guildbase.db.context import current_actor
from guildbase.db.mixins import stamp
from guildbase.db.rows import read_all
from guildbase.db.validation import snowflake
from guildbase.errors import NotFoundError
from guildbase.models.audit import AuditAction, AuditEntity, AuditLog, AuditLogRead
from guildbase.models.moderation import Case, Note

__all__ = ["MAX_PAGE"]  # the rest is private to the moderation modules

MAX_PAGE = 100  # the longest page of cases or notes one call returns
_CREATIONS = (AuditAction.CASE_CREATE, AuditAction.NOTE_CREATE)


def _entity(row: Case | Note) -> tuple[AuditEntity, int]:
    if isinstance(row, Case):
        assert row.case_id is not None  # noqa: S101 - a loaded row has its key
        return AuditEntity.CASE, row.case_id
    assert row.note_id is not None  # noqa: S101
    return AuditEntity.NOTE, row.note_id


async def _change(
    session: AsyncSession,
    row: Case | Note,
    action: AuditAction,
    field: str,
    value: Any,
    *,
    actor: int | None,
) -> None:
    """Set ``row.<field>``, stamp ``actor`` on it, and record before/after in the audit log, in one transaction."""
    before = getattr(row, field)
    setattr(row, field, value)
    stamp(row, "update", actor=actor)
    entity, entity_id = _entity(row)
    await session.flush()
    await record_audit(
        session,
        action,
        entity,
        entity_id,
        guild_id=row.guild_id,
        before={field: before},
        after={field: value},
        actor=actor,
    )
    await session.refresh(row)


async def _trail(session: AsyncSession, entity: AuditEntity, entity_id: int) -> list[AuditLogRead]:
    """Every recorded change to one case or note after its creation, oldest first."""
    stmt = (
        select(AuditLog)
        .where(
            col(AuditLog.entity_type) == entity,
            col(AuditLog.entity_id) == str(entity_id),
            col(AuditLog.action).not_in(_CREATIONS),
        )
        .order_by(col(AuditLog.audit_id))
    )
    return read_all(AuditLogRead, await session.scalars(stmt))


def _actor(actor_id: int | None) -> int | None:
    return current_actor() if actor_id is None else snowflake("actor_id", actor_id)


def _missing(kind: str, guild_id: int, number: int) -> NotFoundError:
    return NotFoundError(f"{kind} #{number} does not exist in guild {guild_id}")
