"""Audit queries (``db.audit``): what happened to an entity, what a person did, what changed in a guild.

The rows are written by every mutating controller method through
``guildbase.db.audit.record_audit`` (never here: the trail has no write API of
its own, so nothing can forge or edit it through the facade). Every query is a
keyset page, newest first: pass ``before=page[-1].audit_id`` for the next one.
Each walks one index of ``audit_log`` (``models/audit.py``).
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.rows import read_all
from guildbase.db.validation import (
    BIGINT_MAX,
    integer,
    optional_aware,
    optional_positive,
    page_limit,
    snowflake,
    validate_enum,
)
from guildbase.errors import ValidationError, shown
from guildbase.models.audit import AuditEntity, AuditLog, AuditLogRead
from guildbase.models.core import BlacklistTarget, Feature
from guildbase.models.levels import MultiplierKind
from guildbase.models.premium import tier_slug

__all__ = ["MAX_PAGE", "AuditController"]

MAX_PAGE = 200


class AuditController(Controller):
    """Reads of the audit log: by entity, by actor, by guild over a period."""

    async def for_entity(
        self, entity_type: AuditEntity | str, entity_id: int | str, *, limit: int = 50, before: int | None = None
    ) -> list[AuditLogRead]:
        """Every recorded change to one entity (``("case", case_id)``, ``("guild_feature", "levels")`` …)."""
        kind = validate_enum("entity_type", AuditEntity, entity_type)
        key = _entity_id(kind, entity_id)
        stmt = select(AuditLog).where(col(AuditLog.entity_type) == kind, col(AuditLog.entity_id) == key)
        return await self._page(stmt, limit, before)

    async def by_actor(
        self,
        actor_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[AuditLogRead]:
        """What one user changed in ``[since, until)``, in every guild and globally."""
        actor = snowflake("actor_id", actor_id)
        stmt = _period(select(AuditLog).where(col(AuditLog.actor_id) == actor), since, until)
        return await self._page(stmt, limit, before)

    async def for_guild(
        self,
        guild_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[AuditLogRead]:
        """Every change recorded in one guild in ``[since, until)`` (the dashboard's audit page)."""
        guild = snowflake("guild_id", guild_id)
        stmt = _period(select(AuditLog).where(col(AuditLog.guild_id) == guild), since, until)
        return await self._page(stmt, limit, before)

    async def _page(self, stmt: Select[Any], limit: int, before: int | None) -> list[AuditLogRead]:
        limit = page_limit(limit, MAX_PAGE)
        cursor = optional_positive("before", before)
        if cursor is not None:
            stmt = stmt.where(col(AuditLog.audit_id) < cursor)
        stmt = stmt.order_by(col(AuditLog.audit_id).desc()).limit(limit)
        async with self._read() as session:
            return read_all(AuditLogRead, await session.scalars(stmt))


_TEXT_KEYS: dict[AuditEntity, type[enum.Enum] | None] = {
    AuditEntity.GUILD_FEATURE: None,  # the feature's name
    AuditEntity.GLOBAL_BLACKLIST: BlacklistTarget,  # ``user:<id>`` / ``guild:<id>``
    AuditEntity.LEVEL_MULTIPLIER: MultiplierKind,  # ``role:<id>`` / ``channel:<id>``
    AuditEntity.PREMIUM_TIER: None,  # the tier's slug
}


def _entity_id(kind: AuditEntity, value: object) -> str:
    """An entity ID as stored, checked by its type's convention (docs/audit.md).

    Most entities are keyed by an integer (a snowflake, a ``case_id``, a level);
    a feature by its name; a blacklist entry or a multiplier by ``<kind>:<id>``.
    """
    if kind not in _TEXT_KEYS:
        return str(integer("entity_id", value, minimum=1, maximum=BIGINT_MAX))
    if kind is AuditEntity.GUILD_FEATURE:
        return validate_enum("entity_id", Feature, value).value
    if kind is AuditEntity.PREMIUM_TIER:
        return tier_slug("entity_id", value)
    prefix_enum = _TEXT_KEYS[kind]
    assert prefix_enum is not None  # noqa: S101 - every other text key has a kind prefix
    if not isinstance(value, str) or ":" not in value:
        labels = "|".join(str(member.value) for member in prefix_enum)
        msg = f"must be '<{labels}>:<id>', got {shown(value)}"
        raise ValidationError.single("entity_id", "entity_id", msg)
    prefix, _, target = value.partition(":")
    member = validate_enum("entity_id", prefix_enum, prefix)
    return f"{member.value}:{snowflake('entity_id', target)}"


def _period(stmt: Select[Any], since: datetime | None, until: datetime | None) -> Select[Any]:
    start, end = optional_aware("since", since), optional_aware("until", until)
    if start is not None:
        stmt = stmt.where(col(AuditLog.created_at) >= start)
    if end is not None:
        stmt = stmt.where(col(AuditLog.created_at) < end)
    return stmt
