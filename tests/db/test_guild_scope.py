"""Every guild-scoped table hangs off ``guild`` and goes when its guild goes (R9.2, R9.4).

The tables are found from the metadata, not listed by hand: a new table with a
``guild_id`` is covered the day it is added. Rows are built generically from
each table's columns (a value per type for every required column, foreign keys
copied from the parent row), so the only per-table knowledge is ``ROW_EXTRAS``
for check constraints no generic value can satisfy; a test keeps that list
from naming tables that no longer exist.
"""

import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column, Table, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.types import TypeDecorator

from guildbase import Database
from guildbase.db.types import SnowflakeType, make_snowflake
from guildbase.models import metadata

NOW = datetime.now(UTC)
GUILD = make_snowflake(NOW - timedelta(days=400), 1)
OTHER_GUILD = make_snowflake(NOW - timedelta(days=400), 2)

LOG_TABLES = {
    "command_log": "range-partitioned by time and written by COPY on the hot path: no foreign keys; "
    "retention drops whole partitions",
    "command_stat_daily": "rollups keep guild 0 (every guild) and outlive the guilds they count",
    "audit_log": "the trail outlives what it records: the row saying who deleted a guild survives the guild",
    "error_log": "an error record outlives the guild it happened in; samples are trimmed per group",
    **dict.fromkeys(
        ("guild_event", "reaction_event", "voice_event", "voice_session", "invite_use"),
        "the event trail: range-partitioned by time, written by COPY from gateway listeners in whatever order "
        "Discord delivers events; no foreign keys; retention drops whole partitions",
    ),
    **dict.fromkeys(
        ("invite", "invite_tally"),
        "the invite tracker's state, written by the same listeners as the trail (an invite can arrive "
        "before its guild's row); no foreign keys, like the trail it feeds",
    ),
    **dict.fromkeys(
        (
            "message_stat_daily",
            "member_stat_daily",
            "voice_stat_daily",
            "role_stat_daily",
            "message_stat_user_daily",
            "message_stat_channel_daily",
            "voice_stat_user_daily",
            "voice_stat_channel_daily",
        ),
        "the trail's daily rollups outlive the guilds, members and channels they count",
    ),
    "security_event": "the security trail outlives the guild an event happened in (investigations); append-only, "
    "range-partitioned; retention drops whole partitions",
    "permission_check": "the check log: range-partitioned by time and written by COPY before every command; "
    "no foreign keys; it outlives the guild like the command log",
}
"""Tables with a ``guild_id`` but, on purpose, no foreign key to ``guild``."""

DELETED_BY_GUILDS_DELETE = {
    "reminder": "DM reminders are guild 0 and there is no guild row 0 (migration 0027): guilds.delete deletes "
    "the guild's reminders in its transaction, and reminders.create locks the guild row as the key did",
}
"""Guild-scoped tables without a foreign key to ``guild`` whose rows ``db.guilds.delete`` deletes itself."""

Rows = dict[str, dict[str, Any]]
ROW_EXTRAS: dict[str, Callable[[Rows], dict[str, Any]]] = {
    # num_nonnulls(default_duration_seconds, log_channel_id) > 0: a row always sets something.
    "mod_action_config": lambda _rows: {"log_channel_id": make_snowflake(NOW - timedelta(days=30), 7)},
    "mod_escalation_rule": lambda _rows: {"warn_count": 3},  # warn_count >= 2
    # a channel delivery names its channel; the interval is within 60 s .. 7 days
    "autoresponder": lambda _rows: {"responses": ["hello"]},  # at least one response
    "channel_setting": lambda _rows: {"slowmode_seconds": 5},  # a row always sets something
    "message_filter": lambda _rows: {"words": ["spam"]},  # a word list has words
    "integration": lambda _rows: {"channel_id": make_snowflake(NOW - timedelta(days=30), 8), "interval_seconds": 900},
}
"""Values a table's check constraints need beyond the generic ones, given the rows already inserted."""


def guild_scoped_tables() -> list[Table]:
    """Every table whose ``guild_id`` references ``guild``, parents before children."""
    return [
        table
        for table in metadata.sorted_tables
        if any(fk.column.table.name == "guild" and fk.parent.name == "guild_id" for fk in table.foreign_keys)
    ]


