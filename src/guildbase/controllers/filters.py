"""Message filters (R15.4): manage a guild's rules, and check a message against its compiled filters.

``check`` is the message path, compiled and cached like the autoresponders
(``controllers.matchers``): one scan per kind of rule, the hits counted in the
batched buffer. What to do with a caught message is the caller's (the bot
deletes it, warns or times out through ``db.cases``, or only logs it); the
verdict says which action is the most severe one asked for.
"""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.controllers.matchers import Compiled, CompiledCodec, HitCounter
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.stale import stale_keys
from guildbase.db.validation import duration, flag, integer, positive, snowflake, snowflakes, text, texts, validate_enum
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.matching.filters import SEVERITY, FilterHit, FilterMatcher, FilterRule
from guildbase.matching.patterns import check_regex
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.filters import (
    MAX_ALLOWED_GUILDS,
    MAX_EXEMPT_IDS,
    MAX_FILTER_WORDS,
    MAX_FILTERS,
    MAX_TIMEOUT_SECONDS,
    WORD_MAX_LENGTH,
    FilterAction,
    FilterKind,
    MessageFilter,
    MessageFilterRead,
)
from guildbase.services.keys import guild_key

__all__ = ["FilterController", "FilterVerdict", "filters_key"]

CONTENT_MAX_LENGTH = 100_000
DEFAULT_TIMEOUT = timedelta(minutes=10)
_FIELDS = (
    "kind",
    "action",
    "pattern",
    "is_case_sensitive",
    "words",
    "is_allowlist",
    "threshold",
    "allowed_guild_ids",
    "timeout_seconds",
    "exempt_channel_ids",
    "exempt_role_ids",
    "is_enabled",
)

_COMPILED = ("filter_id", *(name for name in _FIELDS if name != "is_enabled"))
"""The columns the message path needs: what the compiled matcher and its cache hold."""


def filters_key(guild_id: int) -> str:
    """Cache key of a guild's compiled filters; dropped by every write of this controller."""
    return guild_key(guild_id, "filters")


stale_keys(MessageFilter, lambda row: (filters_key(row.guild_id),))


class FilterVerdict(BaseModel):
    """What a message broke: every hit, and the most severe action they ask for (None: nothing)."""

    model_config = ConfigDict(frozen=True)

    hits: tuple[FilterHit, ...] = ()
    action: FilterAction | None = None
    timeout_seconds: int | None = None
    """For a TIMEOUT: the longest timeout the timeout rules ask for."""
    allowed_guild_ids: frozenset[int] = frozenset()
    """For an invite hit: the guilds its rule lets members invite to."""


def _compile(rows: list[dict[str, Any]]) -> FilterMatcher:
    return FilterMatcher(
        [
            FilterRule(
                row["filter_id"],
                FilterKind(row["kind"]),
                FilterAction(row["action"]),
                row["pattern"],
                row["is_case_sensitive"],
                tuple(row["words"]),
                row["is_allowlist"],
                row["threshold"],
                frozenset(row["exempt_channel_ids"]),
                frozenset(row["exempt_role_ids"]),
            )
            for row in rows
        ]
    )


