"""Migration 0009 moves the ``moderation_change`` trail into ``audit_log``, and the downgrade moves it back."""

from datetime import timedelta

from alembic import command
from scratch_sql import rows as _rows
from sqlalchemy.engine import URL

from guildbase.db.migrations import alembic_config
from guildbase.db.types import make_snowflake, utcnow

GUILD = make_snowflake(utcnow() - timedelta(days=400), 81)
USER = make_snowflake(utcnow() - timedelta(days=300), 82)
MOD = make_snowflake(utcnow() - timedelta(days=300), 83)


def _seed_the_old_trail(url: URL) -> tuple[int, int]:
    """At 0008 (just before the audit log): a case with a reason edit and a void, a note with its deletion."""
    params = {"g": GUILD, "u": USER, "m": MOD}
    _rows(url, "INSERT INTO guild (guild_id) VALUES (%(g)s)", params)
    [(case_id,)] = _rows(
        url,
        "INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id) "
        "VALUES (%(g)s, 1, 'WARN', %(u)s, %(m)s) RETURNING case_id",
        params,
    )
    [(note_id,)] = _rows(
        url,
        "INSERT INTO note (guild_id, number, user_id, moderator_id, content) "
        "VALUES (%(g)s, 1, %(u)s, %(m)s, 'watch') RETURNING note_id",
        params,
    )
    trail = [
        ("case_reason", case_id, None, '{"reason": null}', '{"reason": "spam"}'),
        ("case_void", case_id, None, '{"status": "active"}', '{"status": "voided"}'),
        ("note_delete", None, note_id, '{"content": "watch", "deleted": false}', '{"deleted": true}'),
    ]
    for action, case, note, before, after in trail:
        _rows(
            url,
            "INSERT INTO moderation_change (guild_id, case_id, note_id, action, actor_id, before, after) "
            "VALUES (%(g)s, %(c)s, %(n)s, %(a)s, %(m)s, %(b)s, %(f)s)",
            params | {"c": case, "n": note, "a": action, "b": before, "f": after},
        )
    return case_id, note_id


def test_the_moderation_trail_moves_into_the_audit_log_and_back(database: URL) -> None:
    config = alembic_config(database)
    command.upgrade(config, "0008")
    case_id, note_id = _seed_the_old_trail(database)
    old = _rows(database, "SELECT action::text, actor_id, before, after, created_at FROM moderation_change ORDER BY 1")

    command.upgrade(config, "0009")

    moved = _rows(
        database,
        "SELECT action::text, entity_type::text, entity_id, guild_id, actor_id, before, after, created_at, source "
        "FROM audit_log ORDER BY audit_id",
    )
    assert [(a, t, e, g, s) for a, t, e, g, _, _, _, _, s in moved] == [
        ("case_reason", "case", str(case_id), GUILD, None),
        ("case_void", "case", str(case_id), GUILD, None),
        ("note_delete", "note", str(note_id), GUILD, None),
    ]
    assert sorted((a, actor, b, f, when) for a, _, _, _, actor, b, f, when, _ in moved) == old
    assert _rows(database, "SELECT to_regclass('moderation_change')") == [(None,)]
    _rows(  # written after the upgrade: a creation, which the old table has no label for
        database,
        "INSERT INTO audit_log (guild_id, action, entity_type, entity_id, after) "
        "VALUES (%(g)s, 'case_create', 'case', %(c)s, '{\"number\": 1}')",
        {"g": GUILD, "c": str(case_id)},
    )

    command.downgrade(config, "0008")

    back = _rows(database, "SELECT action::text, actor_id, before, after, created_at FROM moderation_change ORDER BY 1")
    assert back == old
    assert _rows(database, "SELECT to_regclass('audit_log')") == [(None,)]
    command.upgrade(config, "head")
