"""Every row the import writes, by natural key, without surrogate IDs or times set by the clock of the run."""

from typing import Any

import asyncpg

from guildbase.legacy.runner import _dsn

QUERIES = {
    "guild": "SELECT guild_id, joined_at FROM guild ORDER BY 1",
    "guild_config": "SELECT guild_id, prefix, locale, mod_log_channel_id, audit_log_channel_id, jail_role_id "
    "FROM guild_config ORDER BY 1",
    "guild_counter": "SELECT guild_id, kind::text, last_value FROM guild_counter ORDER BY 1, 2",
    "permission_role_rank": "SELECT guild_id, role_id, rank FROM permission_role_rank ORDER BY 1, 2",
    "permission_rank": "SELECT guild_id, rank, name FROM permission_rank ORDER BY 1, 2",
    "mod_case": "SELECT guild_id, number, type::text, user_id, moderator_id, reason, role_ids, expires_at, "
    "mod_log_message_id, details::text, status::text, processed_at, created_at FROM mod_case ORDER BY 1, 2",
    "note": "SELECT guild_id, number, user_id, moderator_id, content, created_at FROM note ORDER BY 1, 2",
    "snippet": "SELECT n.guild_id, n.name, n.is_alias, s.content, s.author_id, s.uses, s.is_locked, s.created_at "
    "FROM snippet_name n JOIN snippet s USING (snippet_id) ORDER BY 1, 2",
    "reminder": "SELECT user_id, guild_id, channel_id, content, remind_at, status::text, sent_at, created_at "
    "FROM reminder ORDER BY 5, 4",
    "job": "SELECT kind, run_at, guild_id, status::text FROM job ORDER BY 1, 2, 3",
    "afk": "SELECT * FROM afk ORDER BY guild_id, user_id",
    "member_level": "SELECT guild_id, user_id, xp, level, last_message_at, is_blacklisted FROM member_level "
    "ORDER BY 1, 2",
    "starboard": "SELECT guild_id, channel_id, emoji, threshold FROM starboard ORDER BY 1",
    "starboard_entry": "SELECT guild_id, message_id, channel_id, author_id, star_count, posted_message_id, "
    "created_at FROM starboard_entry ORDER BY 1, 2",
    "audit_log": "SELECT guild_id, action::text, entity_type::text, entity_id, after::text FROM audit_log "
    "ORDER BY 1, 2, 3",
    "legacy_import_checkpoint": "SELECT table_name, last_key, is_done, rows_read, rows_written, rows_merged, "
    "rows_skipped FROM legacy_import_checkpoint ORDER BY 1",
    "legacy_import_issue": "SELECT table_name, legacy_key, reason, action, original::text FROM legacy_import_issue "
    "ORDER BY 1, 2, 3",
}


async def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each imported table's rows, as tuples."""
    connection = await asyncpg.connect(_dsn(url))
    try:
        return {name: [tuple(r) for r in await connection.fetch(sql)] for name, sql in QUERIES.items()}
    finally:
        await connection.close()
