"""Per-guild configuration and feature toggles: read-through cached, invalidated on every write."""

from collections.abc import Mapping
from time import monotonic
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.db.audit import locked_values, record_audit
from guildbase.db.fast import prepare
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.stale import stale_keys
from guildbase.db.validation import changes_of, flag, snowflake, validate, validate_enum
from guildbase.errors import NotFoundError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import (
    DEFAULT_FEATURES,
    MAX_EXTRA_PREFIXES,
    Feature,
    Guild,
    GuildConfig,
    GuildConfigRead,
    GuildConfigUpdate,
    GuildFeature,
)
from guildbase.services.batchload import BatchLoader
from guildbase.services.cache import ModelCodec
from guildbase.services.keys import guild_key

__all__ = ["GuildConfigController", "config_key", "feature_states", "features_key", "guild_cache_keys"]


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


_CONFIGS = prepare(
    select(GuildConfig).where(col(GuildConfig.guild_id) == any_(bindparam("guild_ids", type_=ARRAY(BigInteger))))
)
_CONFIG_CODEC = ModelCodec(GuildConfigRead)


class GuildConfigController(Controller):
    """Per-guild settings: prefixes, channels, roles, welcome message, feature toggles.

    ``get`` returns one shared ``GuildConfigRead`` on cache hits; it is frozen, so no caller can change it.
    """

    def __init__(self, db: UnitOfWork) -> None:
        super().__init__(db)
        # The local cache's config entries, mirrored by guild ID (see ``LocalCache.mirror``).
        self._hot: dict[int, tuple[float, GuildConfigRead]] = {}
        self._loader = BatchLoader(self._fetch_many)

    async def get(self, guild_id: int) -> GuildConfigRead:
        """The guild's full configuration: local LRU → Redis → PostgreSQL (read-through).

        A local hit is one type check and one dict lookup: only IDs that passed
        validation are ever stored (as ``int``), so anything else (a string, a
        list, ``True``) misses and is rejected by ``snowflake`` below.
        """
        if type(guild_id) is int:
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
        return {config.guild_id: config for config in read_all(GuildConfigRead, rows)}

    async def update(
        self, guild_id: int, changes: GuildConfigUpdate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> GuildConfigRead:
        """Change only the given fields; a bad value raises before anything is written."""
        guild_id = snowflake("guild_id", guild_id)
        given = changes_of(changes, GuildConfigUpdate) | fields
        checked = validate(GuildConfigUpdate, given)
        values = checked.model_dump(include=set(given))
        if not values:
            return await self.get(guild_id)
        changed = dict(values)
        values |= {"updated_at": func.now(), **actor_columns(GuildConfig, "update")}
        async with self._write() as session:
            before = await locked_values(session, GuildConfig, changed, guild_id=guild_id)
            stmt = (
                update(GuildConfig).where(col(GuildConfig.guild_id) == guild_id).values(**values).returning(GuildConfig)
            )
            config = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
            if config is None:
                raise _no_config(guild_id)
            after = {name: getattr(config, name) for name in changed}
            await _audit_config(session, AuditAction.CONFIG_UPDATE, guild_id, before, after)
            self._stale(session, config_key(guild_id))
            return GuildConfigRead.model_validate(config)

    async def get_prefixes(self, guild_id: int) -> list[str]:
        """The primary prefix first, then the extra ones."""
        return (await self.get(guild_id)).prefixes

    async def set_prefix(self, guild_id: int, prefix: str) -> GuildConfigRead:
        """Replace the primary prefix."""
        return await self.update(guild_id, prefix=prefix)

    async def add_prefix(self, guild_id: int, prefix: str) -> list[str]:
        """Add an extra prefix; the row is locked so concurrent edits cannot lose one.

        Adding a prefix the guild already has is a no-op that returns the
        prefixes unchanged (the rule for every repeated add, see docs/development.md).
        """
        guild_id = snowflake("guild_id", guild_id)
        prefix = validate(GuildConfigUpdate, {"prefix": prefix}).prefix
        async with self._write() as session:
            config = await self._locked(session, guild_id)
            if prefix == config.prefix or prefix in config.extra_prefixes:
                return [config.prefix, *config.extra_prefixes]
            if len(config.extra_prefixes) >= MAX_EXTRA_PREFIXES:
                raise ValidationError.single(
                    "extra_prefixes", "max_items", f"at most {MAX_EXTRA_PREFIXES} extra prefixes; remove one first"
                )
            checked = validate(GuildConfigUpdate, {"extra_prefixes": [*config.extra_prefixes, prefix]})
            before = {"extra_prefixes": list(config.extra_prefixes)}
            config.extra_prefixes = checked.extra_prefixes
            await session.flush()
            after = {"extra_prefixes": list(config.extra_prefixes)}
            await _audit_config(session, AuditAction.PREFIX_ADD, guild_id, before, after)
            self._stale(session, config_key(guild_id))
            return [config.prefix, *config.extra_prefixes]

    async def remove_prefix(self, guild_id: int, prefix: str) -> list[str]:
        """Remove an extra prefix (the primary one can only be replaced)."""
        guild_id = snowflake("guild_id", guild_id)
        prefix = validate(GuildConfigUpdate, {"prefix": prefix}).prefix
        async with self._write() as session:
            config = await self._locked(session, guild_id)
            if prefix not in config.extra_prefixes:
                msg = f"prefix: {prefix!r} is not an extra prefix of guild {guild_id}"
                raise NotFoundError(msg)
            before = {"extra_prefixes": list(config.extra_prefixes)}
            config.extra_prefixes = [p for p in config.extra_prefixes if p != prefix]
            await session.flush()
            after = {"extra_prefixes": list(config.extra_prefixes)}
            await _audit_config(session, AuditAction.PREFIX_REMOVE, guild_id, before, after)
            self._stale(session, config_key(guild_id))
            return [config.prefix, *config.extra_prefixes]

    async def set_feature(self, guild_id: int, feature: Feature | str, *, enabled: bool) -> dict[Feature, bool]:
        """Turn a feature on or off for one guild; returns the guild's full feature map."""
        guild_id = snowflake("guild_id", guild_id)
        checked = validate_enum("feature", Feature, feature)
        enabled = flag("enabled", enabled)
        stmt = insert(GuildFeature).values(
            guild_id=guild_id,
            feature=checked,
            is_enabled=enabled,
            **actor_columns(GuildFeature, "insert"),
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "feature"],
            set_={
                "is_enabled": stmt.excluded.is_enabled,
                **{name: stmt.excluded[name] for name in actor_columns(GuildFeature, "update")},
                "updated_at": func.now(),
            },
        )
        async with self._write() as session:
            was = await locked_values(session, GuildFeature, ["is_enabled"], guild_id=guild_id, feature=checked)
            await session.execute(upsert)
            await record_audit(
                session,
                AuditAction.FEATURE_SET,
                AuditEntity.GUILD_FEATURE,
                checked.value,
                guild_id=guild_id,
                before=was or {"is_enabled": DEFAULT_FEATURES[checked]},
                after={"is_enabled": enabled},
            )
            self._stale(session, features_key(guild_id))
            return await _feature_rows(session, guild_id)

    async def features(self, guild_id: int) -> dict[Feature, bool]:
        """Every feature with its effective state (explicit toggle, else default); cached."""
        states = await feature_states(self._db, snowflake("guild_id", guild_id))
        return DEFAULT_FEATURES | {Feature(name): bool(on) for name, on in states.items()}

    async def is_enabled(self, guild_id: int, feature: Feature | str) -> bool:
        """Whether ``feature`` is on for this guild."""
        checked = validate_enum("feature", Feature, feature)
        return (await self.features(guild_id))[checked]

    async def _locked(self, session: AsyncSession, guild_id: int) -> GuildConfig:
        stmt = select(GuildConfig).where(col(GuildConfig.guild_id) == guild_id).with_for_update()
        config = (await session.scalars(stmt)).one_or_none()
        if config is None:
            raise _no_config(guild_id)
        return config


