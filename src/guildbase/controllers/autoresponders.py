"""Autoresponders (R15.2): manage a guild's triggers, and answer a message from its compiled matcher.

``respond`` is the message path: the guild's ``TriggerMatcher`` comes from the
in-process cache (``controllers.matchers``), one scan finds the triggers that
fire, the first one whose cooldown is free answers (the cooldown is one Redis
``SET NX PX``), and its hit is counted in the batched buffer. Every write
validates first, is audited in its transaction, and invalidates the guild's
matcher in every process after its commit.
"""

import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.controllers.matchers import Compiled, CompiledCodec, HitCounter, cooldown_key
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.stale import stale_keys
from guildbase.db.validation import duration, flag, positive, snowflake, snowflakes, text, texts, validate_enum
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.matching.patterns import MAX_PATTERN_LENGTH, check_regex
from guildbase.matching.triggers import MatchType, TriggerMatcher, TriggerRule
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.autoresponders import (
    MAX_AUTORESPONDERS,
    MAX_COOLDOWN_SECONDS,
    MAX_RESPONSES,
    MAX_SCOPE_IDS,
    RESPONSE_MAX_LENGTH,
    Autoresponder,
    AutoresponderRead,
    CooldownScope,
)
from guildbase.services.keys import guild_key

__all__ = ["AutoresponderController", "Autoresponse", "autoresponders_key", "render"]

CONTENT_MAX_LENGTH = 100_000
GUILD_NAME_MAX_LENGTH = 100
_SCOPES = ("channel_ids", "role_ids", "exempt_role_ids")
_FIELDS = (
    "pattern",
    "match_type",
    "is_case_sensitive",
    "responses",
    *_SCOPES,
    "cooldown_seconds",
    "cooldown_scope",
    "is_enabled",
)
_COMPILED = (
    "autoresponder_id",
    "pattern",
    "match_type",
    "is_case_sensitive",
    "responses",
    *_SCOPES,
    "cooldown_seconds",
    "cooldown_scope",
)
"""The columns the message path needs: what the compiled matcher and its cache hold."""
_random = random.SystemRandom()


def autoresponders_key(guild_id: int) -> str:
    """Cache key of a guild's compiled triggers; dropped by every write of this controller."""
    return guild_key(guild_id, "autoresponders")


stale_keys(Autoresponder, lambda row: (autoresponders_key(row.guild_id),))


def render(template: str, *, user_id: int, channel_id: int, guild_name: str) -> str:
    """A response with ``{user}``, ``{channel}`` and ``{guild}`` filled in (nothing else is a template)."""
    return (
        template.replace("{user}", f"<@{user_id}>")
        .replace("{channel}", f"<#{channel_id}>")
        .replace("{guild}", guild_name)
    )


class Autoresponse(BaseModel):
    """The trigger that answered a message, and its response already rendered."""

    model_config = ConfigDict(frozen=True)

    autoresponder_id: int
    text: str


def _compile(rows: list[dict[str, Any]]) -> TriggerMatcher:
    return TriggerMatcher(
        [
            TriggerRule(
                row["autoresponder_id"],
                row["pattern"],
                MatchType(row["match_type"]),
                row["is_case_sensitive"],
                frozenset(row["channel_ids"]),
                frozenset(row["role_ids"]),
                frozenset(row["exempt_role_ids"]),
            )
            for row in rows
        ]
    )


