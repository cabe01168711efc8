"""Guild and GuildConfig → guild, guild_config, the case counter, permission ranks and rank roles.

Read together (``Guild LEFT JOIN GuildConfig``), so a guild and its
configuration arrive in one batch and commit together.

Rules:
- a guild guildbase already has keeps its own configuration: the legacy one
  is counted as merged, not applied;
- ``case_count`` seeds the guild's case counter (the highest of it and every
  imported case number wins, so the next case continues the legacy numbering);
- ``perm_level_N_role_id`` → ``permission_role_rank`` (role → rank N; a role on
  several levels gets the highest, ``legacy_role_ranks``) and a rank name
  ``Level N`` for each level that had a role;
- ``*_log_id`` → ``*_log_channel_id``; an ID guildbase cannot store and a
  prefix outside today's rule (1-10 characters, no whitespace) are reported
  and the default is kept;
- one audit row per new guild's configuration (``config_update``) and one for
  its ranks (``permission_ranks``), source ``cli``.
"""

# ruff: noqa: S608 - table names come from the catalog (detect.py) and are quoted; values are bound or COPYed

import json
from typing import Any, ClassVar

import asyncpg

from guildbase.db.audit import record_audit
from guildbase.db.unit_of_work import DriverUnit
from guildbase.legacy.batch import Batch, dumps, snowflake, utc
from guildbase.legacy.detect import LegacySource
from guildbase.legacy.spec import ImportContext, TableSpec, stage
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import PREFIX_MAX_LENGTH
from guildbase.models.permissions import LEGACY_LEVELS, legacy_role_ranks

__all__ = ["GUILDS", "ID_COLUMNS"]

ID_COLUMNS = {
    "mod_log_id": "mod_log_channel_id",
    "audit_log_id": "audit_log_channel_id",
    "join_log_id": "join_log_channel_id",
    "private_log_id": "private_log_channel_id",
    "report_log_id": "report_log_channel_id",
    "dev_log_id": "dev_log_channel_id",
    "jail_channel_id": "jail_channel_id",
    "general_channel_id": "general_channel_id",
    "jail_role_id": "jail_role_id",
    "quarantine_role_id": "quarantine_role_id",
    "base_staff_role_id": "base_staff_role_id",
    "base_member_role_id": "base_member_role_id",
}
"""Legacy GuildConfig ID column → guild_config column."""

_STAGE = [
    ("guild_id", "bigint"),
    ("joined_at", "timestamptz"),
    ("case_count", "bigint"),
    ("prefix", "text"),
    *((column, "bigint") for column in ID_COLUMNS.values()),
    ("ranks", "text"),
]
_CONFIG_COLUMNS = ", ".join(["guild_id", "prefix", *ID_COLUMNS.values()])


