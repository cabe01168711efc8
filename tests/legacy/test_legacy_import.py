"""The importer against both legacy versions: every table maps, the report counts what it did and why."""

from typing import Any

import asyncpg
from legacy_rows import CH, G1, G3, MOD, QUOTED, R1, R2, U1, U2

from guildbase import Database
from guildbase.legacy import run_import
from guildbase.legacy.runner import _dsn
from guildbase.models.levels import level_for_xp

EXPECTED = {  # table: (read, written, merged, skipped)
    "Guild": (4, 3, 0, 1),
    "GuildConfig": (2, 2, 0, 0),
    "Case": (8, 6, 0, 2),
    "Note": (4, 2, 0, 2),
    "Snippet": (11, 7, 1, 3),
    "Reminder": (5, 5, 0, 0),
    "AFKModel": (5, 3, 0, 2),
    "Levels": (4, 3, 0, 1),
    "Starboard": (2, 2, 0, 0),
    "StarboardMessage": (3, 2, 0, 1),
}


def _counts(tables: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    return {name: (t.read, t.written, t.merged, t.skipped) for name, t in tables.items()}


async def _rows(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(_dsn(url))
    try:
        rows: list[asyncpg.Record] = await connection.fetch(sql, *args)
        return rows
    finally:
        await connection.close()


async def test_every_table_imports_with_the_report_matching_the_awkward_rows(legacy_url: str, target_url: str) -> None:
    report = await run_import(legacy_url, target_url, batch_size=3)
    assert _counts(report.tables) == EXPECTED
    assert _counts(report.totals) == EXPECTED
    reasons = report.to_json()["tables"]
    assert reasons["Case"]["reasons"]["skipped"] == {
        "its guild is not imported": 1,
        "user or moderator is not a Discord ID": 1,
    }
    assert reasons["Case"]["reasons"]["adjusted"]["case number missing: numbered after the guild's highest"] == 3
    assert reasons["Case"]["reasons"]["adjusted"]["unknown case type: stored as WARN"] == 1
    assert reasons["Snippet"]["reasons"]["skipped"] == {
        "alias name taken by another snippet ignoring case": 1,
        "alias target does not exist": 1,
        "snippet has no content": 1,
    }
    assert "name collides with another ignoring case: renamed" in reasons["Snippet"]["reasons"]["adjusted"]
    assert "alias target differs in letter case: resolved" in reasons["Snippet"]["reasons"]["adjusted"]
    assert "StarboardMessage.message_content" in report.not_kept


async def test_cases_keep_their_numbers_and_the_next_case_continues_them(
    legacy_url: str, target_url: str, pooled_db: Database
) -> None:
    await run_import(legacy_url, target_url)
    rows = await _rows(target_url, "SELECT * FROM mod_case WHERE guild_id = $1 ORDER BY number", G1)
    by_number = {r["number"]: r for r in rows}
    assert sorted(by_number) == [1, 2, 3, 8, 9, 10]  # after the highest legacy number, 7 (a skipped case)
    assert [by_number[n]["reason"][:9] for n in (8, 9)] == ["no number", "no number"]  # creation order
    assert by_number[9]["type"] == "WARN"
    assert '"MUTE"' in by_number[9]["details"]
    assert by_number[10]["status"] == "voided"
    assert by_number[10]["expires_at"] is None
    assert len(by_number[10]["reason"]) == 512
    assert "x" * 600 in by_number[10]["details"]
    assert by_number[2]["status"] == "expired"
    assert by_number[2]["processed_at"] == by_number[2]["expires_at"]
    assert by_number[2]["reason"].startswith('l\'utilisateur a dit "héllo" 🎉')
    assert by_number[3]["status"] == "active"
    assert by_number[3]["role_ids"] == [R1]
    jobs = await _rows(target_url, "SELECT kind, dedupe_key FROM job WHERE kind = 'tempban_expiry'")
    assert [j["dedupe_key"] for j in jobs] == [str(by_number[3]["case_id"])]
    created = await pooled_db.cases.create(G1, U1, MOD, "WARN", reason="after the import")
    assert created.number == 11


async def test_config_ranks_and_audit_rows(legacy_url: str, target_url: str) -> None:
    await run_import(legacy_url, target_url)
    config = (await _rows(target_url, "SELECT * FROM guild_config WHERE guild_id = $1", G1))[0]
    assert (config["prefix"], config["mod_log_channel_id"], config["audit_log_channel_id"]) == ("!!", CH, None)
    assert config["jail_role_id"] == R1
    assert (await _rows(target_url, "SELECT prefix FROM guild_config WHERE guild_id = $1", G3))[0]["prefix"] == "$"
    ranks = await _rows(target_url, "SELECT role_id, rank FROM permission_role_rank WHERE guild_id = $1", G1)
    assert {r["role_id"]: r["rank"] for r in ranks} == {R1: 0, R2: 5}
    audit = await _rows(target_url, "SELECT action::text, source::text FROM audit_log WHERE guild_id = $1", G1)
    assert sorted(a["action"] for a in audit) == ["config_update", "permission_ranks", "starboard_config"]
    assert {a["source"] for a in audit} == {"cli"}


async def test_notes_snippets_reminders_afk_levels_and_the_starboard(legacy_url: str, target_url: str) -> None:
    await run_import(legacy_url, target_url)
    notes = await _rows(target_url, "SELECT number, length(content) AS n FROM note WHERE guild_id = $1 ORDER BY 1", G1)
    assert [(r["number"], r["n"]) for r in notes] == [(1, len(QUOTED)), (5, 2000)]
    names = await _rows(
        target_url,
        "SELECT n.name, n.is_alias, s.uses, length(s.content) AS n FROM snippet_name n"
        " JOIN snippet s USING (snippet_id) WHERE n.guild_id = $1 ORDER BY n.name",
        G1,
    )
    got = {r["name"]: (r["is_alias"], r["uses"]) for r in names}
    assert got == {
        "Rules": (False, 0),
        "café☕": (False, 9),
        "f": (True, 7),
        "faq": (False, 7),
        "has-space": (False, 0),
        "n" * 32: (False, 0),
        "rules-2": (False, 1),
    }
    reminders = await _rows(target_url, "SELECT r.status::text, r.guild_id, r.channel_id, j.run_at <= now() AS due "
                            "FROM reminder r LEFT JOIN job j ON j.dedupe_key = r.reminder_id::text "
                            "AND j.kind = 'reminder_delivery' ORDER BY r.remind_at")  # fmt: skip
    assert [(r["status"], r["due"]) for r in reminders] == [
        ("sent", None), ("pending", True), ("pending", False), ("pending", False), ("pending", False)
    ]  # fmt: skip
    assert sum(r["guild_id"] == 0 for r in reminders) == 1  # the DM reminder: stored as guild 0 (GuildKeyType)
    assert all(r["channel_id"] is None for r in reminders if r["guild_id"] == 0)
    dm_jobs = await _rows(target_url, "SELECT count(*) AS n FROM job j JOIN reminder r "
                          "ON j.dedupe_key = r.reminder_id::text AND j.kind = 'reminder_delivery' "
                          "WHERE r.guild_id = 0 AND j.guild_id IS NULL")  # fmt: skip
    assert dm_jobs[0]["n"] == sum(r["guild_id"] == 0 and r["status"] == "pending" for r in reminders)
    afk = await _rows(target_url, "SELECT user_id, nickname, until, is_permanent FROM afk ORDER BY user_id")
    assert [(r["user_id"], r["is_permanent"]) for r in afk] == [(U1, False), (U2, True), (U2 + 10, False)]
    assert afk[0]["nickname"] == "n" * 32
    assert afk[1]["until"] is None
    levels = await _rows(
        target_url, "SELECT guild_id, user_id, xp, level, is_blacklisted FROM member_level ORDER BY 1, 2"
    )
    assert [(r["xp"], r["level"], r["is_blacklisted"]) for r in levels] == [
        (1235, level_for_xp(1235), False),
        (0, 0, True),
        (0, 0, False),
    ]
    boards = await _rows(target_url, "SELECT guild_id, threshold, emoji FROM starboard ORDER BY guild_id")
    assert [(r["threshold"], r["emoji"]) for r in boards] == [(1, "⭐"), (3, "⭐")]
    entries = await _rows(target_url, "SELECT star_count, posted_message_id FROM starboard_entry ORDER BY message_id")
    assert [(r["star_count"], r["posted_message_id"]) for r in entries] == [(5, CH + 2), (0, None)]
    assert U2
