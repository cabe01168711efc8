"""Moderation settings (R4.3): DM and reason switches, per-type durations and log channels, escalation rules.

``get`` is what every moderation command reads, so the whole of a guild's
settings is one cached value (``mod_settings_key``): local LRU → Redis →
PostgreSQL. Every write validates its arguments first (``db.validation`` and
the ``…Create`` schemas), stamps the actor columns, and drops the cached value
after its commit (``after_commit``), in every process.

Escalation itself is not here: it runs inside the warn's own transaction, from
the case controller (``controllers/escalation.py``); ``escalation_of`` finds
the follow-up case a warn caused.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.stale import stale_keys
from guildbase.db.validation import (
    changes_of,
    duration,
    integer,
    optional_snowflake,
    positive,
    snowflake,
    validate,
    validate_enum,
)
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.mod_settings import (
    MAX_WARN_COUNT,
    MIN_WARN_COUNT,
    EscalationRule,
    EscalationRuleCreate,
    EscalationRuleRead,
    ModActionConfig,
    ModActionConfigCreate,
    ModActionRead,
    ModConfig,
    ModConfigUpdate,
    ModSettingsRead,
    seconds,
)
from guildbase.models.moderation import Case, CaseRead, CaseType
from guildbase.services.cache import ModelCodec
from guildbase.services.keys import guild_key

__all__ = ["ESCALATED_FROM", "ModSettingsController", "load_settings", "mod_settings_key"]

ESCALATED_FROM = "escalated_from"
"""The ``details`` key of a follow-up case: the number of the warn that caused it."""
_CODEC = ModelCodec(ModSettingsRead)


def mod_settings_key(guild_id: int) -> str:
    """Cache key of a guild's ``ModSettingsRead``; dropped by every write of this controller."""
    return guild_key(guild_id, "mod_settings")


# Model CRUD on any settings row (a script's ``ModConfig.update(session, …)``) drops the cached settings too.
for _model in (ModConfig, ModActionConfig, EscalationRule):
    stale_keys(_model, lambda row: (mod_settings_key(row.guild_id),))


async def load_settings(db: UnitOfWork, guild_id: int) -> ModSettingsRead:
    """A guild's moderation settings through the cache (defaults when nothing is stored).

    Module-level so the case controller's warn path can ask whether a guild has
    escalation rules without a handle on this controller.
    """

    async def load() -> ModSettingsRead:
        async with db.session() as session:
            return await _read(session, guild_id)

    settings = await db.cache.read_through(
        mod_settings_key(guild_id), load, ttl=db.settings.cache_ttl_seconds, codec=_CODEC
    )
    assert settings is not None  # noqa: S101 - the loader always returns settings
    return settings


async def _read(session: AsyncSession, guild_id: int) -> ModSettingsRead:
    config = await session.get(ModConfig, guild_id)
    actions = await session.scalars(
        select(ModActionConfig).where(col(ModActionConfig.guild_id) == guild_id).order_by(col(ModActionConfig.type))
    )
    rules = await session.scalars(
        select(EscalationRule)
        .where(col(EscalationRule.guild_id) == guild_id)
        .order_by(col(EscalationRule.warn_count).desc())
    )
    switches = {} if config is None else {"is_user_notified": config.is_user_notified}
    if config is not None:
        switches["is_reason_required"] = config.is_reason_required
    return ModSettingsRead(
        guild_id=guild_id,
        actions=read_all(ModActionRead, actions),
        rules=read_all(EscalationRuleRead, rules),
        **switches,
    )