def generic_value(column: Column[Any]) -> Any:
    """A value every column of this type accepts; fails naming the column for a type it does not know."""
    if isinstance(column.type, SnowflakeType):
        return make_snowflake(NOW - timedelta(days=30), zlib.crc32(column.name.encode()) % 4096)
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(kind, sa.Enum):  # before String: an Enum is a String
        assert kind.enum_class is not None, column
        return next(iter(kind.enum_class))
    by_type: list[tuple[type, Any]] = [
        (sa.Boolean, False),
        (sa.Integer, 1),
        (sa.Float, 1.0),
        (sa.String, "x"),
        (sa.DateTime, NOW),
        (sa.Date, NOW.date()),
        (sa.ARRAY, []),
        (sa.JSON, {}),
    ]
    for sql_type, value in by_type:
        if isinstance(kind, sql_type):
            return value
    msg = f"{column.table.name}.{column.name}: no generic value for {kind!r}; teach generic_value this type"
    raise AssertionError(msg)


def _required(column: Column[Any]) -> bool:
    generated = column.identity is not None or column.autoincrement is True
    return not column.nullable and column.server_default is None and column.default is None and not generated


def build_row(table: Table, guild_id: int, rows: Rows) -> dict[str, Any]:
    """A valid row of ``table`` in ``guild_id``: required columns, foreign keys from their parents, extras."""
    row = {column.name: generic_value(column) for column in table.columns if _required(column)}
    row["guild_id"] = guild_id
    for fk in table.foreign_key_constraints:
        parent = fk.referred_table.name
        if parent in rows and all(column.name in row for column in fk.columns):
            for element in fk.elements:
                row[element.parent.name] = rows[parent][element.column.name]
    if table.name in ROW_EXTRAS:
        row |= ROW_EXTRAS[table.name](rows)
    return row


def deleted_with_their_guild() -> list[Table]:
    """The tables whose rows go when their guild is deleted: by cascade, or by ``guilds.delete`` itself."""
    return [*guild_scoped_tables(), *(metadata.tables[name] for name in sorted(DELETED_BY_GUILDS_DELETE))]


async def seed_every_guild_scoped_table(db: Database, guild_id: int) -> Rows:
    """One row in ``guild`` and in every guild-scoped table (and the ``discord_user`` members need)."""
    rows: Rows = {}
    async with db.session() as session:
        await session.execute(insert(metadata.tables["guild"]).values(guild_id=guild_id))
        users = metadata.tables["discord_user"]
        user = {"user_id": generic_value(users.c.user_id)}
        await session.execute(insert(users).values(user).on_conflict_do_nothing())
        rows["discord_user"] = user
        rows["guild"] = {"guild_id": guild_id}
        for table in deleted_with_their_guild():
            row = build_row(table, guild_id, rows)
            inserted = await session.execute(insert(table).values(row).returning(*table.columns))
            rows[table.name] = dict(inserted.mappings().one())
    return rows


async def _count(db: Database, table: Table, guild_id: int) -> int:
    async with db.session() as session:
        stmt = select(func.count()).select_from(table).where(table.c.guild_id == guild_id)
        return int((await session.execute(stmt)).scalar_one())


def test_every_table_with_a_guild_id_references_guild_with_on_delete_cascade() -> None:
    scoped = {table.name for table in guild_scoped_tables()}
    with_guild_id = {table.name for table in metadata.tables.values() if "guild_id" in table.c} - {"guild"}
    assert with_guild_id - scoped == set(LOG_TABLES) | set(DELETED_BY_GUILDS_DELETE)
    assert {"guild_config", "member", "mod_case", "starboard_star", "job"} <= scoped
    for table in guild_scoped_tables():
        (fk,) = [fk for fk in table.foreign_keys if fk.parent.name == "guild_id" and fk.column.table.name == "guild"]
        assert fk.ondelete == "CASCADE", table.name
    assert set(ROW_EXTRAS) <= scoped  # no stale factory entries


async def test_delete_guild_cascades_to_every_guild_scoped_row(db: Database) -> None:
    await seed_every_guild_scoped_table(db, GUILD)
    await seed_every_guild_scoped_table(db, OTHER_GUILD)
    tables = deleted_with_their_guild()
    before = {table.name: await _count(db, table, OTHER_GUILD) for table in tables}
    seeded = {table.name: await _count(db, table, GUILD) for table in tables}
    assert seeded == before
    assert all(count >= 1 for count in seeded.values()), seeded  # (triggers may add more, e.g. jobs)

    assert await db.guilds.delete(GUILD) is True
    assert await db.guilds.get(GUILD) is None
    left = {table.name: await _count(db, table, GUILD) for table in tables}
    assert left == dict.fromkeys(before, 0)
    assert {table.name: await _count(db, table, OTHER_GUILD) for table in tables} == before  # the other guild keeps all
    async with db.session() as session:  # and the account, which is not guild-scoped, stays
        users = metadata.tables["discord_user"]
        assert (await session.execute(select(func.count()).select_from(users))).scalar_one() == 1
    assert await db.guilds.delete(GUILD) is False
