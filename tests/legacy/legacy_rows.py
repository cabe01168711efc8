"""Awkward legacy rows for every table, written into a database built from the legacy DDL (both versions).

Times are naive (``timestamp(3)``, meaning UTC) and taken relative to the
library's clock, so "overdue" and "still pending" hold whatever the date.
"""

from datetime import timedelta
from typing import Any

import psycopg

from guildbase.db.types import utcnow
from guildbase.legacy.ddl import DDL, TABLE_NAMES

G1 = 1_100_000_000_000_000_001
G2 = 1_100_000_000_000_000_002
G3 = 1_100_000_000_000_000_003
BAD_GUILD = -5
U1 = 1_100_000_000_000_001_001
U2 = 1_100_000_000_000_001_002
MOD = 1_100_000_000_000_002_001
R1 = 1_100_000_000_000_003_001
R2 = 1_100_000_000_000_003_002
CH = 1_100_000_000_000_004_001
LONG = "é" * 2500
QUOTED = 'l\'utilisateur a dit "héllo" 🎉 — ünïcode'


def build(connection: psycopg.Connection[Any], version: str) -> None:
    """Create the legacy schema of ``version`` and fill it."""
    t = TABLE_NAMES[version]
    connection.execute(DDL[version])
    connection.execute("""ALTER TYPE "CaseType" ADD VALUE 'MUTE'""")  # a label a fork added, unknown today
    now = utcnow().replace(tzinfo=None)
    day = timedelta(days=1)
    ins = connection.execute
    for guild, count in ((G1, 4), (G2, 0), (G3, 0), (BAD_GUILD, 1)):
        ins(
            f"INSERT INTO {t['Guild']} (guild_id, guild_joined_at, case_count) VALUES (%s, %s, %s)",
            (guild, now - 400 * day, count),
        )
    ins(
        f"INSERT INTO {t['GuildConfig']} (guild_id, prefix, mod_log_id, audit_log_id, perm_level_0_role_id,"
        " perm_level_3_role_id, perm_level_5_role_id, perm_level_7_role_id, jail_role_id) "
        "VALUES (%s, '!!', %s, 0, %s, %s, %s, -1, %s)",
        (G1, CH, R1, R2, R2, R1),
    )
    ins(f"INSERT INTO {t['GuildConfig']} (guild_id, prefix) VALUES (%s, 'way too long prefix')", (G3,))
    processed = "case_processed" if version == "sqlmodel" else "case_tempban_expired"
    cases = [
        # (type, reason, user, number, created offset days, expires offset days or None, processed, status, roles)
        ("WARN", "first", U1, 1, -300, None, False, True, []),
        ("TEMPBAN", QUOTED, U1, 2, -200, -100, True, True, [R1]),
        ("TEMPBAN", "overdue, never lifted", U2, 3, -50, -1, False, True, [R1, -1]),
        ("KICK", "no number, older", U1, None, -250, None, False, True, []),
        ("MUTE", "no number, newer, unknown type", U2, None, -10, None, False, True, []),
        ("BAN", "x" * 600, U2, 0, -5, 30, False, False, []),
        ("WARN", "bad user", 0, 7, -4, None, False, True, []),
    ]
    for kind, reason, user, number, created, expires, done, status, roles in cases:
        ins(
            f"INSERT INTO {t['Case']} (case_status, case_type, case_reason, case_moderator_id, case_user_id,"
            f" case_user_roles, case_number, case_created_at, case_expires_at, {processed}, guild_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (status, kind, reason, MOD, user, roles, number, now + created * day,
             None if expires is None else now + expires * day, done, G1),
        )  # fmt: skip
    ins(
        f"INSERT INTO {t['Case']} (case_type, case_reason, case_moderator_id, case_user_id, case_number, guild_id)"
        " VALUES ('WARN', 'in a bad guild', %s, %s, 1, %s)",
        (MOD, U1, BAD_GUILD),
    )
    if version == "sqlmodel":
        ins(f"""UPDATE {t['Case']} SET case_metadata = '{{"source": "dashboard"}}', case_mod_log_message_id = %s
                WHERE case_number = 1 AND guild_id = %s""", (CH + 7, G1))  # fmt: skip
    notes = [(QUOTED, U1, MOD, 1), (LONG, U1, MOD, None), ("", U2, MOD, 3), ("bad moderator", U2, -3, 4)]
    for content, user, moderator, number in notes:
        ins(
            f"INSERT INTO {t['Note']} (note_content, note_created_at, note_moderator_id, note_user_id, note_number,"
            " guild_id) VALUES (%s, %s, %s, %s, %s, %s)",
            (content, now - 3 * day, moderator, user, number, G1),
        )
    snippets: list[tuple[str, str | None, str | None, int]] = [
        ("faq", "A", None, 5),
        ("FAQ", "A", None, 2),
        ("Rules", "B", None, 0),
        ("rules", "C", None, 1),
        ("has space", "D", None, 0),
        ("n" * 40, LONG, None, -4),
        ("café☕", QUOTED, None, 9),
        ("empty", None, None, 0),
        ("f", None, "Faq", 0),
        ("dangling", None, "nothing", 0),
        ("RULES", None, "rules", 0),
    ]
    for n, (name, body, alias, uses) in enumerate(snippets):
        ins(
            f"INSERT INTO {t['Snippet']} (snippet_name, snippet_content, snippet_user_id, snippet_created_at,"
            " guild_id, uses, alias) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (name, body, U1, now - (100 - n) * day, G1, uses, alias),
        )
    reminders: list[tuple[str, int, bool, int, int | None]] = [
        ("sent long ago", -30, True, G1, CH),
        ("overdue", -1, False, G1, CH),
        ("pending", 30, False, G1, None),
        (LONG, 5, False, G1, -1),
        ("in a bad guild", 5, False, BAD_GUILD, CH),
    ]
    for content, due, sent, guild, channel in reminders:
        ins(
            f"INSERT INTO {t['Reminder']} (reminder_content, reminder_created_at, reminder_expires_at,"
            " reminder_channel_id, reminder_user_id, reminder_sent, guild_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (content, now - 40 * day, now + due * day, channel, U1, sent, guild),
        )
    afk = [
        (U1, "n" * 40, None, -1, 2, False, False, G1),
        (U2, None, "gone", -1, 5, False, True, G1),
        (U1 + 10, None, "time travel", -1, -2, False, False, G1),
        (-7, None, "bad id", -1, None, False, False, G1),
        (U2 + 10, None, QUOTED, -1, None, True, False, G3),
    ]
    for member, nick, away, since, until, enforced, perm, guild in afk:
        ins(
            f"INSERT INTO {t['AFKModel']} (member_id, nickname, reason, since, until, guild_id, enforced, perm_afk)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (member, nick, away, now + since * day, None if until is None else now + until * day, guild, enforced,
             perm),
        )  # fmt: skip
    levels = [(U1, G1, 1234.5, 99, False), (U2, G1, float("nan"), 3, True), (U1, G3, -5.0, 0, False),
              (U1, BAD_GUILD, 10.0, 0, False)]  # fmt: skip
    for member, guild, xp, level, blacklisted in levels:
        ins(
            f"INSERT INTO {t['Levels']} (member_id, guild_id, xp, level, blacklisted, last_message)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (member, guild, xp, level, blacklisted, now - day),
        )
    ins(f"INSERT INTO {t['Starboard']} VALUES (%s, %s, '⭐', 0), (%s, %s, %s, 3)", (G1, CH, G3, CH, "e" * 80))
    messages = [(CH + 1, G1, 5, CH + 2), (CH + 3, G1, -2, -1), (CH + 4, BAD_GUILD, 1, None)]
    for message, guild, stars, posted in messages:
        ins(
            f"INSERT INTO {t['SM']} (message_id, message_content, message_created_at, message_channel_id,"
            " message_user_id, message_guild_id, star_count, starboard_message_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (message, QUOTED, now - 2 * day, CH, U1, guild, stars, posted),
        )