class FilterController(Controller):
    """A guild's message filters; ``check`` judges one message."""

    def __init__(self, db: UnitOfWork) -> None:
        super().__init__(db)
        self._codec: CompiledCodec[FilterMatcher] = CompiledCodec(_compile, "filter_id")
        self._hits = HitCounter("message_filter", "filter_id")

    async def matcher(self, guild_id: int) -> Compiled[FilterMatcher]:
        """The guild's enabled rules, compiled (cached in process; rebuilt after any change)."""
        guild_id = snowflake("guild_id", guild_id)

        async def load() -> Compiled[FilterMatcher]:
            stmt = (
                select(*(MessageFilter.__table__.c[name] for name in _COMPILED))  # type: ignore[attr-defined]
                .where(col(MessageFilter.guild_id) == guild_id, col(MessageFilter.is_enabled))
                .order_by(col(MessageFilter.filter_id))
            )
            async with self._write() as session:
                rows = [dict(row) for row in (await session.execute(stmt)).mappings()]
            return self._codec.loaded(rows)

        found = await self._db.cache.read_through(
            filters_key(guild_id), load, ttl=self._db.settings.cache_ttl_seconds, codec=self._codec
        )
        assert found is not None  # noqa: S101 - the loader always returns a value
        return found

    async def check(
        self, guild_id: int, channel_id: int, content: str, role_ids: Sequence[int] = (), mentions: int = 0
    ) -> FilterVerdict:
        """Every rule the message breaks (``mentions``: its distinct user and role mentions)."""
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        content = text("content", content, max_length=CONTENT_MAX_LENGTH)
        roles = frozenset(snowflakes("role_ids", role_ids, max_items=500))
        mentions = integer("mentions", mentions, minimum=0, maximum=100_000)
        compiled = await self.matcher(guild_id)
        hits = compiled.matcher.check(content, channel_id, roles, mentions)
        if not hits:
            return FilterVerdict()
        if self._hits.add(hit.rule_id for hit in hits):
            await self._hits.flush_quietly(self)
        rows = compiled.by_id
        action = max((hit.action for hit in hits), key=SEVERITY.__getitem__)
        timeouts = [rows[h.rule_id]["timeout_seconds"] for h in hits if h.action is FilterAction.TIMEOUT]
        allowed = [g for h in hits if h.kind is FilterKind.INVITES for g in rows[h.rule_id]["allowed_guild_ids"]]
        return FilterVerdict(
            hits=tuple(hits),
            action=action,
            timeout_seconds=max(timeouts) if timeouts else None,
            allowed_guild_ids=frozenset(allowed),
        )

    async def flush_hits(self) -> int:
        """Write the buffered hit counts now (``Database.close`` does it too); how many hits were written."""
        return await self._hits.flush(self)

    async def add_words(
        self, guild_id: int, words: Sequence[str], action: FilterAction | str, **options: Any
    ) -> MessageFilterRead:
        """Catch messages holding any of ``words`` (case, look-alikes and repeated letters folded away)."""
        checked = _words(FilterKind.WORDS, words)
        return await self._create(guild_id, FilterKind.WORDS, action, {"words": checked}, options)

    async def add_regex(
        self, guild_id: int, regex: str, action: FilterAction | str, *, is_case_sensitive: bool = False, **options: Any
    ) -> MessageFilterRead:
        """Catch messages matching ``regex`` (RE2: checked for length, compiled size and syntax first)."""
        sensitive = flag("is_case_sensitive", is_case_sensitive)
        values = {"pattern": check_regex("regex", regex, is_case_sensitive=sensitive), "is_case_sensitive": sensitive}
        return await self._create(guild_id, FilterKind.REGEX, action, values, options)

    async def add_invites(
        self, guild_id: int, action: FilterAction | str, *, allowed_guild_ids: Sequence[int] = (), **options: Any
    ) -> MessageFilterRead:
        """Catch Discord invites, except to the guild itself and to ``allowed_guild_ids``."""
        allowed = sorted(set(snowflakes("allowed_guild_ids", allowed_guild_ids, max_items=MAX_ALLOWED_GUILDS)))
        return await self._create(guild_id, FilterKind.INVITES, action, {"allowed_guild_ids": allowed}, options)

    async def add_domains(
        self,
        guild_id: int,
        domains: Sequence[str],
        action: FilterAction | str,
        *,
        is_allowlist: bool = False,
        **options: Any,
    ) -> MessageFilterRead:
        """Catch links to ``domains`` (and their subdomains), or, as an allow list, to any other domain."""
        values: dict[str, Any] = {"words": _words(FilterKind.DOMAINS, domains, field="domains")}
        values["is_allowlist"] = flag("is_allowlist", is_allowlist)
        return await self._create(guild_id, FilterKind.DOMAINS, action, values, options)

    async def add_mentions(
        self, guild_id: int, threshold: int, action: FilterAction | str, **options: Any
    ) -> MessageFilterRead:
        """Catch messages with at least ``threshold`` distinct user and role mentions."""
        values = {"threshold": integer("threshold", threshold, minimum=1, maximum=100)}
        return await self._create(guild_id, FilterKind.MENTIONS, action, values, options)

    async def add_caps(
        self, guild_id: int, threshold: int, action: FilterAction | str, **options: Any
    ) -> MessageFilterRead:
        """Catch messages of at least 8 letters of which ``threshold`` percent or more are capitals."""
        values = {"threshold": integer("threshold", threshold, minimum=1, maximum=100)}
        return await self._create(guild_id, FilterKind.CAPS, action, values, options)

    async def _create(
        self,
        guild_id: object,
        kind: FilterKind,
        action: object,
        values: dict[str, Any],
        options: dict[str, Any],
    ) -> MessageFilterRead:
        """The rest of every ``add_…``: the options all kinds take (timeout, exemptions), then the insert."""
        unknown = sorted(set(options) - {"timeout_duration", "exempt_channel_ids", "exempt_role_ids"})
        if unknown:
            raise ValidationError.single(unknown[0], "unknown", "is not an option of a filter rule")
        values = {
            **values,
            "guild_id": snowflake("guild_id", guild_id),
            "kind": kind,
            "action": validate_enum("action", FilterAction, action),
            "exempt_channel_ids": _exempt("exempt_channel_ids", options.get("exempt_channel_ids", ())),
            "exempt_role_ids": _exempt("exempt_role_ids", options.get("exempt_role_ids", ())),
        }
        values["timeout_seconds"] = _timeout(values["action"], options.get("timeout_duration", DEFAULT_TIMEOUT))
        async with self._write() as session:
            await session.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(f"filters:{values['guild_id']}", 0)))
            )
            guild_rules = select(func.count()).where(col(MessageFilter.guild_id) == values["guild_id"])
            count = await session.scalar(guild_rules)
            if (count or 0) >= MAX_FILTERS:
                msg = f"guild {values['guild_id']} already has {MAX_FILTERS} filter rules (the limit)"
                raise ConflictError(msg)
            row = MessageFilter(**(values | actor_columns(MessageFilter, "insert")))
            session.add(row)
            await session.flush()
            read = MessageFilterRead.model_validate(row)
            await record_audit(
                session,
                AuditAction.FILTER_CREATE,
                AuditEntity.MESSAGE_FILTER,
                read.filter_id,
                guild_id=read.guild_id,
                after=read.model_dump(include=set(_FIELDS)),
            )
            self._stale(session, filters_key(read.guild_id))
            return read

    async def update(
        self,
        guild_id: int,
        filter_id: int,
        *,
        action: FilterAction | str | None = None,
        timeout_duration: timedelta | None = None,
        is_enabled: bool | None = None,
    ) -> MessageFilterRead:
        """Change a rule's action, its timeout (kept only by a timeout rule), or whether it is on."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("filter_id", filter_id)
        changes: dict[str, Any] = {}
        new_action = None if action is None else validate_enum("action", FilterAction, action)
        new_timeout = None if timeout_duration is None else _timeout(FilterAction.TIMEOUT, timeout_duration)
        if is_enabled is not None:
            changes["is_enabled"] = flag("is_enabled", is_enabled)
        return await self._change(guild_id, rule_id, changes, new_action, new_timeout)

    async def set_exemptions(
        self, guild_id: int, filter_id: int, *, channel_ids: Sequence[int] = (), role_ids: Sequence[int] = ()
    ) -> MessageFilterRead:
        """Replace the channels and roles a rule leaves alone."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("filter_id", filter_id)
        changes = {
            "exempt_channel_ids": _exempt("channel_ids", channel_ids),
            "exempt_role_ids": _exempt("role_ids", role_ids),
        }
        return await self._change(guild_id, rule_id, changes, None, None)

    async def _change(
        self,
        guild_id: int,
        rule_id: int,
        changes: dict[str, Any],
        new_action: FilterAction | None,
        new_timeout: int | None,
    ) -> MessageFilterRead:
        """Apply checked changes to one rule, audited, and drop the guild's compiled filters."""
        async with self._write() as session:
            before = await _one(session, guild_id, rule_id, lock=True)
            if new_action is not None or new_timeout is not None:  # a timeout is kept only by a timeout rule
                changes["action"] = new_action or before.action
                kept = new_timeout or before.timeout_seconds or _timeout(FilterAction.TIMEOUT, DEFAULT_TIMEOUT)
                changes["timeout_seconds"] = kept if changes["action"] is FilterAction.TIMEOUT else None
            if changes:
                await session.execute(
                    update(MessageFilter)
                    .where(col(MessageFilter.filter_id) == rule_id)
                    .values(**changes, **actor_columns(MessageFilter, "update"), updated_at=func.now())
                )
            after = await _one(session, guild_id, rule_id)
            await record_audit(
                session,
                AuditAction.FILTER_UPDATE,
                AuditEntity.MESSAGE_FILTER,
                rule_id,
                guild_id=guild_id,
                before=before.model_dump(include=set(_FIELDS)),
                after=after.model_dump(include=set(_FIELDS)),
            )
            self._stale(session, filters_key(guild_id))
            return after

    async def delete(self, guild_id: int, filter_id: int) -> bool:
        """Remove a rule; False when the guild has no such rule."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("filter_id", filter_id)
        stmt = (
            delete(MessageFilter)
            .where(col(MessageFilter.guild_id) == guild_id, col(MessageFilter.filter_id) == rule_id)
            .returning(MessageFilter)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt)).one_or_none()
            if row is None:
                return False
            await record_audit(
                session,
                AuditAction.FILTER_DELETE,
                AuditEntity.MESSAGE_FILTER,
                rule_id,
                guild_id=guild_id,
                before=MessageFilterRead.model_validate(row).model_dump(include=set(_FIELDS)),
            )
            self._stale(session, filters_key(guild_id))
            return True

    async def list_for(self, guild_id: int) -> list[MessageFilterRead]:
        """Every rule of the guild (enabled or not), oldest first, with its hit count."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            return await _rows(session, guild_id, enabled_only=False)


