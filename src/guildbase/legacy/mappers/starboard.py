"""Starboard → starboard, StarboardMessage → starboard_entry.

A guild's board keeps its channel, emoji and threshold (clamped to 1-1000;
an emoji over 64 characters becomes the default ⭐, reported). A board guildbase
already has for the guild is kept (merged). Each new board writes its audit
row (``starboard_config``, source ``cli``).

A starred message keeps its channel, author, star count (negative → 0) and
the ID of its copy on the board. Its text and expiry are not kept: guildbase
stores no message text on the board (the message stays on Discord), and an
entry does not expire.
"""

# ruff: noqa: S608 - table names come from the catalog (detect.py) and are quoted; values are bound or COPYed

from typing import ClassVar

import asyncpg

from guildbase.db.audit import record_audit
from guildbase.db.unit_of_work import DriverUnit
from guildbase.legacy.batch import DISCORD_EPOCH, Batch, snowflake, utc
from guildbase.legacy.detect import LegacySource
from guildbase.legacy.mappers.cases import _conflicts
from guildbase.legacy.spec import ImportContext, TableSpec, stage
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.starboard import DEFAULT_EMOJI, EMOJI_MAX_LENGTH, MAX_THRESHOLD

__all__ = ["STARBOARDS", "STARBOARD_MESSAGES"]

_BOARD_STAGE = [("guild_id", "bigint"), ("channel_id", "bigint"), ("emoji", "text"), ("threshold", "integer")]


class Starboards(TableSpec):
    name = "Starboard"
    reports = ("Starboard",)
    keys = ("guild_id",)

    def query(self, source: LegacySource) -> str:
        return (
            "SELECT guild_id, starboard_channel_id, starboard_emoji, starboard_threshold"
            f" FROM {source.tables['Starboard']}"
        )

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        key, t = row["guild_id"], "Starboard"
        batch.count(t).read += 1
        guild_id, channel_id = snowflake(row["guild_id"]), snowflake(row["starboard_channel_id"])
        if guild_id is None:
            batch.skip(t, key, "its guild is not imported")
            return
        if channel_id is None:
            batch.skip(t, key, "channel is not a Discord ID", {"starboard_channel_id": row["starboard_channel_id"]})
            return
        emoji = row["starboard_emoji"] or DEFAULT_EMOJI
        if len(emoji) > EMOJI_MAX_LENGTH:
            batch.adjust(t, key, "emoji too long: the default is used", {"starboard_emoji": emoji})
            emoji = DEFAULT_EMOJI
        threshold = row["starboard_threshold"]
        clamped = min(max(int(threshold or 1), 1), MAX_THRESHOLD)
        if clamped != threshold:
            batch.adjust(t, key, f"threshold outside 1-{MAX_THRESHOLD}: clamped", {"starboard_threshold": threshold})
        batch.add("starboard", (guild_id, channel_id, emoji, clamped))

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        records = batch.records.get("starboard", [])
        if not records:
            return
        await stage(connection, "legacy_stage_starboard", _BOARD_STAGE, records)
        rows = await connection.fetch(
            "INSERT INTO starboard (guild_id, channel_id, emoji, threshold) "
            "SELECT guild_id, channel_id, emoji, threshold FROM legacy_stage_starboard "
            "ON CONFLICT DO NOTHING RETURNING guild_id, channel_id, emoji, threshold"
        )
        unit = DriverUnit(connection)
        for row in rows:
            await record_audit(
                unit,
                AuditAction.STARBOARD_CONFIG,
                AuditEntity.STARBOARD,
                row["guild_id"],
                guild_id=row["guild_id"],
                after={"channel_id": row["channel_id"], "emoji": row["emoji"], "threshold": row["threshold"]},
            )
        _conflicts(batch, "Starboard", len(records), len(rows))


_ENTRY_STAGE = [
    ("guild_id", "bigint"),
    ("message_id", "bigint"),
    ("channel_id", "bigint"),
    ("author_id", "bigint"),
    ("star_count", "integer"),
    ("posted_message_id", "bigint"),
    ("created_at", "timestamptz"),
]


class StarboardMessages(TableSpec):
    name = "StarboardMessage"
    reports = ("StarboardMessage",)
    keys = ("message_id",)
    not_kept: ClassVar[dict[str, str]] = {
        "StarboardMessage.message_content": "guildbase stores no message text on the board: it stays on Discord",
        "StarboardMessage.message_expires_at": "a starboard entry does not expire",
    }

    def query(self, source: LegacySource) -> str:
        return (
            "SELECT message_id, message_created_at, message_channel_id, message_user_id, message_guild_id,"
            f" star_count, starboard_message_id FROM {source.tables['StarboardMessage']}"
        )

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        key, t = row["message_id"], "StarboardMessage"
        batch.count(t).read += 1
        guild_id = snowflake(row["message_guild_id"])
        if guild_id is None:
            batch.skip(t, key, "its guild is not imported")
            return
        ids = (snowflake(row["message_id"]), snowflake(row["message_channel_id"]), snowflake(row["message_user_id"]))
        if None in ids:
            batch.skip(t, key, "message, channel or author is not a Discord ID")
            return
        posted = snowflake(row["starboard_message_id"])
        if row["starboard_message_id"] is not None and posted is None:
            batch.adjust(
                t,
                key,
                "board copy is not a Discord ID: left empty",
                {"starboard_message_id": row["starboard_message_id"]},
            )
        stars = max(int(row["star_count"] or 0), 0)
        created = utc(row["message_created_at"]) or DISCORD_EPOCH
        batch.add("entry", (guild_id, *ids, stars, posted, created))

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        records = batch.records.get("entry", [])
        if records:
            await stage(connection, "legacy_stage_entry", _ENTRY_STAGE, records)
            status = await connection.execute(
                "INSERT INTO starboard_entry (guild_id, message_id, channel_id, author_id, star_count,"
                " posted_message_id, created_at, updated_at) SELECT guild_id, message_id, channel_id, author_id,"
                " star_count, posted_message_id, created_at, created_at FROM legacy_stage_entry ON CONFLICT DO NOTHING"
            )
            _conflicts(batch, "StarboardMessage", len(records), int(status.split()[-1]))


STARBOARDS = Starboards()
STARBOARD_MESSAGES = StarboardMessages()