class AutoresponderController(Controller):
    """A guild's autoresponders; ``respond`` answers one message."""

    def __init__(self, db: UnitOfWork) -> None:
        super().__init__(db)
        self._codec: CompiledCodec[TriggerMatcher] = CompiledCodec(_compile, "autoresponder_id")
        self._hits = HitCounter("autoresponder", "autoresponder_id")

    # -- the message path ---------------------------------------------------------------
    async def matcher(self, guild_id: int) -> Compiled[TriggerMatcher]:
        """The guild's enabled triggers, compiled (cached in process; rebuilt after any change)."""
        guild_id = snowflake("guild_id", guild_id)

        async def load() -> Compiled[TriggerMatcher]:
            stmt = (
                select(*(Autoresponder.__table__.c[name] for name in _COMPILED))  # type: ignore[attr-defined]
                .where(col(Autoresponder.guild_id) == guild_id, col(Autoresponder.is_enabled))
                .order_by(col(Autoresponder.autoresponder_id))
            )
            async with self._write() as session:
                rows = [dict(row) for row in (await session.execute(stmt)).mappings()]
            return self._codec.loaded(rows)

        found = await self._db.cache.read_through(
            autoresponders_key(guild_id), load, ttl=self._db.settings.cache_ttl_seconds, codec=self._codec
        )
        assert found is not None  # noqa: S101 - the loader always returns a value
        return found

    async def respond(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        content: str,
        role_ids: Sequence[int] = (),
        *,
        guild_name: str = "",
    ) -> Autoresponse | None:
        """The answer to a message, or None: the first firing trigger whose cooldown is free answers."""
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        user_id = snowflake("user_id", user_id)
        content = text("content", content, max_length=CONTENT_MAX_LENGTH)
        roles = frozenset(snowflakes("role_ids", role_ids, max_items=500))
        guild_name = text("guild_name", guild_name, max_length=GUILD_NAME_MAX_LENGTH)
        compiled = await self.matcher(guild_id)
        fired = compiled.matcher.match(content, channel_id, roles)
        if not fired:
            return None
        for rule_id in fired:
            row = compiled.by_id[rule_id]
            if not await self._cooldown_free(guild_id, row, user_id, channel_id):
                continue
            if self._hits.add((rule_id,)):
                await self._hits.flush_quietly(self)
            chosen = _random.choice(row["responses"])
            answer = render(chosen, user_id=user_id, channel_id=channel_id, guild_name=guild_name)
            return Autoresponse(autoresponder_id=rule_id, text=answer)
        return None

    async def flush_hits(self) -> int:
        """Write the buffered hit counts now (``Database.close`` does it too); how many hits were written."""
        return await self._hits.flush(self)

    async def _cooldown_free(self, guild_id: int, row: dict[str, Any], user_id: int, channel_id: int) -> bool:
        """Take the trigger's cooldown for this user (or channel); False when it is still running.

        Redis holds the cooldown, so it is shared by every bot process; while
        Redis is unreachable cooldowns are not enforced (answers may repeat).
        """
        seconds = row["cooldown_seconds"]
        if not seconds:
            return True
        holder = user_id if row["cooldown_scope"] == CooldownScope.USER.value else channel_id
        key = cooldown_key(guild_id, row["autoresponder_id"], holder)
        cache = self._db.cache
        taken = await cache.guard(
            lambda: cache.batcher.execute("SET", key, "1", "NX", "PX", seconds * 1000), fallback=True
        )
        return taken is not None

    # -- management -----------------------------------------------------------------------
    async def create(
        self,
        guild_id: int,
        pattern: str,
        responses: Sequence[str],
        *,
        match_type: MatchType | str = MatchType.CONTAINS,
        is_case_sensitive: bool = False,
        channel_ids: Sequence[int] = (),
        role_ids: Sequence[int] = (),
        exempt_role_ids: Sequence[int] = (),
        cooldown: timedelta = timedelta(0),
        cooldown_scope: CooldownScope | str = CooldownScope.USER,
    ) -> AutoresponderRead:
        """Add a trigger; a regex is checked by RE2 first (length, compiled size, syntax)."""
        values: dict[str, Any] = {
            "guild_id": snowflake("guild_id", guild_id),
            "match_type": validate_enum("match_type", MatchType, match_type),
            "is_case_sensitive": flag("is_case_sensitive", is_case_sensitive),
            "responses": _responses(responses),
            "channel_ids": _ids("channel_ids", channel_ids),
            "role_ids": _ids("role_ids", role_ids),
            "exempt_role_ids": _ids("exempt_role_ids", exempt_role_ids),
            "cooldown_seconds": _cooldown(cooldown),
            "cooldown_scope": validate_enum("cooldown_scope", CooldownScope, cooldown_scope),
        }
        values["pattern"] = _pattern(pattern, values["match_type"], values["is_case_sensitive"])
        async with self._write() as session:
            await _lock_guild(session, values["guild_id"])
            count = await session.scalar(select(func.count()).where(col(Autoresponder.guild_id) == values["guild_id"]))
            if (count or 0) >= MAX_AUTORESPONDERS:
                msg = f"guild {values['guild_id']} already has {MAX_AUTORESPONDERS} autoresponders (the limit)"
                raise ConflictError(msg)
            row = Autoresponder(**(values | actor_columns(Autoresponder, "insert")))
            session.add(row)
            await session.flush()
            read = AutoresponderRead.model_validate(row)
            await record_audit(
                session,
                AuditAction.AUTORESPONDER_CREATE,
                AuditEntity.AUTORESPONDER,
                read.autoresponder_id,
                guild_id=read.guild_id,
                after=read.model_dump(include=set(_FIELDS)),
            )
            self._stale(session, autoresponders_key(read.guild_id))
            return read

    async def update(
        self,
        guild_id: int,
        autoresponder_id: int,
        *,
        is_enabled: bool | None = None,
        cooldown: timedelta | None = None,
        cooldown_scope: CooldownScope | str | None = None,
    ) -> AutoresponderRead:
        """Turn a trigger on or off, or change its cooldown; only what is given changes."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("autoresponder_id", autoresponder_id)
        changes: dict[str, Any] = {}
        if is_enabled is not None:
            changes["is_enabled"] = flag("is_enabled", is_enabled)
        if cooldown is not None:
            changes["cooldown_seconds"] = _cooldown(cooldown)
        if cooldown_scope is not None:
            changes["cooldown_scope"] = validate_enum("cooldown_scope", CooldownScope, cooldown_scope)
        return await self._change(guild_id, rule_id, changes)

    async def set_responses(self, guild_id: int, autoresponder_id: int, responses: Sequence[str]) -> AutoresponderRead:
        """Replace what a trigger answers (1-10 responses, one picked at random)."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("autoresponder_id", autoresponder_id)
        return await self._change(guild_id, rule_id, {"responses": _responses(responses)})

    async def set_scope(
        self,
        guild_id: int,
        autoresponder_id: int,
        *,
        channel_ids: Sequence[int] = (),
        role_ids: Sequence[int] = (),
        exempt_role_ids: Sequence[int] = (),
    ) -> AutoresponderRead:
        """Replace where a trigger applies (empty lists: every channel, every member, nobody exempt)."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("autoresponder_id", autoresponder_id)
        scope = {
            name: _ids(name, given)
            for name, given in zip(_SCOPES, (channel_ids, role_ids, exempt_role_ids), strict=True)
        }
        return await self._change(guild_id, rule_id, scope)

    async def _change(self, guild_id: int, rule_id: int, changes: dict[str, Any]) -> AutoresponderRead:
        """Apply checked ``changes`` to one trigger, audited, and drop the guild's compiled matcher."""
        async with self._write() as session:
            before = await _one(session, guild_id, rule_id, lock=True)
            if changes:
                stmt = (
                    update(Autoresponder)
                    .where(col(Autoresponder.autoresponder_id) == rule_id)
                    .values(**changes, **actor_columns(Autoresponder, "update"), updated_at=func.now())
                )
                await session.execute(stmt)
            after = await _one(session, guild_id, rule_id)
            await record_audit(
                session,
                AuditAction.AUTORESPONDER_UPDATE,
                AuditEntity.AUTORESPONDER,
                rule_id,
                guild_id=guild_id,
                before=before.model_dump(include=set(_FIELDS)),
                after=after.model_dump(include=set(_FIELDS)),
            )
            self._stale(session, autoresponders_key(guild_id))
            return after

    async def delete(self, guild_id: int, autoresponder_id: int) -> bool:
        """Remove a trigger; False when the guild has no such trigger."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("autoresponder_id", autoresponder_id)
        stmt = (
            delete(Autoresponder)
            .where(col(Autoresponder.guild_id) == guild_id, col(Autoresponder.autoresponder_id) == rule_id)
            .returning(Autoresponder)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt)).one_or_none()
            if row is None:
                return False
            before = AutoresponderRead.model_validate(row)
            await record_audit(
                session,
                AuditAction.AUTORESPONDER_DELETE,
                AuditEntity.AUTORESPONDER,
                rule_id,
                guild_id=guild_id,
                before=before.model_dump(include=set(_FIELDS)),
            )
            self._stale(session, autoresponders_key(guild_id))
            return True

    async def get(self, guild_id: int, autoresponder_id: int) -> AutoresponderRead | None:
        """One trigger of the guild, or None."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("autoresponder_id", autoresponder_id)
        async with self._write() as session:
            return await _find(session, guild_id, rule_id)

    async def list_for(self, guild_id: int) -> list[AutoresponderRead]:
        """Every trigger of the guild (enabled or not), oldest first, with its hit count."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            return await _rows(session, guild_id, enabled_only=False)


async def _rows(session: AsyncSession, guild_id: int, *, enabled_only: bool) -> list[AutoresponderRead]:
    stmt = select(Autoresponder).where(col(Autoresponder.guild_id) == guild_id)
    if enabled_only:
        stmt = stmt.where(col(Autoresponder.is_enabled))
    rows = await session.scalars(stmt.order_by(col(Autoresponder.autoresponder_id)))
    return read_all(AutoresponderRead, rows)


async def _find(session: AsyncSession, guild_id: int, rule_id: int, *, lock: bool = False) -> AutoresponderRead | None:
    stmt = select(Autoresponder).where(
        col(Autoresponder.guild_id) == guild_id, col(Autoresponder.autoresponder_id) == rule_id
    )
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
    return None if row is None else AutoresponderRead.model_validate(row)


async def _one(session: AsyncSession, guild_id: int, rule_id: int, *, lock: bool = False) -> AutoresponderRead:
    found = await _find(session, guild_id, rule_id, lock=lock)
    if found is None:
        msg = f"guild {guild_id} has no autoresponder #{rule_id}"
        raise NotFoundError(msg)
    return found


async def _lock_guild(session: AsyncSession, guild_id: int) -> None:
    """Serialise creations in one guild, so the per-guild limit holds under concurrent commands."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"autoresponders:{guild_id}", 0))))


