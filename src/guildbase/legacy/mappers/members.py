"""Reminder → reminder (and its delivery job), AFKModel → afk (and its expiry job), Levels → member_level.

Reminder: ``reminder_sent`` true → status ``sent`` (``sent_at`` is the due
time: the legacy schema did not record when it went out); false → ``pending``
with a ``reminder_delivery`` job due at ``reminder_expires_at``, so an overdue
one is delivered at the job runner's next run. A reminder whose guild is not
imported becomes a DM reminder (guild 0, no channel: ``reminder`` has no
foreign key to ``guild`` since migration 0027, so the insert joins ``guild``
itself); a channel guildbase cannot store means a DM.
A reminder already in guildbase (same user, creation and due time, and text)
is merged, so a rerun never adds it twice.

AFKModel: its legacy key is ``member_id`` alone (one AFK per member across
every guild, set in the guild of ``guild_id``). guildbase keys AFK per
(guild, member), so the row becomes the member's AFK in that guild and no
other. ``perm_afk`` → ``is_permanent`` (an end time is dropped then),
``enforced`` → ``is_enforced``; a timed AFK gets its expiry job. An AFK that
ended before it began is skipped.

Levels: XP is rounded to the nearest whole number (halves up); negative or
non-finite XP becomes 0 and XP over 10^12 is capped, reported. The level is
**recomputed** from the XP by the guild's curve (``level_config.curve``,
``mee6`` by default), because guildbase derives the level from XP on every
award and a kept legacy level would jump at the next message; a legacy level
that differs is reported with its value. ``blacklisted`` is kept.
"""

# ruff: noqa: S608 - table names come from the catalog (detect.py) and are quoted; values are bound or COPYed

import math
from datetime import datetime

import asyncpg

from guildbase.legacy.batch import DISCORD_EPOCH, Batch, snowflake, utc
from guildbase.legacy.detect import LegacySource
from guildbase.legacy.mappers.cases import _conflicts
from guildbase.legacy.spec import ImportContext, TableSpec, stage
from guildbase.models.afk import DEFAULT_REASON, NICKNAME_MAX_LENGTH
from guildbase.models.core import REASON_MAX_LENGTH
from guildbase.models.levels import MAX_XP, LevelCurve, level_for_xp
from guildbase.models.reminders import CONTENT_MAX_LENGTH, DEFAULT_MAX_ATTEMPTS

__all__ = ["AFK", "LEVELS", "REMINDERS"]

_REMINDER_STAGE = [
    ("user_id", "bigint"),
    ("guild_id", "bigint"),
    ("channel_id", "bigint"),
    ("content", "text"),
    ("remind_at", "timestamptz"),
    ("status", "text"),
    ("sent_at", "timestamptz"),
    ("created_at", "timestamptz"),
]
_REMINDER_INSERT = f"""
WITH inserted AS (
    INSERT INTO reminder (user_id, guild_id, channel_id, content, remind_at, status, sent_at, created_at, updated_at)
    SELECT s.user_id, coalesce(g.guild_id, 0), CASE WHEN g.guild_id IS NOT NULL THEN s.channel_id END, s.content,
           s.remind_at, s.status::reminder_status, s.sent_at, s.created_at, s.created_at
    FROM legacy_stage_reminder s
    LEFT JOIN guild g ON g.guild_id = s.guild_id
    WHERE NOT EXISTS (SELECT 1 FROM reminder r WHERE r.user_id = s.user_id AND r.remind_at = s.remind_at
                      AND r.created_at = s.created_at AND r.content = s.content)
    RETURNING reminder_id, guild_id, remind_at, status
), delivering AS (
    INSERT INTO job (kind, run_at, payload, dedupe_key, max_attempts, guild_id)
    SELECT 'reminder_delivery', remind_at, jsonb_build_object('reminder_id', reminder_id), reminder_id::text,
           {DEFAULT_MAX_ATTEMPTS}, nullif(guild_id, 0)
    FROM inserted WHERE status = 'pending'
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM inserted
"""


