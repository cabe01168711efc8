"""The statements a case's creation runs, built once at import (split from ``moderation`` for size).

``CREATE_CASE`` is the numbered insert (the guild's next number and the row in
one statement); ``CREATE_CASE_AUDITED`` adds the creation's audit row to that
same statement, for ``cases.create``'s benchmarked hot path (W2);
``create_in`` runs ``CREATE_CASE`` and ``_audit_created`` in the caller's session.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.db.audit import audited_insert, record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.numbering import numbered_insert
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import CounterKind
from guildbase.models.moderation import Case, CaseCreate, CaseRead

__all__ = ["CREATE_CASE", "CREATE_CASE_AUDITED"]

CREATE_CASE = numbered_insert(Case, CounterKind.CASE)
_CREATED_FIELDS = ("number", "type", "user_id", "moderator_id", "reason", "role_ids", "expires_at", "details")
CREATE_CASE_AUDITED = audited_insert(CREATE_CASE, AuditAction.CASE_CREATE, AuditEntity.CASE, "case_id", _CREATED_FIELDS)
"""``CREATE_CASE`` with the creation's audit row, still one statement (``cases.create``'s hot path)."""


def _case_values(checked: CaseCreate) -> dict[str, Any]:
    """The row of a new case: the validated fields and the actor columns (the number comes from the counter)."""
    return checked.model_dump(mode="python") | actor_columns(Case, "insert")


async def _audit_created(unit: AsyncSession, created: CaseRead) -> None:
    """The creation's audit row inside the caller's session (``create_in``), the same fields as the hot path."""
    after = created.model_dump(include=set(_CREATED_FIELDS))
    await record_audit(
        unit, AuditAction.CASE_CREATE, AuditEntity.CASE, created.case_id, guild_id=created.guild_id, after=after
    )