def _prefix(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= PREFIX_MAX_LENGTH and not any(c.isspace() for c in value)


class Guilds(TableSpec):
    name = "Guild"
    reports = ("Guild", "GuildConfig")
    keys = ("guild_id",)
    not_kept: ClassVar[dict[str, str]] = {
        "GuildConfig.starboard_channel_id": "the Starboard table's channel is the board's channel",
    }

    def query(self, source: LegacySource) -> str:
        config = source.tables.get("GuildConfig")
        if config is None:
            return f"SELECT g.guild_id, g.guild_joined_at, g.case_count, NULL::jsonb AS config FROM {source.tables['Guild']} g"  # noqa: E501
        return (
            "SELECT g.guild_id, g.guild_joined_at, g.case_count, to_jsonb(c) AS config "
            f"FROM {source.tables['Guild']} g LEFT JOIN {config} c ON c.guild_id = g.guild_id"
        )

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002, C901
        key = row["guild_id"]
        config: dict[str, Any] | None = None if row["config"] is None else json.loads(row["config"])
        batch.count("Guild").read += 1
        if config is not None:
            batch.count("GuildConfig").read += 1
        guild_id = snowflake(key)
        if guild_id is None:
            batch.skip("Guild", key, "guild_id is not a Discord ID: the guild and its rows are not imported")
            if config is not None:
                batch.skip("GuildConfig", key, "its guild is not imported")
            return
        values: dict[str, Any] = {"prefix": "$"}
        ranks: dict[int, int] = {}
        if config is not None:
            if config.get("prefix") is not None and not _prefix(config["prefix"]):
                batch.adjust(
                    "GuildConfig",
                    key,
                    "prefix outside today's rule: the default $ is used",
                    {"prefix": config["prefix"]},
                )
            elif config.get("prefix") is not None:
                values["prefix"] = config["prefix"]
            for legacy, column in ID_COLUMNS.items():
                if config.get(legacy) is not None and snowflake(config[legacy]) is None:
                    batch.adjust(
                        "GuildConfig", key, f"{legacy} is not a Discord ID: left empty", {legacy: config[legacy]}
                    )
                values[column] = snowflake(config.get(legacy))
            levels = {
                f"perm_level_{n}_role_id": snowflake(config.get(f"perm_level_{n}_role_id"))
                for n in range(LEGACY_LEVELS)
            }
            for name, role in levels.items():
                if config.get(name) is not None and role is None:
                    batch.adjust("GuildConfig", key, f"{name} is not a Discord ID: no rank role", {name: config[name]})
            ranks = legacy_role_ranks(levels)
        batch.add(
            "guild",
            (
                guild_id,
                utc(row["guild_joined_at"]),
                max(int(row["case_count"] or 0), 0),
                values["prefix"],
                *(values.get(column) for column in ID_COLUMNS.values()),
                dumps(sorted(ranks.items())),
            ),
        )
        batch.extra.setdefault("configs", {})[guild_id] = (config is not None, values, ranks)

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        records = batch.records.get("guild", [])
        if not records:
            return
        await stage(connection, "legacy_stage_guild", _STAGE, records)
        new = {
            r["guild_id"]
            for r in await connection.fetch(
                "INSERT INTO guild (guild_id, joined_at) SELECT guild_id, coalesce(joined_at, now()) "
                "FROM legacy_stage_guild ON CONFLICT DO NOTHING RETURNING guild_id"
            )
        }
        await connection.execute(
            f"INSERT INTO guild_config (locale, {_CONFIG_COLUMNS}) SELECT 'en-US', {_CONFIG_COLUMNS} "
            "FROM legacy_stage_guild "
            "WHERE guild_id = ANY($1::bigint[]) ON CONFLICT DO NOTHING",
            list(new),
        )
        await connection.execute(
            "INSERT INTO permission_role_rank (guild_id, role_id, rank) "
            "SELECT s.guild_id, (e ->> 0)::bigint, (e ->> 1)::smallint FROM legacy_stage_guild s, "
            "jsonb_array_elements(s.ranks::jsonb) e WHERE s.guild_id = ANY($1::bigint[]) ON CONFLICT DO NOTHING",
            list(new),
        )
        await connection.execute(
            "INSERT INTO permission_rank (guild_id, rank, name) "
            "SELECT DISTINCT s.guild_id, (e ->> 1)::smallint, 'Level ' || (e ->> 1) FROM legacy_stage_guild s, "
            "jsonb_array_elements(s.ranks::jsonb) e WHERE s.guild_id = ANY($1::bigint[]) ON CONFLICT DO NOTHING",
            list(new),
        )
        await connection.execute(
            "INSERT INTO guild_counter (guild_id, kind, last_value) SELECT guild_id, 'case', case_count "
            "FROM legacy_stage_guild ON CONFLICT (guild_id, kind) DO UPDATE "
            "SET last_value = greatest(guild_counter.last_value, excluded.last_value)"
        )
        configs: dict[int, tuple[bool, dict[str, Any], dict[int, int]]] = batch.extra.get("configs", {})
        unit = DriverUnit(connection)
        for guild_id, (had_config, values, ranks) in sorted(configs.items()):
            if guild_id not in new:
                batch.merge("Guild", guild_id, "the guild is already in guildbase: its own configuration is kept")
                if had_config:
                    batch.merge(
                        "GuildConfig", guild_id, "the guild is already in guildbase: its own configuration is kept"
                    )
                continue
            batch.count("Guild").written += 1
            if had_config:
                batch.count("GuildConfig").written += 1
                after = {name: value for name, value in values.items() if value is not None}
                await record_audit(
                    unit, AuditAction.CONFIG_UPDATE, AuditEntity.GUILD_CONFIG, guild_id, guild_id=guild_id, after=after
                )
            if ranks:
                after = {f"role.{role}": level for role, level in ranks.items()} | {
                    f"rank.{level}": f"Level {level}" for level in set(ranks.values())
                }
                await record_audit(
                    unit,
                    AuditAction.PERMISSION_RANKS,
                    AuditEntity.PERMISSION_RANKS,
                    guild_id,
                    guild_id=guild_id,
                    after=after,
                )


GUILDS = Guilds()
