"""Core rules: guild join/leave, configuration, features, members, blacklists, counters."""

import json
from collections.abc import Mapping
from datetime import datetime
from time import monotonic, time
from typing import Any

from sqlalchemy import BigInteger, and_, any_, bindparam, case, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.db.context import current_actor
from guildbase.db.fast import prepare
from guildbase.db.stale import stale_keys
from guildbase.db.types import utcnow, validate_snowflake
from guildbase.db.validation import validate, validate_enum
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.core import (
    DEFAULT_FEATURES,
    MAX_EXTRA_PREFIXES,
    BlacklistEntryCreate,
    BlacklistEntryRead,
    BlacklistTarget,
    CounterKind,
    DiscordUser,
    Feature,
    GlobalBlacklist,
    Guild,
    GuildBase,
    GuildConfig,
    GuildConfigRead,
    GuildConfigUpdate,
    GuildCounter,
    GuildFeature,
    GuildRead,
    Member,
    MemberBase,
    MemberRead,
)
from guildbase.services.batchload import BatchLoader
from guildbase.services.cache import ModelCodec
from guildbase.services.keys import global_key, guild_key


def config_key(guild_id: int) -> str:
    """Cache key of a guild's ``GuildConfigRead``; dropped by every config write."""
    return guild_key(guild_id, "config")


def features_key(guild_id: int) -> str:
    """Cache key of a guild's effective feature map; dropped by ``set_feature``."""
    return guild_key(guild_id, "features")


def guild_cache_keys(guild_id: int) -> tuple[str, ...]:
    """Every key this module caches for a guild (dropped when the guild is deleted)."""
    return config_key(guild_id), features_key(guild_id)


# Model CRUD on these rows (a script's ``GuildConfig.update(session, …)``) drops the same keys.
stale_keys(Guild, lambda row: guild_cache_keys(row.guild_id))
stale_keys(GuildConfig, lambda row: (config_key(row.guild_id),))
stale_keys(GuildFeature, lambda row: (features_key(row.guild_id),))


def snowflake(field: str, value: Any) -> int:
    """Validate one ID argument, naming the argument in the error."""
    try:
        return validate_snowflake(value)
    except ValueError as error:
        raise ValidationError.single(field, "snowflake", str(error)) from None


async def next_number(session: AsyncSession, guild_id: int, kind: CounterKind) -> int:
    """Take the next per-guild number in ONE statement, inside the caller's transaction.

    ``INSERT … ON CONFLICT DO UPDATE SET last_value = last_value + 1`` holds the
    counter row's lock until the caller commits, so concurrent writers queue
    on it instead of racing; a rollback gives the number back.
    """
    stmt = (
        insert(GuildCounter)
        .values(guild_id=guild_id, kind=kind, last_value=1)
        .on_conflict_do_update(
            index_elements=["guild_id", "kind"],
            set_={"last_value": col(GuildCounter.last_value) + 1},
        )
        .returning(col(GuildCounter.last_value))
    )
    return int((await session.execute(stmt)).scalar_one())