class Reminders(TableSpec):
    name = "Reminder"
    reports = ("Reminder",)
    keys = ("reminder_id",)

    def query(self, source: LegacySource) -> str:
        return (
            "SELECT reminder_id, reminder_content, reminder_created_at, reminder_expires_at, reminder_channel_id,"
            f" reminder_user_id, reminder_sent, guild_id FROM {source.tables['Reminder']}"
        )

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        key, t = row["reminder_id"], "Reminder"
        batch.count(t).read += 1
        user_id = snowflake(row["reminder_user_id"])
        if user_id is None:
            batch.skip(t, key, "user is not a Discord ID", {"reminder_user_id": row["reminder_user_id"]})
            return
        guild_id, channel_id = snowflake(row["guild_id"]), snowflake(row["reminder_channel_id"])
        if guild_id is None:
            channel_id = None
            batch.adjust(t, key, "its guild is not imported: delivered by DM", {"guild_id": row["guild_id"]})
        elif row["reminder_channel_id"] is not None and channel_id is None:
            batch.adjust(
                t,
                key,
                "channel is not a Discord ID: delivered by DM",
                {"reminder_channel_id": row["reminder_channel_id"]},
            )
        content = row["reminder_content"] or ""
        if not content:
            content = "(reminder)"
            batch.adjust(t, key, "reminder has no text: '(reminder)' used")
        elif len(content) > CONTENT_MAX_LENGTH:
            batch.adjust(
                t,
                key,
                f"text longer than {CONTENT_MAX_LENGTH} characters: cut, full text here",
                {"reminder_content": content},
            )
            content = content[:CONTENT_MAX_LENGTH]
        due = utc(row["reminder_expires_at"]) or DISCORD_EPOCH
        sent = bool(row["reminder_sent"])
        created = utc(row["reminder_created_at"]) or DISCORD_EPOCH
        batch.add(
            "reminder",
            (
                user_id,
                guild_id,
                channel_id,
                content,
                due,
                "sent" if sent else "pending",
                due if sent else None,
                created,
            ),
        )

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        records = batch.records.get("reminder", [])
        if records:
            await stage(connection, "legacy_stage_reminder", _REMINDER_STAGE, records)
            _conflicts(batch, "Reminder", len(records), await connection.fetchval(_REMINDER_INSERT))


_AFK_STAGE = [
    ("guild_id", "bigint"),
    ("user_id", "bigint"),
    ("nickname", "text"),
    ("reason", "text"),
    ("since", "timestamptz"),
    ("until", "timestamptz"),
    ("is_enforced", "boolean"),
    ("is_permanent", "boolean"),
]
_AFK_INSERT = """
WITH inserted AS (
    INSERT INTO afk (guild_id, user_id, nickname, reason, since, until, is_enforced, is_permanent)
    SELECT guild_id, user_id, nickname, reason, since, until, is_enforced, is_permanent FROM legacy_stage_afk
    ON CONFLICT DO NOTHING
    RETURNING guild_id, user_id, until
), expiring AS (
    INSERT INTO job (kind, run_at, payload, dedupe_key, guild_id)
    SELECT 'afk_expiry', until,
           jsonb_build_object('guild_id', guild_id, 'user_id', user_id,
                              'until', to_char(until AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
           guild_id || ':' || user_id, guild_id
    FROM inserted WHERE until IS NOT NULL
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM inserted
"""