async def _rows(session: AsyncSession, guild_id: int, *, enabled_only: bool) -> list[MessageFilterRead]:
    stmt = select(MessageFilter).where(col(MessageFilter.guild_id) == guild_id)
    if enabled_only:
        stmt = stmt.where(col(MessageFilter.is_enabled))
    rows = await session.scalars(stmt.order_by(col(MessageFilter.filter_id)))
    return read_all(MessageFilterRead, rows)


async def _one(session: AsyncSession, guild_id: int, rule_id: int, *, lock: bool = False) -> MessageFilterRead:
    stmt = select(MessageFilter).where(col(MessageFilter.guild_id) == guild_id, col(MessageFilter.filter_id) == rule_id)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
    if row is None:
        msg = f"guild {guild_id} has no filter rule #{rule_id}"
        raise NotFoundError(msg)
    return MessageFilterRead.model_validate(row)


def _words(kind: FilterKind, words: object, *, field: str = "words") -> list[str]:
    items = [item.strip() for item in texts(field, words, max_length=WORD_MAX_LENGTH, min_items=1)]
    if len(items) > MAX_FILTER_WORDS:
        msg = f"must hold at most {MAX_FILTER_WORDS} entries, got {len(items)}"
        raise ValidationError.single(field, "max_items", msg)
    if any(not item or (kind is FilterKind.DOMAINS and (" " in item or "." not in item)) for item in items):
        raise ValidationError.single(field, "blank", "must hold words (or domains like example.com), not spaces")
    return [item.lower() for item in items] if kind is FilterKind.DOMAINS else items


def _exempt(field: str, values: object) -> list[int]:
    return sorted(set(snowflakes(field, values, max_items=MAX_EXEMPT_IDS)))


def _timeout(action: FilterAction, timeout: object) -> int | None:
    """The timeout a rule stores: checked always, kept only for the timeout action."""
    seconds = int(duration("timeout_duration", timeout, minimum=timedelta(seconds=1)).total_seconds())
    if seconds > MAX_TIMEOUT_SECONDS:
        raise ValidationError.single("timeout_duration", "range", "must be at most 28 days (Discord's limit)")
    return seconds if action is FilterAction.TIMEOUT else None