class GuildController(Controller):
    """Guild lifecycle. ``join`` is idempotent and safe to call from every shard at once."""

    async def join(self, guild_id: int, *, name: str | None = None, joined_at: datetime | None = None) -> GuildRead:
        """Record that the bot is in a guild, creating its default config in the same transaction."""
        checked = validate(GuildBase, {"guild_id": guild_id, "name": name})
        when = joined_at or utcnow()
        stmt = insert(Guild).values(guild_id=checked.guild_id, name=checked.name, joined_at=when)
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id"],
            set_={
                "name": func.coalesce(stmt.excluded.name, col(Guild.name)),
                "joined_at": case(
                    (col(Guild.left_at).is_not(None), stmt.excluded.joined_at), else_=col(Guild.joined_at)
                ),
                "left_at": None,
                "updated_at": func.now(),
            },
        ).returning(Guild)
        async with self._write() as session:
            guild = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            await session.execute(insert(GuildConfig).values(guild_id=checked.guild_id).on_conflict_do_nothing())
            return GuildRead.model_validate(guild)

    async def leave(self, guild_id: int) -> bool:
        """Mark the guild as left; its data stays until ``delete`` (or retention) removes it."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            result = await session.execute(
                update(Guild)
                .where(col(Guild.guild_id) == guild_id, col(Guild.left_at).is_(None))
                .values(left_at=func.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def get(self, guild_id: int) -> GuildRead | None:
        """The guild, or None if the bot never joined it."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            guild = await Guild.get(session, guild_id)
            return None if guild is None else GuildRead.model_validate(guild)

    async def delete(self, guild_id: int) -> bool:
        """Delete the guild and, by cascade, every guild-scoped row."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            result = await session.execute(delete(Guild).where(col(Guild.guild_id) == guild_id))
            self._stale(session, *guild_cache_keys(guild_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


_CONFIGS = prepare(
    select(GuildConfig).where(col(GuildConfig.guild_id) == any_(bindparam("guild_ids", type_=ARRAY(BigInteger))))
)
_CONFIG_CODEC = ModelCodec(GuildConfigRead)


class GuildConfigController(Controller):
    """Per-guild settings: prefixes, channels, roles, welcome message, feature toggles.

    ``get`` returns a shared, read-only ``GuildConfigRead`` on cache hits: do not mutate it.
    """

    def __init__(self, db: UnitOfWork) -> None:
        super().__init__(db)
        # The local cache's config entries, mirrored by guild ID (see ``LocalCache.mirror``).
        self._hot: dict[Any, tuple[float, GuildConfigRead]] = {}
        self._loader = BatchLoader(self._fetch_many)

    async def get(self, guild_id: int) -> GuildConfigRead:
        """The guild's full configuration: local LRU → Redis → PostgreSQL (read-through).

        A local hit is one dict lookup: only IDs that passed validation are ever
        stored, so an invalid ID simply misses and is rejected below.
        """
        hot = self._hot.get(guild_id)
        if hot is not None and hot[0] > monotonic():
            return hot[1]
        guild_id = snowflake("guild_id", guild_id)

        key = config_key(guild_id)
        cache = self._db.cache
        result = await cache.read_through(
            key, lambda: self._loader.load(guild_id), ttl=self._db.settings.cache_ttl_seconds, codec=_CONFIG_CODEC
        )
        if result is None:
            raise _no_config(guild_id)
        cache.local.mirror(key, self._hot, guild_id)
        return result

    async def _fetch_many(self, guild_ids: list[int]) -> dict[int, GuildConfigRead]:
        """Every config asked for in one loop turn, in one prepared ``= ANY($1)`` query."""
        async with self._fast(transaction=False) as unit:
            rows = await _CONFIGS.fetch(unit.connection, {"guild_ids": guild_ids})
        return {row["guild_id"]: GuildConfigRead.model_validate(dict(row)) for row in rows}

    async def update(
        self, guild_id: int, changes: GuildConfigUpdate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> GuildConfigRead:
        """Change only the given fields; a bad value raises before anything is written."""
        guild_id = snowflake("guild_id", guild_id)
        given = dict(
            changes.model_dump(exclude_unset=True) if isinstance(changes, GuildConfigUpdate) else changes or {}
        )
        given |= fields
        checked = validate(GuildConfigUpdate, given)
        values = checked.model_dump(include=set(given))
        if not values:
            return await self.get(guild_id)
        values |= {"updated_at": func.now(), "updated_by": current_actor()}
        async with self._write() as session:
            stmt = (
                update(GuildConfig).where(col(GuildConfig.guild_id) == guild_id).values(**values).returning(GuildConfig)
            )
            config = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
            if config is None:
                raise _no_config(guild_id)
            self._stale(session, config_key(guild_id))
            return GuildConfigRead.model_validate(config)

    async def get_prefixes(self, guild_id: int) -> list[str]:
        """The primary prefix first, then the extra ones."""
        return (await self.get(guild_id)).prefixes

    async def set_prefix(self, guild_id: int, prefix: str) -> GuildConfigRead:
        """Replace the primary prefix."""
        return await self.update(guild_id, prefix=prefix)

    async def add_prefix(self, guild_id: int, prefix: str) -> list[str]:
        """Add an extra prefix; the row is locked so concurrent edits cannot lose one."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            config = await self._locked(session, guild_id)
            if prefix == config.prefix or prefix in config.extra_prefixes:
                msg = f"prefix: {prefix!r} is already a prefix of guild {guild_id}"
                raise ConflictError(msg)
            if len(config.extra_prefixes) >= MAX_EXTRA_PREFIXES:
                raise ValidationError.single(
                    "extra_prefixes", "max_items", f"at most {MAX_EXTRA_PREFIXES} extra prefixes; remove one first"
                )
            checked = validate(GuildConfigUpdate, {"extra_prefixes": [*config.extra_prefixes, prefix]})
            config.extra_prefixes = checked.extra_prefixes
            await session.flush()
            self._stale(session, config_key(guild_id))
            return [config.prefix, *config.extra_prefixes]

    async def remove_prefix(self, guild_id: int, prefix: str) -> list[str]:
        """Remove an extra prefix (the primary one can only be replaced)."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            config = await self._locked(session, guild_id)
            if prefix not in config.extra_prefixes:
                msg = f"prefix: {prefix!r} is not an extra prefix of guild {guild_id}"
                raise NotFoundError(msg)
            config.extra_prefixes = [p for p in config.extra_prefixes if p != prefix]
            await session.flush()
            self._stale(session, config_key(guild_id))
            return [config.prefix, *config.extra_prefixes]

    async def set_feature(self, guild_id: int, feature: Feature | str, *, enabled: bool) -> dict[Feature, bool]:
        """Turn a feature on or off for one guild; returns the guild's full feature map."""
        guild_id = snowflake("guild_id", guild_id)
        checked = validate_enum("feature", Feature, feature)
        stmt = insert(GuildFeature).values(
            guild_id=guild_id,
            feature=checked,
            is_enabled=enabled,
            created_by=current_actor(),
            updated_by=current_actor(),
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "feature"],
            set_={
                "is_enabled": stmt.excluded.is_enabled,
                "updated_by": stmt.excluded.updated_by,
                "updated_at": func.now(),
            },
        )
        async with self._write() as session:
            await session.execute(upsert)
            self._stale(session, features_key(guild_id))
            return await self._features(session, guild_id)

    async def features(self, guild_id: int) -> dict[Feature, bool]:
        """Every feature with its effective state (explicit toggle, else default); cached."""
        guild_id = snowflake("guild_id", guild_id)

        async def load() -> dict[str, bool]:
            async with self._write() as session:
                return {feature.value: on for feature, on in (await self._features(session, guild_id)).items()}

        data = await self._db.cache.read_through(features_key(guild_id), load, ttl=self._db.settings.cache_ttl_seconds)
        return DEFAULT_FEATURES | {Feature(name): bool(on) for name, on in (data or {}).items()}

    async def is_enabled(self, guild_id: int, feature: Feature | str) -> bool:
        """Whether ``feature`` is on for this guild."""
        checked = validate_enum("feature", Feature, feature)
        return (await self.features(guild_id))[checked]

    async def _features(self, session: AsyncSession, guild_id: int) -> dict[Feature, bool]:
        rows = await session.execute(
            select(col(GuildFeature.feature), col(GuildFeature.is_enabled)).where(
                col(GuildFeature.guild_id) == guild_id
            )
        )
        return DEFAULT_FEATURES | {Feature(feature): bool(enabled) for feature, enabled in rows}

    async def _locked(self, session: AsyncSession, guild_id: int) -> GuildConfig:
        stmt = select(GuildConfig).where(col(GuildConfig.guild_id) == guild_id).with_for_update()
        config = (await session.scalars(stmt)).one_or_none()
        if config is None:
            raise _no_config(guild_id)
        return config


