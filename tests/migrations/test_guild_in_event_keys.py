"""Migration 0027: rows of no guild become guild 0 and come back as NULL; keys gain guild_id and lose it again."""

from datetime import timedelta
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from scratch_sql import rows as _rows
from sqlalchemy.engine import URL

from guildbase.db.migrations import alembic_config
from guildbase.db.types import make_snowflake, utcnow

GUILD = make_snowflake(utcnow() - timedelta(days=400), 81)
USER = make_snowflake(utcnow() - timedelta(days=300), 82)
REVISION = "0027"


def _guilds(url: URL) -> list[tuple[Any, ...]]:
    return [
        *_rows(url, "SELECT 'audit_log', guild_id FROM audit_log ORDER BY guild_id NULLS FIRST"),
        *_rows(url, "SELECT 'command_log', guild_id FROM command_log ORDER BY guild_id NULLS FIRST"),
        *_rows(url, "SELECT 'reminder', guild_id FROM reminder ORDER BY guild_id NULLS FIRST"),
    ]


def _key(url: URL, table: str) -> str:
    [(definition,)] = _rows(
        url, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %(n)s", {"n": f"pk_{table}"}
    )
    return str(definition)


def test_null_guilds_become_guild_0_and_come_back_as_null(database: URL) -> None:
    config = alembic_config(database)
    previous = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision  # whatever it follows
    command.upgrade(config, str(previous))
    params = {"g": GUILD, "u": USER}
    _rows(database, "INSERT INTO guild (guild_id) VALUES (%(g)s)", params)
    for guild in (None, GUILD):
        _rows(
            database,
            "INSERT INTO audit_log (guild_id, action, entity_type, entity_id) "
            "VALUES (%(g)s, 'feature_set', 'guild', 'x')",
            {"g": guild},
        )
        _rows(
            database,
            "INSERT INTO command_log (created_at, user_id, guild_id, command, is_success, duration_ms) "
            "VALUES (now(), %(u)s, %(g)s, 'ping', true, 1)",
            {"g": guild, "u": USER},
        )
        _rows(
            database,
            "INSERT INTO reminder (user_id, guild_id, content, remind_at) VALUES (%(u)s, %(g)s, 'x', now())",
            {"g": guild, "u": USER},
        )
    before = _guilds(database)
    assert [guild for _table, guild in before] == [None, GUILD] * 3

    command.upgrade(config, REVISION)
    assert [guild for _table, guild in _guilds(database)] == [0, GUILD] * 3
    assert _key(database, "voice_session") == "PRIMARY KEY (session_id, started_at, guild_id)"
    assert _key(database, "reminder") == "PRIMARY KEY (reminder_id, guild_id)"
    _rows(database, "INSERT INTO reminder (user_id, content, remind_at) VALUES (%(u)s, 'dm', now())", params)
    [(default_guild,)] = _rows(database, "SELECT guild_id FROM reminder WHERE content = 'dm'")
    assert default_guild == 0
    _rows(database, "DELETE FROM reminder WHERE content = 'dm'")

    command.downgrade(config, str(previous))
    assert _guilds(database) == before
    assert _key(database, "voice_session") == "PRIMARY KEY (session_id, started_at)"
    assert _key(database, "reminder") == "PRIMARY KEY (reminder_id)"
    _rows(database, "DELETE FROM guild WHERE guild_id = %(g)s", params)  # the foreign key's cascade is back
    assert _rows(database, "SELECT guild_id FROM reminder") == [(None,)]
