"""Case → mod_case and Note → note, keeping the legacy numbers.

Numbers: a legacy number that is missing (NULL) or not positive gets a new
one after the guild's highest legacy number, in creation order (then legacy
ID), computed by a window function in the read query itself, so every run
(and every resumed run) hands out the same numbers. The guild's counter ends
at the highest number imported or the legacy ``case_count``, whichever is
higher, so the next case continues the numbering.

Case fields:
- ``case_status``: true (the default) means the case stands; false means it
  was withdrawn: status ``voided``. A standing case whose expiry was processed
  (``case_tempban_expired`` / ``case_processed``) is ``expired``, with
  ``processed_at`` its expiry time; the rest are ``active``. An active case with
  an expiry gets its expiry job, so an overdue TEMPBAN is lifted at the next run.
- an unknown ``CaseType`` label becomes ``WARN`` (a record with no effect);
  a reason over 512 characters is cut; a role ID guildbase cannot store is
  dropped; a TEMPBAN or TIMEOUT without an end ends at its creation; an expiry
  on a type that cannot expire is dropped. Each time, the original value is
  kept in ``details.legacy`` and the row is reported as adjusted.
- ``case_metadata`` (later version) becomes ``details``; ``case_mod_log_message_id``
  is kept.
"""

# ruff: noqa: S608 - table names come from the catalog (detect.py) and are quoted; values are bound or COPYed

import json
from operator import itemgetter
from typing import Any

import asyncpg

from guildbase.legacy.batch import DISCORD_EPOCH, Batch, Issue, as_json, dumps, snowflake, utc
from guildbase.legacy.detect import LegacySource
from guildbase.legacy.spec import ImportContext, TableSpec, stage
from guildbase.models.core import REASON_MAX_LENGTH
from guildbase.models.moderation import MAX_ROLE_IDS, MAY_EXPIRE, NOTE_MAX_LENGTH, REQUIRES_EXPIRY, CaseType

__all__ = ["CASES", "NOTES"]