class AFKs(TableSpec):
    name = "AFKModel"
    reports = ("AFKModel",)
    keys = ("member_id",)

    def query(self, source: LegacySource) -> str:
        return (
            "SELECT member_id, nickname, reason, since, until, guild_id, enforced, perm_afk"
            f" FROM {source.tables['AFKModel']}"
        )

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        key, t = row["member_id"], "AFKModel"
        batch.count(t).read += 1
        guild_id, user_id = snowflake(row["guild_id"]), snowflake(row["member_id"])
        if guild_id is None:
            batch.skip(t, key, "its guild is not imported")
            return
        if user_id is None:
            batch.skip(t, key, "member_id is not a Discord ID")
            return
        nickname, reason = row["nickname"] or None, row["reason"] or DEFAULT_REASON
        if nickname is not None and len(nickname) > NICKNAME_MAX_LENGTH:
            batch.adjust(t, key, f"nickname longer than {NICKNAME_MAX_LENGTH} characters: cut", {"nickname": nickname})
            nickname = nickname[:NICKNAME_MAX_LENGTH]
        if len(reason) > REASON_MAX_LENGTH:
            batch.adjust(
                t, key, f"reason longer than {REASON_MAX_LENGTH} characters: cut, full text here", {"reason": reason}
            )
            reason = reason[:REASON_MAX_LENGTH]
        since: datetime = utc(row["since"]) or DISCORD_EPOCH
        until, permanent = utc(row["until"]), bool(row["perm_afk"])
        if permanent and until is not None:
            batch.adjust(t, key, "permanent AFK with an end time: the end is dropped", {"until": until.isoformat()})
            until = None
        if until is not None and until <= since:
            batch.skip(t, key, "AFK ended before it began", {"since": since.isoformat(), "until": until.isoformat()})
            return
        batch.add("afk", (guild_id, user_id, nickname, reason, since, until, bool(row["enforced"]), permanent))

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        records = batch.records.get("afk", [])
        if records:
            await stage(connection, "legacy_stage_afk", _AFK_STAGE, records)
            _conflicts(batch, "AFKModel", len(records), await connection.fetchval(_AFK_INSERT))


_LEVEL_STAGE = [
    ("guild_id", "bigint"),
    ("user_id", "bigint"),
    ("xp", "bigint"),
    ("level", "integer"),
    ("last_message_at", "timestamptz"),
    ("is_blacklisted", "boolean"),
]
_LEVEL_INSERT = """
INSERT INTO member_level (guild_id, user_id, xp, level, last_message_at, is_blacklisted)
SELECT guild_id, user_id, xp, level, last_message_at, is_blacklisted FROM legacy_stage_level
ON CONFLICT DO NOTHING
"""


def convert_xp(xp: float | None) -> int:
    """The stated rule: nearest whole number (halves up), negative or non-finite → 0, at most 10^12."""
    if xp is None or not math.isfinite(xp) or xp < 0:
        return 0
    return min(math.floor(xp + 0.5), MAX_XP)


class Levels(TableSpec):
    name = "Levels"
    reports = ("Levels",)
    keys = ("guild_id", "member_id")

    def query(self, source: LegacySource) -> str:
        return f"SELECT member_id, guild_id, xp, level, blacklisted, last_message FROM {source.tables['Levels']}"

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:
        t = "Levels"
        key = f"{row['guild_id']}:{row['member_id']}"
        batch.count(t).read += 1
        guild_id, user_id = snowflake(row["guild_id"]), snowflake(row["member_id"])
        if guild_id is None:
            batch.skip(t, key, "its guild is not imported")
            return
        if user_id is None:
            batch.skip(t, key, "member_id is not a Discord ID", {"xp": row["xp"], "level": row["level"]})
            return
        legacy_xp = row["xp"]
        xp = convert_xp(legacy_xp)
        if legacy_xp is None or not math.isfinite(legacy_xp) or legacy_xp < 0 or legacy_xp > MAX_XP:
            batch.adjust(t, key, "XP outside 0..10^12 or not a number: clamped", {"xp": str(legacy_xp)})
        level = level_for_xp(xp, LevelCurve(context.curves.get(guild_id, LevelCurve.MEE6.value)))
        if row["level"] != level:
            batch.adjust(t, key, "level recomputed from XP by the guild's curve", {"level": row["level"], "now": level})
        batch.add("level", (guild_id, user_id, xp, level, utc(row["last_message"]), bool(row["blacklisted"])))

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        records = batch.records.get("level", [])
        if records:
            await stage(connection, "legacy_stage_level", _LEVEL_STAGE, records)
            status = await connection.execute(_LEVEL_INSERT)
            _conflicts(batch, "Levels", len(records), int(status.split()[-1]))


REMINDERS = Reminders()
AFK = AFKs()
LEVELS = Levels()