async def feature_states(db: UnitOfWork, guild_id: int) -> dict[str, bool]:
    """Every feature's effective state by value, for an already validated ``guild_id``.

    Read through the cache (local LRU → Redis → one query) under
    ``features_key``, which ``set_feature`` drops everywhere after its commit;
    the feature gates (``controllers.features``) ask this on every gated call.
    """

    async def load() -> dict[str, bool]:
        async with db.session() as session:
            return {feature.value: on for feature, on in (await _feature_rows(session, guild_id)).items()}

    states = await db.cache.read_through(features_key(guild_id), load, ttl=db.settings.cache_ttl_seconds)
    return states or {}


async def _feature_rows(session: AsyncSession, guild_id: int) -> dict[Feature, bool]:
    rows = await session.execute(
        select(col(GuildFeature.feature), col(GuildFeature.is_enabled)).where(col(GuildFeature.guild_id) == guild_id)
    )
    return DEFAULT_FEATURES | {Feature(feature): bool(enabled) for feature, enabled in rows}


async def _audit_config(
    session: AsyncSession, action: AuditAction, guild_id: int, before: Mapping[str, Any], after: Mapping[str, Any]
) -> None:
    await record_audit(
        session, action, AuditEntity.GUILD_CONFIG, guild_id, guild_id=guild_id, before=before, after=after
    )


def _no_config(guild_id: int) -> NotFoundError:
    return NotFoundError(f"guild {guild_id} has no configuration; call db.guilds.join({guild_id}) first")