class MemberController(Controller):
    """Users as members of guilds, and the guild-level member blacklist."""

    async def ensure(self, guild_id: int, user_id: int, *, is_bot: bool = False) -> MemberRead:
        """Record (or re-record after a leave) a member; safe under concurrent calls."""
        checked = validate(MemberBase, {"guild_id": guild_id, "user_id": user_id})
        async with self._write() as session:
            await session.execute(
                insert(DiscordUser).values(user_id=checked.user_id, is_bot=is_bot).on_conflict_do_nothing()
            )
            stmt = insert(Member).values(guild_id=checked.guild_id, user_id=checked.user_id)
            upsert = stmt.on_conflict_do_update(
                index_elements=["guild_id", "user_id"],
                set_={
                    "left_at": None,
                    "joined_at": case((col(Member.left_at).is_not(None), func.now()), else_=col(Member.joined_at)),
                },
            ).returning(Member)
            member = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            return MemberRead.model_validate(member)

    async def get(self, guild_id: int, user_id: int) -> MemberRead | None:
        """The member, or None if never seen."""
        key = (snowflake("guild_id", guild_id), snowflake("user_id", user_id))
        async with self._write() as session:
            member = await Member.get(session, key)
            return None if member is None else MemberRead.model_validate(member)

    async def leave(self, guild_id: int, user_id: int) -> bool:
        """Mark a member as gone; per-guild data stays (levels survive a rejoin)."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        async with self._write() as session:
            result = await session.execute(
                update(Member)
                .where(col(Member.guild_id) == guild_id, col(Member.user_id) == user_id, col(Member.left_at).is_(None))
                .values(left_at=func.now(), updated_at=func.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_blacklisted(
        self, guild_id: int, user_id: int, *, blacklisted: bool, reason: str | None = None
    ) -> MemberRead:
        """Block (or unblock) a user from using the bot in one guild."""
        checked = validate(
            MemberBase,
            {"guild_id": guild_id, "user_id": user_id, "is_blacklisted": blacklisted, "blacklist_reason": reason},
        )
        async with self._write() as session:
            await session.execute(insert(DiscordUser).values(user_id=checked.user_id).on_conflict_do_nothing())
            stmt = insert(Member).values(
                guild_id=checked.guild_id,
                user_id=checked.user_id,
                is_blacklisted=blacklisted,
                blacklist_reason=checked.blacklist_reason if blacklisted else None,
            )
            upsert = stmt.on_conflict_do_update(
                index_elements=["guild_id", "user_id"],
                set_={
                    "is_blacklisted": stmt.excluded.is_blacklisted,
                    "blacklist_reason": stmt.excluded.blacklist_reason,
                    "updated_at": func.now(),
                },
            ).returning(Member)
            member = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            return MemberRead.model_validate(member)

    async def is_blacklisted(self, guild_id: int, user_id: int) -> bool:
        """Whether the user is blocked in this guild (the global blacklist is separate)."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        async with self._write() as session:
            stmt = select(
                exists().where(
                    col(Member.guild_id) == guild_id, col(Member.user_id) == user_id, col(Member.is_blacklisted)
                )
            )
            return bool((await session.execute(stmt)).scalar_one())

    async def count(self, guild_id: int) -> int:
        """Members currently in the guild."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._read() as session:
            stmt = (
                select(func.count())
                .select_from(Member)
                .where(col(Member.guild_id) == guild_id, col(Member.left_at).is_(None))
            )
            return int((await session.execute(stmt)).scalar_one())


# Checked on every message and command: compiled once, prepared per connection.
_IS_BLACKLISTED = prepare(
    select(
        exists().where(
            col(GlobalBlacklist.target) == bindparam("target", type_=GlobalBlacklist.__table__.c.target.type),  # type: ignore[attr-defined]
            col(GlobalBlacklist.target_id) == bindparam("target_id", type_=BigInteger),
            col(GlobalBlacklist.deleted_at).is_(None),
            or_(col(GlobalBlacklist.expires_at).is_(None), col(GlobalBlacklist.expires_at) > bindparam("moment")),
        )
    )
)

_LIVE_BLACKLIST = prepare(
    select(col(GlobalBlacklist.target_id), col(GlobalBlacklist.expires_at)).where(
        col(GlobalBlacklist.target) == bindparam("target", type_=GlobalBlacklist.__table__.c.target.type),  # type: ignore[attr-defined]
        col(GlobalBlacklist.deleted_at).is_(None),
        or_(col(GlobalBlacklist.expires_at).is_(None), col(GlobalBlacklist.expires_at) > func.now()),
    )
)


class LiveBlacklistCodec:
    """The live map as ``[[id, expiry], …]`` JSON (JSON object keys would turn the IDs into strings)."""

    def encode(self, value: dict[int, float | None]) -> str:
        return json.dumps(list(value.items()), separators=(",", ":"))

    def decode(self, raw: str) -> dict[int, float | None]:
        return {int(target_id): expires for target_id, expires in json.loads(raw)}


_LIVE_CODEC = LiveBlacklistCodec()


def blacklist_key(target: BlacklistTarget) -> str:
    """Cache key of the live global blacklist of one kind; dropped by ``add`` and ``remove``."""
    return global_key(f"bl:{target.value}", "live")


stale_keys(GlobalBlacklist, lambda row: (blacklist_key(BlacklistTarget(row.target)),))


class BlacklistController(Controller):
    """Global blacklist of users and guilds; removal keeps the entry as history."""

    async def add(
        self,
        target: BlacklistTarget | str,
        target_id: int,
        *,
        reason: str | None = None,
        author_id: int | None = None,
        expires_at: datetime | None = None,
    ) -> BlacklistEntryRead:
        """Blacklist a user or guild (updating reason/expiry if already listed)."""
        checked = validate(
            BlacklistEntryCreate,
            {
                "target": validate_enum("target", BlacklistTarget, target),
                "target_id": target_id,
                "reason": reason,
                "author_id": author_id,
                "expires_at": expires_at,
            },
        )
        if checked.expires_at is not None and checked.expires_at <= utcnow():
            raise ValidationError.single("expires_at", "future", "must be in the future")
        stmt = insert(GlobalBlacklist).values(**checked.model_dump())
        upsert = stmt.on_conflict_do_update(
            index_elements=["target", "target_id"],
            index_where=col(GlobalBlacklist.deleted_at).is_(None),
            set_={
                "reason": stmt.excluded.reason,
                "author_id": stmt.excluded.author_id,
                "expires_at": stmt.excluded.expires_at,
                "updated_at": func.now(),
            },
        ).returning(GlobalBlacklist)
        async with self._write() as session:
            entry = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            self._stale(session, blacklist_key(checked.target))
            return BlacklistEntryRead.model_validate(entry)

    async def remove(self, target: BlacklistTarget | str, target_id: int) -> bool:
        """Lift a blacklist entry (soft delete, attributed to the acting user)."""
        kind = validate_enum("target", BlacklistTarget, target)
        target_id = snowflake("target_id", target_id)
        async with self._write() as session:
            result = await session.execute(
                update(GlobalBlacklist)
                .where(
                    col(GlobalBlacklist.target) == kind,
                    col(GlobalBlacklist.target_id) == target_id,
                    col(GlobalBlacklist.deleted_at).is_(None),
                )
                .values(deleted_at=func.now(), deleted_by=current_actor(), updated_at=func.now())
            )
            self._stale(session, blacklist_key(kind))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def is_blacklisted(
        self, target: BlacklistTarget | str, target_id: int, *, now: datetime | None = None
    ) -> bool:
        """Whether a live, unexpired entry exists for the target.

        Asked on every message, so it is answered from memory: the live entries
        of each kind are one cached map (local LRU → Redis → one query), dropped
        everywhere by ``add`` and ``remove``; expiry is checked against the
        clock on each call, so an entry stops blocking the moment it expires.
        Pass ``now`` to ask about another moment: that is one query, exact.
        """
        kind = validate_enum("target", BlacklistTarget, target)
        target_id = snowflake("target_id", target_id)
        if now is not None:
            params = {"target": kind.value, "target_id": target_id, "moment": now}
            async with self._fast(transaction=False) as unit:
                return bool(await unit.connection.fetchval(_IS_BLACKLISTED.sql, *_IS_BLACKLISTED.args(params)))
        live = await self._live(kind)
        if target_id not in live:
            return False
        expires = live[target_id]
        return expires is None or expires > time()

    async def _live(self, kind: BlacklistTarget) -> dict[int, float | None]:
        """Target ID → expiry (epoch seconds, or None) of every live entry of ``kind``."""

        async def load() -> dict[int, float | None]:
            async with self._fast(transaction=False) as unit:
                rows = await _LIVE_BLACKLIST.fetch(unit.connection, {"target": kind.value})
            return {row[0]: None if row[1] is None else row[1].timestamp() for row in rows}

        live = await self._db.cache.read_through(
            blacklist_key(kind), load, ttl=self._db.settings.cache_ttl_seconds, codec=_LIVE_CODEC
        )
        return live or {}

    async def list_active(self, target: BlacklistTarget | str | None = None) -> list[BlacklistEntryRead]:
        """Every live, unexpired entry, newest first."""
        conditions = [
            col(GlobalBlacklist.deleted_at).is_(None),
            or_(col(GlobalBlacklist.expires_at).is_(None), col(GlobalBlacklist.expires_at) > func.now()),
        ]
        if target is not None:
            conditions.append(col(GlobalBlacklist.target) == validate_enum("target", BlacklistTarget, target))
        stmt = select(GlobalBlacklist).where(and_(*conditions)).order_by(col(GlobalBlacklist.created_at).desc())
        async with self._write() as session:
            return [BlacklistEntryRead.model_validate(row) for row in await session.scalars(stmt)]

    async def history(self, target: BlacklistTarget | str, target_id: int) -> list[BlacklistEntryRead]:
        """Every entry ever made for the target, including lifted ones."""
        kind = validate_enum("target", BlacklistTarget, target)
        target_id = snowflake("target_id", target_id)
        stmt = (
            select(GlobalBlacklist)
            .where(col(GlobalBlacklist.target) == kind, col(GlobalBlacklist.target_id) == target_id)
            .order_by(col(GlobalBlacklist.created_at).desc(), col(GlobalBlacklist.entry_id).desc())
            .execution_options(include_deleted=True)
        )
        async with self._write() as session:
            return [BlacklistEntryRead.model_validate(row) for row in await session.scalars(stmt)]


def _no_config(guild_id: int) -> NotFoundError:
    return NotFoundError(f"guild {guild_id} has no configuration; call db.guilds.join({guild_id}) first")
