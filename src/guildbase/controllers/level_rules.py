"""Level rules: each guild's XP settings, multipliers and reward roles (admin calls, never gated).

``LevelsController`` inherits these methods, so they are reached as
``db.levels.configure(…)``, ``db.levels.set_level_role(…)`` …; the award
statement (``controllers.xp_award``) reads the rows they write in its own
statement, so a change applies to the very next message.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.audit import locked_values, record_audit
from guildbase.db.mixins import actor_columns, stamp
from guildbase.db.rows import read_all
from guildbase.db.validation import changes_of, integer, number, snowflake, validate, validate_enum
from guildbase.errors import ValidationError, shown
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.levels import (
    MAX_MULTIPLIER,
    MAX_REWARD_LEVEL,
    LevelConfig,
    LevelConfigFields,
    LevelConfigRead,
    LevelMultiplier,
    LevelMultiplierBase,
    LevelMultiplierRead,
    LevelRole,
    LevelRoleBase,
    LevelRoleRead,
    MultiplierKind,
)

__all__ = ["LevelRules"]


def _multiplier_id(kind: MultiplierKind, target_id: int) -> str:
    """``role:<id>`` / ``channel:<id>``: the audit entity ID of one multiplier."""
    return f"{kind.value}:{target_id}"


class LevelRules(Controller):
    """A guild's level settings: XP range and cooldown, curve, multipliers, reward roles."""

    async def get_config(self, guild_id: int) -> LevelConfigRead:
        """The guild's XP rules (the defaults when it never changed them)."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            row = await session.get(LevelConfig, guild_id)
            if row is None:
                return LevelConfigRead(guild_id=guild_id)
            return LevelConfigRead.model_validate(row)

    async def configure(
        self, guild_id: int, changes: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> LevelConfigRead:
        """Change some XP rules; the row is locked so concurrent edits cannot lose one.

        The merged result is validated as a whole (``xp_max`` must stay at least
        ``xp_min``), so a change is checked against the values it keeps.
        """
        guild_id = snowflake("guild_id", guild_id)
        given = changes_of(changes, LevelConfigFields) | fields
        unknown = sorted(set(given) - set(LevelConfigFields.model_fields))
        if unknown:
            msg = f"must not be given (not a level setting), got {shown(given[unknown[0]])}"
            raise ValidationError.single(unknown[0], "extra_forbidden", msg)
        async with self._write() as session:
            await session.execute(
                insert(LevelConfig)
                .values(guild_id=guild_id, **actor_columns(LevelConfig, "insert"))
                .on_conflict_do_nothing()
            )
            locked = select(LevelConfig).where(col(LevelConfig.guild_id) == guild_id).with_for_update()
            row = (await session.scalars(locked)).one()
            current = LevelConfigFields.model_validate(row).model_dump()
            checked = validate(LevelConfigFields, current | given)
            for name in given:
                setattr(row, name, getattr(checked, name))
            stamp(row, "update")  # also when nothing changed: the call is the latest write
            await session.flush()
            await session.refresh(row)
            after = LevelConfigFields.model_validate(row).model_dump()
            await record_audit(
                session,
                AuditAction.LEVEL_CONFIG,
                AuditEntity.LEVEL_CONFIG,
                guild_id,
                guild_id=guild_id,
                before=current,
                after=after,
            )
            return LevelConfigRead.model_validate(row)

    async def set_multiplier(
        self, guild_id: int, kind: MultiplierKind | str, target_id: int, multiplier: float
    ) -> LevelMultiplierRead:
        """Give a role's members, or a channel's messages, an XP factor (0 disables XP there)."""
        checked = validate(
            LevelMultiplierBase,
            {
                "guild_id": guild_id,
                "kind": validate_enum("kind", MultiplierKind, kind),
                "target_id": target_id,
                "multiplier": number("multiplier", multiplier, minimum=0, maximum=MAX_MULTIPLIER),
            },
        )
        stmt = insert(LevelMultiplier).values(**checked.model_dump())
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "kind", "target_id"], set_={"multiplier": stmt.excluded.multiplier}
        ).returning(LevelMultiplier)
        key = {"guild_id": checked.guild_id, "kind": checked.kind, "target_id": checked.target_id}
        async with self._write() as session:
            before = await locked_values(session, LevelMultiplier, ("multiplier",), **key)
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            await record_audit(
                session,
                AuditAction.LEVEL_MULTIPLIER_SET,
                AuditEntity.LEVEL_MULTIPLIER,
                _multiplier_id(checked.kind, checked.target_id),
                guild_id=checked.guild_id,
                before=before,
                after={"multiplier": row.multiplier},
            )
            return LevelMultiplierRead.model_validate(row)

    async def remove_multiplier(self, guild_id: int, kind: MultiplierKind | str, target_id: int) -> bool:
        """Drop a multiplier (the factor goes back to 1)."""
        checked_kind = validate_enum("kind", MultiplierKind, kind)
        guild_id, target_id = snowflake("guild_id", guild_id), snowflake("target_id", target_id)
        stmt = (
            delete(LevelMultiplier)
            .where(
                col(LevelMultiplier.guild_id) == guild_id,
                col(LevelMultiplier.kind) == checked_kind,
                col(LevelMultiplier.target_id) == target_id,
            )
            .returning(col(LevelMultiplier.multiplier))
        )
        async with self._write() as session:
            removed = (await session.execute(stmt)).scalar_one_or_none()
            if removed is None:
                return False
            await record_audit(
                session,
                AuditAction.LEVEL_MULTIPLIER_REMOVE,
                AuditEntity.LEVEL_MULTIPLIER,
                _multiplier_id(checked_kind, target_id),
                guild_id=guild_id,
                before={"multiplier": removed},
            )
            return True

    async def multipliers(self, guild_id: int) -> list[LevelMultiplierRead]:
        """Every multiplier of the guild, roles first."""
        guild_id = snowflake("guild_id", guild_id)
        stmt = (
            select(LevelMultiplier)
            .where(col(LevelMultiplier.guild_id) == guild_id)
            .order_by(col(LevelMultiplier.kind), col(LevelMultiplier.target_id))
        )
        async with self._write() as session:
            return read_all(LevelMultiplierRead, await session.scalars(stmt))

    async def set_level_role(self, guild_id: int, level: int, role_id: int) -> LevelRoleRead:
        """Reward ``role_id`` at ``level`` (replacing that level's previous reward).

        A role rewards one level only: giving it to a second level raises
        ``ConflictError``; remove it from the first level before.
        """
        checked = validate(LevelRoleBase, {"guild_id": guild_id, "level": level, "role_id": role_id})
        stmt = insert(LevelRole).values(**checked.model_dump(), **actor_columns(LevelRole, "insert"))
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "level"],
            set_={"role_id": stmt.excluded.role_id, **actor_columns(LevelRole, "update"), "updated_at": func.now()},
        ).returning(LevelRole)
        async with self._write() as session:
            before = await locked_values(
                session, LevelRole, ("role_id",), guild_id=checked.guild_id, level=checked.level
            )
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            await record_audit(
                session,
                AuditAction.LEVEL_ROLE_SET,
                AuditEntity.LEVEL_ROLE,
                checked.level,
                guild_id=checked.guild_id,
                before=before,
                after={"role_id": row.role_id},
            )
            return LevelRoleRead.model_validate(row)

    async def remove_level_role(self, guild_id: int, level: int) -> bool:
        """Stop rewarding a role at ``level``; members keep roles they already have."""
        guild_id, level = snowflake("guild_id", guild_id), integer("level", level, minimum=1, maximum=MAX_REWARD_LEVEL)
        stmt = (
            delete(LevelRole)
            .where(col(LevelRole.guild_id) == guild_id, col(LevelRole.level) == level)
            .returning(col(LevelRole.role_id))
        )
        async with self._write() as session:
            removed = (await session.execute(stmt)).scalar_one_or_none()
            if removed is None:
                return False
            await record_audit(
                session,
                AuditAction.LEVEL_ROLE_REMOVE,
                AuditEntity.LEVEL_ROLE,
                level,
                guild_id=guild_id,
                before={"role_id": removed},
            )
            return True

    async def level_roles(self, guild_id: int) -> list[LevelRoleRead]:
        """The guild's reward roles by level."""
        guild_id = snowflake("guild_id", guild_id)
        stmt = select(LevelRole).where(col(LevelRole.guild_id) == guild_id).order_by(col(LevelRole.level))
        async with self._write() as session:
            return read_all(LevelRoleRead, await session.scalars(stmt))