class ModSettingsController(Controller):
    """Per-guild moderation settings, read as one cached ``ModSettingsRead``."""

    async def get(self, guild_id: int) -> ModSettingsRead:
        """Everything the moderation commands of the guild apply (cached; defaults when unset)."""
        return await load_settings(self._db, snowflake("guild_id", guild_id))

    async def configure(
        self, guild_id: int, changes: ModConfigUpdate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> ModSettingsRead:
        """Turn the switches on or off: ``is_user_notified`` (DM the user), ``is_reason_required``.

        Only the given switches change; an unknown name or a non-bool value is
        refused before anything is written.
        """
        guild_id = snowflake("guild_id", guild_id)
        given = changes_of(changes, ModConfigUpdate) | fields
        checked = validate(ModConfigUpdate, given)
        values = {name: getattr(checked, name) for name in given if getattr(checked, name) is not None}
        if not values:
            return await self.get(guild_id)
        async with self._audited(guild_id) as session:
            if values:
                stmt = insert(ModConfig).values(guild_id=guild_id, **values, **actor_columns(ModConfig, "insert"))
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["guild_id"],
                        set_={
                            **{name: stmt.excluded[name] for name in values},
                            **actor_columns(ModConfig, "update"),
                            "updated_at": func.now(),
                        },
                    )
                )
        return await self.get(guild_id)

    async def set_default_duration(
        self, guild_id: int, case_type: CaseType | str, duration: timedelta | None
    ) -> ModSettingsRead:
        """Set (or, with None, clear) how long a TEMPBAN, TIMEOUT or JAIL lasts when no duration is given."""
        guild_id = snowflake("guild_id", guild_id)
        kind = validate_enum("case_type", CaseType, case_type)
        given = None if duration is None else _duration("duration", duration)
        row = validate(ModActionConfigCreate, {"guild_id": guild_id, "type": kind, "default_duration_seconds": given})
        return await self._set_action(row, "default_duration_seconds")

    async def set_log_channel(
        self, guild_id: int, case_type: CaseType | str, channel_id: int | None
    ) -> ModSettingsRead:
        """Post ``case_type``'s cases to ``channel_id`` (None: back to the guild's mod-log channel)."""
        guild_id = snowflake("guild_id", guild_id)
        kind = validate_enum("case_type", CaseType, case_type)
        channel = optional_snowflake("channel_id", channel_id)
        row = validate(ModActionConfigCreate, {"guild_id": guild_id, "type": kind, "log_channel_id": channel})
        return await self._set_action(row, "log_channel_id")

    async def set_rule(
        self,
        guild_id: int,
        warn_count: int,
        *,
        within: timedelta,
        action: CaseType | str,
        duration: timedelta | None = None,
    ) -> EscalationRuleRead:
        """``warn_count`` warns within ``within`` → ``action`` (TIMEOUT / TEMPBAN for ``duration``, KICK, BAN).

        Replaces the guild's rule for the same warn count. The rule fires on the
        warn that brings the user's live warns inside the window to exactly
        ``warn_count`` (see ``models/mod_settings.py``).
        """
        guild_id = snowflake("guild_id", guild_id)
        count = integer("warn_count", warn_count, minimum=MIN_WARN_COUNT, maximum=MAX_WARN_COUNT)
        window = _duration("within", within)
        kind = validate_enum("action", CaseType, action)
        lasting = None if duration is None else _duration("duration", duration)
        checked = validate(
            EscalationRuleCreate,
            {
                "guild_id": guild_id,
                "warn_count": count,
                "window_seconds": window,
                "action": kind,
                "duration_seconds": lasting,
            },
        )
        values = checked.model_dump()
        stmt = insert(EscalationRule).values(**values, **actor_columns(EscalationRule, "insert"))
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "warn_count"],
            set_={
                **{name: stmt.excluded[name] for name in ("window_seconds", "action", "duration_seconds")},
                **actor_columns(EscalationRule, "update"),
                "updated_at": func.now(),
            },
        ).returning(EscalationRule)
        async with self._audited(guild_id) as session:
            rule = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            return EscalationRuleRead.model_validate(rule)

    async def remove_rule(self, guild_id: int, warn_count: int) -> bool:
        """Delete the guild's rule for ``warn_count``; False when there was none."""
        guild_id = snowflake("guild_id", guild_id)
        count = integer("warn_count", warn_count, minimum=MIN_WARN_COUNT, maximum=MAX_WARN_COUNT)
        stmt = delete(EscalationRule).where(
            col(EscalationRule.guild_id) == guild_id, col(EscalationRule.warn_count) == count
        )
        async with self._audited(guild_id) as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def escalation_of(self, guild_id: int, number: int) -> CaseRead | None:
        """The follow-up case that warn ``number`` caused, or None.

        The follow-up is created in the warn's transaction, under the guild's
        case counter, so it is the case numbered right after the warn; its
        ``details`` name the warn.
        """
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        stmt = select(Case).where(
            col(Case.guild_id) == guild_id,
            col(Case.number) == number + 1,
            col(Case.details)[ESCALATED_FROM].as_integer() == number,
        )
        async with self._write() as session:
            found = (await session.scalars(stmt)).one_or_none()
            return None if found is None else CaseRead.model_validate(found)

    # -- helpers -----------------------------------------------------------------------
    async def _set_action(self, row: ModActionConfigCreate, field: str) -> ModSettingsRead:
        """Upsert one setting of a case type; a row left with no setting at all is deleted."""
        value = getattr(row, field)
        other = next(name for name in ("default_duration_seconds", "log_channel_id") if name != field)
        key = (col(ModActionConfig.guild_id) == row.guild_id, col(ModActionConfig.type) == row.type)
        async with self._audited(row.guild_id) as session:
            if value is None:  # clearing: the row goes if nothing else is set, else only this column
                await session.execute(delete(ModActionConfig).where(*key, getattr(ModActionConfig, other).is_(None)))
                await session.execute(
                    update(ModActionConfig)
                    .where(*key)
                    .values({field: None, "updated_at": func.now(), **actor_columns(ModActionConfig, "update")})
                )
            else:
                stmt = insert(ModActionConfig).values(
                    guild_id=row.guild_id, type=row.type, **{field: value}, **actor_columns(ModActionConfig, "insert")
                )
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["guild_id", "type"],
                        set_={field: value, **actor_columns(ModActionConfig, "update"), "updated_at": func.now()},
                    )
                )
        return await self.get(row.guild_id)

    @asynccontextmanager
    async def _audited(self, guild_id: int) -> AsyncIterator[AsyncSession]:
        """One settings write: serialised per guild, audited (changed settings only), cache dropped after commit.

        The advisory lock makes "before" the state this write changed, even
        when two staff members edit the same guild's settings at once.
        """
        async with self._write() as session:
            key = func.hashtextextended(f"mod_settings:{guild_id}", 0)  # one bigint key per guild's settings
            await session.execute(select(func.pg_advisory_xact_lock(key)))
            before = _flat(await _read(session, guild_id))
            yield session
            after = _flat(await _read(session, guild_id))
            await record_audit(
                session,
                AuditAction.MOD_SETTINGS,
                AuditEntity.MOD_SETTINGS,
                guild_id,
                guild_id=guild_id,
                before=before,
                after=after,
            )
            self._stale(session, mod_settings_key(guild_id))


def _flat(settings: ModSettingsRead) -> dict[str, Any]:
    """The settings as one flat mapping, so the audit row names exactly the setting that changed."""
    flat: dict[str, Any] = settings.model_dump(mode="json", exclude={"guild_id", "actions", "rules"})
    for action in settings.actions:
        flat[f"{action.type.value}.default_duration_seconds"] = action.default_duration_seconds
        flat[f"{action.type.value}.log_channel_id"] = action.log_channel_id
    for rule in settings.rules:
        flat[f"escalation.{rule.warn_count}"] = rule.model_dump(
            mode="json", include={"window_seconds", "action", "duration_seconds"}
        )
    return flat


def _duration(field: str, value: object) -> int:
    """A positive ``timedelta`` argument, as the whole seconds stored (at least one)."""
    checked = seconds(duration(field, value, minimum=timedelta(seconds=1)))
    assert checked is not None  # noqa: S101 - duration() returned a timedelta
    return checked