def _pattern(pattern: object, match_type: MatchType, is_case_sensitive: bool) -> str:
    if match_type is MatchType.REGEX:
        return check_regex("pattern", pattern, is_case_sensitive=is_case_sensitive)
    checked = text("pattern", pattern, min_length=1, max_length=MAX_PATTERN_LENGTH)
    if not checked.strip():
        raise ValidationError.single("pattern", "blank", "must hold more than spaces")
    return checked


def _responses(responses: object) -> list[str]:
    items = texts("responses", responses, max_length=RESPONSE_MAX_LENGTH, min_items=1)
    if len(items) > MAX_RESPONSES:
        raise ValidationError.single("responses", "max_items", f"must hold at most {MAX_RESPONSES}, got {len(items)}")
    return items


def _ids(field: str, values: object) -> list[int]:
    return sorted(set(snowflakes(field, values, max_items=MAX_SCOPE_IDS)))


def _cooldown(value: object) -> int:
    checked = duration("cooldown", value)
    seconds = int(checked.total_seconds())
    if seconds > MAX_COOLDOWN_SECONDS:
        msg = f"must be at most {MAX_COOLDOWN_SECONDS // 86_400} days, got {seconds} seconds"
        raise ValidationError.single("cooldown", "range", msg)
    return seconds
