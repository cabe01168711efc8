"""Ranks (R3.3, R4.5): rank names, role → rank, command or module → required rank, the unconfigured default.

Every write here is one audited change of the guild's rank configuration
(entity ``permission_ranks``, keyed by the guild ID): the row holds the
changed keys only (``rank.3``, ``role.<id>``, ``command:ban``,
``is_unconfigured_allowed``), read before and after under a per-guild
advisory lock, so two staff members editing at once each get an exact row.
The compiled rule set is dropped everywhere after the commit.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.permission_log import PermissionCheckLog
from guildbase.controllers.permission_store import known_target, permissions_key, read_set
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.validation import flag, integer, optional_text, snowflake, validate_enum
from guildbase.errors import ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.permissions import (
    MAX_RANK,
    MIN_RANK,
    RANK_NAME_MAX_LENGTH,
    RANK_TARGETS,
    TARGET_NAME_MAX_LENGTH,
    PermissionCommandRank,
    PermissionConfig,
    PermissionRank,
    PermissionRoleRank,
    PermissionSetRead,
    TargetKind,
)

__all__ = ["MAX_ROLE_RANKS", "PermissionRanks"]

MAX_ROLE_RANKS = 250
"""Most roles one ``set_role_ranks`` call maps (Discord allows 250 roles per guild)."""


def rank(field: str, value: object) -> int:
    """A rank argument: an integer from 0 to 10."""
    return integer(field, value, minimum=MIN_RANK, maximum=MAX_RANK)


def optional_rank(field: str, value: object) -> int | None:
    return None if value is None else rank(field, value)


class PermissionRanks(PermissionCheckLog):
    """Rank configuration; ``db.permissions`` inherits it."""

    async def set_rank_name(self, guild_id: int, rank_value: int, name: str | None) -> PermissionSetRead:
        """Name rank ``rank_value`` (0-10) in the guild; ``None`` clears the name."""
        guild_id = snowflake("guild_id", guild_id)
        level = rank("rank_value", rank_value)
        label = optional_text("name", name, max_length=RANK_NAME_MAX_LENGTH)
        if label is not None and not label.strip():
            raise ValidationError.single("name", "length", "must not be blank")
        async with self._ranks_audited(guild_id) as session:
            if label is None:
                await session.execute(
                    delete(PermissionRank).where(
                        col(PermissionRank.guild_id) == guild_id, col(PermissionRank.rank) == level
                    )
                )
            else:
                await _upsert(session, PermissionRank, {"guild_id": guild_id, "rank": level, "name": label}, ["name"])
        return await self._set_of(guild_id)

    async def set_role_rank(self, guild_id: int, role_id: int, rank_value: int | None) -> PermissionSetRead:
        """Give a role a rank (0-10); ``None`` removes its rank."""
        guild_id = snowflake("guild_id", guild_id)
        role_id = snowflake("role_id", role_id)
        level = optional_rank("rank_value", rank_value)
        async with self._ranks_audited(guild_id) as session:
            await _set_role(session, guild_id, role_id, level)
        return await self._set_of(guild_id)

    async def set_role_ranks(self, guild_id: int, role_ranks: Mapping[int, int]) -> PermissionSetRead:
        """Map many roles at once (the legacy ``perm_level_0..7_role_id`` import: ``legacy_role_ranks``)."""
        guild_id = snowflake("guild_id", guild_id)
        if not isinstance(role_ranks, Mapping):
            raise ValidationError.single("role_ranks", "mapping", "must be a mapping of role ID to rank")
        if len(role_ranks) > MAX_ROLE_RANKS:
            msg = f"must hold at most {MAX_ROLE_RANKS} roles, got {len(role_ranks)}"
            raise ValidationError.single("role_ranks", "max_items", msg)
        checked = {
            snowflake("role_ranks", role): rank(f"role_ranks.{role}", level) for role, level in role_ranks.items()
        }
        async with self._ranks_audited(guild_id) as session:
            for role_id, level in sorted(checked.items()):
                await _set_role(session, guild_id, role_id, level)
        return await self._set_of(guild_id)

    async def set_command_rank(
        self, guild_id: int, target_kind: TargetKind | str, target_name: str, rank_value: int | None
    ) -> PermissionSetRead:
        """Require rank ``rank_value`` for a command or a module (a registered one); ``None`` removes it."""
        guild_id = snowflake("guild_id", guild_id)
        kind = validate_enum("target_kind", TargetKind, target_kind)
        if kind not in RANK_TARGETS:
            raise ValidationError.single("target_kind", "enum", "must be command or module for a rank")
        name = _name(target_name)
        level = optional_rank("rank_value", rank_value)
        async with self._ranks_audited(guild_id) as session:
            await known_target(session, kind, name)
            if level is None:
                await session.execute(
                    delete(PermissionCommandRank).where(
                        col(PermissionCommandRank.guild_id) == guild_id,
                        col(PermissionCommandRank.kind) == kind,
                        col(PermissionCommandRank.name) == name,
                    )
                )
            else:
                values = {"guild_id": guild_id, "kind": kind, "name": name, "rank": level}
                await _upsert(session, PermissionCommandRank, values, ["rank"])
        return await self._set_of(guild_id)

    async def set_unconfigured_allowed(self, guild_id: int, allowed: bool) -> PermissionSetRead:
        """Whether a command no rule or rank covers is allowed (the default) or denied in the guild."""
        guild_id = snowflake("guild_id", guild_id)
        state = flag("allowed", allowed)
        async with self._ranks_audited(guild_id) as session:
            values = {"guild_id": guild_id, "is_unconfigured_allowed": state}
            await _upsert(session, PermissionConfig, values, ["is_unconfigured_allowed"], key=["guild_id"])
        return await self._set_of(guild_id)

    async def _set_of(self, guild_id: int) -> PermissionSetRead:
        async with self._write() as session:
            return await read_set(session, guild_id)

    @asynccontextmanager
    async def _ranks_audited(self, guild_id: int) -> AsyncIterator[AsyncSession]:
        async with self._write() as session:
            key = func.hashtextextended(f"permissions:{guild_id}", 0)
            await session.execute(select(func.pg_advisory_xact_lock(key)))
            before = _flat(await read_set(session, guild_id))
            yield session
            after = _flat(await read_set(session, guild_id))
            await record_audit(
                session,
                AuditAction.PERMISSION_RANKS,
                AuditEntity.PERMISSION_RANKS,
                guild_id,
                guild_id=guild_id,
                before=before,
                after=after,
            )
            self._stale(session, permissions_key(guild_id))


def _name(value: object) -> str:
    name = optional_text("target_name", value, max_length=TARGET_NAME_MAX_LENGTH)
    if not name or not name.strip():
        raise ValidationError.single("target_name", "length", "must name a command or module")
    return name


async def _set_role(session: AsyncSession, guild_id: int, role_id: int, level: int | None) -> None:
    if level is None:
        await session.execute(
            delete(PermissionRoleRank).where(
                col(PermissionRoleRank.guild_id) == guild_id, col(PermissionRoleRank.role_id) == role_id
            )
        )
    else:
        await _upsert(session, PermissionRoleRank, {"guild_id": guild_id, "role_id": role_id, "rank": level}, ["rank"])


async def _upsert(
    session: AsyncSession, model: Any, values: dict[str, Any], changing: list[str], *, key: list[str] | None = None
) -> None:
    keys = key or [c.name for c in model.__table__.primary_key.columns]
    stmt = insert(model).values(**values, **actor_columns(model, "insert"))
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=keys,
            set_={
                **{name: stmt.excluded[name] for name in changing},
                **actor_columns(model, "update"),
                "updated_at": func.now(),
            },
        )
    )


def _flat(current: PermissionSetRead) -> dict[str, Any]:
    """The rank configuration as one flat mapping, so the audit row names exactly what changed."""
    flat: dict[str, Any] = {"is_unconfigured_allowed": current.is_unconfigured_allowed}
    flat |= {f"rank.{level}": name for level, name in current.rank_names.items()}
    flat |= {f"role.{role}": level for role, level in current.role_ranks.items()}
    flat |= dict(current.command_ranks.items())
    return flat