_TYPES = {t.value: t for t in CaseType}
_CASE_STAGE = [
    ("guild_id", "bigint"),
    ("number", "bigint"),
    ("type", "text"),
    ("user_id", "bigint"),
    ("moderator_id", "bigint"),
    ("reason", "text"),
    ("role_ids", "bigint[]"),
    ("expires_at", "timestamptz"),
    ("mod_log_message_id", "bigint"),
    ("details", "text"),
    ("status", "text"),
    ("processed_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
]
_CASE_COLUMNS = [column for column, _ in _CASE_STAGE]
_CASE_INSERT = """
WITH inserted AS (
    INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, reason, role_ids, expires_at,
                          mod_log_message_id, details, status, processed_at, created_at, updated_at)
    SELECT guild_id, number, type::mod_case_type, user_id, moderator_id, reason, role_ids, expires_at,
           mod_log_message_id, details::jsonb, status::mod_case_status, processed_at, created_at, updated_at
    FROM legacy_stage_case
    ON CONFLICT DO NOTHING
    RETURNING case_id, guild_id, number, type, expires_at, status
), expiring AS (
    INSERT INTO job (kind, run_at, payload, dedupe_key, guild_id)
    SELECT lower(type::text) || '_expiry', expires_at, jsonb_build_object('guild_id', guild_id, 'number', number),
           case_id::text, guild_id
    FROM inserted WHERE status = 'active' AND expires_at IS NOT NULL
    ON CONFLICT DO NOTHING
), counted AS (
    INSERT INTO guild_counter (guild_id, kind, last_value)
    SELECT guild_id, 'case', max(number) FROM legacy_stage_case GROUP BY guild_id
    ON CONFLICT (guild_id, kind) DO UPDATE SET last_value = greatest(guild_counter.last_value, excluded.last_value)
)
SELECT count(*) FROM inserted
"""
_CASE_AFTER_COPY = """
WITH expiring AS (
    INSERT INTO job (kind, run_at, payload, dedupe_key, guild_id)
    SELECT lower(c.type::text) || '_expiry', c.expires_at,
           jsonb_build_object('guild_id', c.guild_id, 'number', c.number), c.case_id::text, c.guild_id
    FROM unnest($1::bigint[], $2::bigint[]) AS e(guild_id, number) JOIN mod_case AS c USING (guild_id, number)
    ON CONFLICT DO NOTHING
)
INSERT INTO guild_counter (guild_id, kind, last_value)
SELECT guild_id, 'case', highest FROM unnest($3::bigint[], $4::bigint[]) AS t(guild_id, highest)
ON CONFLICT (guild_id, kind) DO UPDATE SET last_value = greatest(guild_counter.last_value, excluded.last_value)
"""
"""After a direct COPY: the same expiry jobs and counters as ``_CASE_INSERT`` gives (every row was inserted)."""
_BY_NUMBER = itemgetter(0, 1)


def _numbered(table: str, key: str, number: str, created: str) -> str:
    """``table`` joined to ``new_number``, set where the legacy number is missing or not positive.

    Only the rows without a number are ranked (per guild, in creation order,
    then legacy ID) and added to the guild's highest legacy number; the rest
    are joined to nothing, so the read needs no window over the whole table.
    """
    missing = f"({number} IS NULL OR {number} <= 0)"
    return (
        f"{table} AS legacy_row LEFT JOIN (SELECT {key} AS numbered_key, coalesce(top.highest, 0)"
        f" + row_number() OVER (PARTITION BY guild_id ORDER BY {created} NULLS FIRST, {key}) AS new_number"
        f" FROM {table} LEFT JOIN (SELECT guild_id, max({number}) AS highest FROM {table} WHERE {number} > 0"
        f" GROUP BY guild_id) AS top USING (guild_id) WHERE {missing}) AS numbered"
        f" ON numbered.numbered_key = legacy_row.{key}"
    )


class Cases(TableSpec):
    name = "Case"
    reports = ("Case",)
    keys = ("guild_id", "case_id")
    """Read guild by guild: each batch's cases land next to each other in every index of ``mod_case``."""

    def query(self, source: LegacySource) -> str:
        processed = "case_processed" if source.has("Case", "case_processed") else "case_tempban_expired"
        message = "case_mod_log_message_id" if source.has("Case", "case_mod_log_message_id") else "NULL::bigint"
        metadata = "case_metadata::text" if source.has("Case", "case_metadata") else "NULL::text"
        return (
            "SELECT case_id, case_status, case_type::text AS case_type, case_reason, case_moderator_id, case_user_id,"
            " case_user_roles, case_number, case_created_at AT TIME ZONE 'UTC' AS case_created_at,"
            f" case_expires_at AT TIME ZONE 'UTC' AS case_expires_at, {processed} AS processed, guild_id,"
            f" {message} AS mod_log_message_id, {metadata} AS metadata, new_number"
            f" FROM {_numbered(source.tables['Case'], 'case_id', 'case_number', 'case_created_at')}"
        )

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002, C901, PLR0915
        key = row["case_id"]
        batch.count("Case").read += 1
        guild_id, user_id, moderator_id = (
            snowflake(row["guild_id"]),
            snowflake(row["case_user_id"]),
            snowflake(row["case_moderator_id"]),
        )
        if guild_id is None:
            batch.skip("Case", key, "its guild is not imported")
            return
        if user_id is None or moderator_id is None:
            original = {"case_user_id": row["case_user_id"], "case_moderator_id": row["case_moderator_id"]}
            batch.skip("Case", key, "user or moderator is not a Discord ID", original)
            return
        legacy: dict[str, Any] = {}
        number = row["case_number"]
        if row["new_number"] is not None:
            legacy["case_number"] = number
            number = row["new_number"]
            batch.adjust(
                "Case",
                key,
                "case number missing: numbered after the guild's highest",
                {"case_number": legacy["case_number"], "number": number},
            )
        case_type = _TYPES.get(row["case_type"])
        if case_type is None:
            legacy["case_type"] = row["case_type"]
            case_type = CaseType.WARN
            batch.adjust("Case", key, "unknown case type: stored as WARN", {"case_type": row["case_type"]})
        reason = row["case_reason"]
        if reason is not None and len(reason) > REASON_MAX_LENGTH:
            legacy["case_reason"] = reason
            reason = reason[:REASON_MAX_LENGTH]
            batch.adjust(
                "Case", key, f"reason longer than {REASON_MAX_LENGTH} characters: cut, full text in details.legacy"
            )
        roles = list(row["case_user_roles"] or [])
        kept = [role for role in roles if snowflake(role) is not None][:MAX_ROLE_IDS]
        if len(kept) != len(roles):
            legacy["case_user_roles"] = roles
            batch.adjust("Case", key, "saved roles not storable (bad IDs or too many): originals in details.legacy")
        created = utc(row["case_created_at"])
        if created is None:
            created = DISCORD_EPOCH
            batch.adjust("Case", key, "creation time missing: 2015-01-01 used")
        expires = utc(row["case_expires_at"])
        if expires is None and case_type in REQUIRES_EXPIRY:
            legacy["case_expires_at"] = None
            expires = created
            batch.adjust("Case", key, "temporary case without an end: ends at its creation")
        elif expires is not None and case_type not in MAY_EXPIRE:
            legacy["case_expires_at"] = expires.isoformat()
            expires = None
            batch.adjust("Case", key, "expiry on a type that cannot expire: dropped, kept in details.legacy")
        processed = bool(row["processed"])
        status = "voided" if row["case_status"] is False else "expired" if processed and expires else "active"
        message = snowflake(row["mod_log_message_id"])
        if row["mod_log_message_id"] is not None and message is None:
            legacy["mod_log_message_id"] = row["mod_log_message_id"]
        details = _details(row["metadata"])
        if legacy:
            details["legacy"] = {name: as_json(value) for name, value in legacy.items()}
        batch.add(
            "case",
            (
                guild_id,
                number,
                case_type.value,
                user_id,
                moderator_id,
                reason,
                kept,
                expires,
                message,
                dumps(details),
                status,
                (expires or created) if processed else None,
                created,
                created,
            ),
        )

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:
        records = batch.records.get("case", [])
        if not records:
            return
        records.sort(key=_BY_NUMBER)  # each index of mod_case then grows at a few places, mostly at its end
        guilds = {record[0] for record in records}
        if context.direct and guilds.isdisjoint(context.conflicted):
            try:
                async with connection.transaction():  # a savepoint: a conflict undoes the COPY alone
                    await connection.copy_records_to_table("mod_case", records=records, columns=_CASE_COLUMNS)
            except asyncpg.UniqueViolationError:
                context.conflicted |= guilds  # guildbase has cases of these guilds: the checked path from now on
            else:
                expiring = [record for record in records if record[10] == "active" and record[7] is not None]
                highest = {record[0]: record[1] for record in records}  # sorted: the last number is the highest
                await connection.execute(
                    _CASE_AFTER_COPY,
                    [record[0] for record in expiring],
                    [record[1] for record in expiring],
                    list(highest),
                    list(highest.values()),
                )
                _conflicts(batch, "Case", len(records), len(records))
                return
        await stage(connection, "legacy_stage_case", _CASE_STAGE, records)
        _conflicts(batch, "Case", len(records), await connection.fetchval(_CASE_INSERT))


def _details(metadata: str | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    value = json.loads(metadata)
    return value if isinstance(value, dict) else {"metadata": value}


def _conflicts(batch: Batch, table: str, staged: int, written: int) -> None:
    counts = batch.count(table)
    counts.written += written
    if staged > written:
        counts.merged += staged - written
        batch.issues.append(
            Issue(
                table,
                f"batch:{batch.extra.get('first_key')}",
                "already in guildbase (same guild and number): kept as it is",
                "merged",
                {"rows": staged - written},
            )
        )


_NOTE_STAGE = [
    ("guild_id", "bigint"),
    ("number", "bigint"),
    ("user_id", "bigint"),
    ("moderator_id", "bigint"),
    ("content", "text"),
    ("created_at", "timestamptz"),
]
_NOTE_INSERT = """
WITH inserted AS (
    INSERT INTO note (guild_id, number, user_id, moderator_id, content, created_at, updated_at)
    SELECT guild_id, number, user_id, moderator_id, content, created_at, created_at FROM legacy_stage_note
    ON CONFLICT DO NOTHING
    RETURNING note_id
), counted AS (
    INSERT INTO guild_counter (guild_id, kind, last_value)
    SELECT guild_id, 'note', max(number) FROM legacy_stage_note GROUP BY guild_id
    ON CONFLICT (guild_id, kind) DO UPDATE SET last_value = greatest(guild_counter.last_value, excluded.last_value)
)
SELECT count(*) FROM inserted
"""


class Notes(TableSpec):
    name = "Note"
    reports = ("Note",)
    keys = ("note_id",)

    def query(self, source: LegacySource) -> str:
        return (
            "SELECT note_id, note_content, note_created_at, note_moderator_id, note_user_id, note_number, guild_id,"
            f" new_number FROM {_numbered(source.tables['Note'], 'note_id', 'note_number', 'note_created_at')}"
        )

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        key = row["note_id"]
        batch.count("Note").read += 1
        guild_id, user_id, moderator_id = (
            snowflake(row["guild_id"]),
            snowflake(row["note_user_id"]),
            snowflake(row["note_moderator_id"]),
        )
        if guild_id is None:
            batch.skip("Note", key, "its guild is not imported")
            return
        if user_id is None or moderator_id is None:
            original = {"note_user_id": row["note_user_id"], "note_moderator_id": row["note_moderator_id"]}
            batch.skip("Note", key, "user or moderator is not a Discord ID", original)
            return
        content = row["note_content"]
        if not content:
            batch.skip("Note", key, "note has no text")
            return
        if len(content) > NOTE_MAX_LENGTH:
            batch.adjust(
                "Note",
                key,
                f"text longer than {NOTE_MAX_LENGTH} characters: cut, full text here",
                {"note_content": content},
            )
            content = content[:NOTE_MAX_LENGTH]
        number = row["note_number"]
        if row["new_number"] is not None:
            batch.adjust(
                "Note",
                key,
                "note number missing: numbered after the guild's highest",
                {"note_number": number, "number": row["new_number"]},
            )
            number = row["new_number"]
        created = utc(row["note_created_at"]) or DISCORD_EPOCH
        batch.add("note", (guild_id, number, user_id, moderator_id, content, created))

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        records = batch.records.get("note", [])
        if records:
            await stage(connection, "legacy_stage_note", _NOTE_STAGE, records)
            _conflicts(batch, "Note", len(records), await connection.fetchval(_NOTE_INSERT))


CASES = Cases()
NOTES = Notes()
