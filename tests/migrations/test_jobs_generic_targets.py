"""Migration 0007 moves existing jobs from per-domain columns to typed payloads, and back."""

from datetime import timedelta

from alembic import command
from scratch_sql import rows as _rows
from sqlalchemy.engine import URL

from guildbase.db.migrations import alembic_config
from guildbase.db.types import make_snowflake, utcnow
from guildbase.models.afk import AFK_EXPIRY
from guildbase.models.moderation import CASE_EXPIRY, CaseType
from guildbase.models.reminders import REMINDER_DELIVERY

GUILD = make_snowflake(utcnow() - timedelta(days=400), 71)
USER = make_snowflake(utcnow() - timedelta(days=300), 72)
MOD = make_snowflake(utcnow() - timedelta(days=300), 73)


def _seed_through_the_old_triggers(url: URL) -> None:
    """At 0006: a TEMPBAN, a reminder and a timed AFK, each enqueued by its trigger."""
    params = {"g": GUILD, "u": USER, "m": MOD}
    _rows(url, "INSERT INTO guild (guild_id) VALUES (%(g)s)", params)
    _rows(
        url,
        "INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, expires_at) "
        "VALUES (%(g)s, 4, 'TEMPBAN', %(u)s, %(m)s, now() + interval '1 day')",
        params,
    )
    _rows(
        url,
        "INSERT INTO reminder (user_id, guild_id, content, remind_at, max_attempts) "
        "VALUES (%(u)s, %(g)s, 'stretch', now() + interval '1 hour', 7)",
        params,
    )
    _rows(
        url,
        "INSERT INTO afk (guild_id, user_id, reason, until) VALUES (%(g)s, %(u)s, 'lunch', now() + interval '2 hours')",
        params,
    )


def test_existing_jobs_get_typed_payloads_and_the_downgrade_restores_columns_and_triggers(database: URL) -> None:
    config = alembic_config(database)
    command.upgrade(config, "0006")
    _seed_through_the_old_triggers(database)
    (case_id,) = _rows(database, "SELECT case_id FROM mod_case")[0]
    (reminder_id, remind_at) = _rows(database, "SELECT reminder_id, remind_at FROM reminder")[0]
    (until,) = _rows(database, "SELECT until FROM afk")[0]

    command.upgrade(config, "0007")

    jobs = {
        kind: (payload, key, budget)
        for kind, payload, key, budget in _rows(database, "SELECT kind, payload, dedupe_key, max_attempts FROM job")
    }
    tempban, reminder, afk = CASE_EXPIRY[CaseType.TEMPBAN], REMINDER_DELIVERY, AFK_EXPIRY
    assert set(jobs) == {tempban.name, reminder.name, afk.name}
    assert tempban.parse(jobs[tempban.name][0]).model_dump() == {"guild_id": GUILD, "number": 4}
    assert jobs[tempban.name][1] == str(case_id)
    assert reminder.parse(jobs[reminder.name][0]).reminder_id == reminder_id
    assert jobs[reminder.name][1:] == (str(reminder_id), 7)
    assert afk.parse(jobs[afk.name][0]).model_dump() == {"guild_id": GUILD, "user_id": USER, "until": until}
    assert jobs[afk.name][1] == f"{GUILD}:{USER}"
    columns = {
        name
        for (name,) in _rows(database, "SELECT column_name FROM information_schema.columns WHERE table_name = 'job'")
    }
    assert not {"case_id", "reminder_id", "user_id"} & columns
    triggers = {name for (name,) in _rows(database, "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
    assert triggers == {"job_notify"}, "only the generic wake-up trigger is left"

    command.downgrade(config, "0006")

    restored = _rows(
        database, "SELECT kind, case_id, reminder_id, user_id, payload, dedupe_key, run_at FROM job ORDER BY kind"
    )
    assert restored == [
        (afk.name, None, None, USER, {}, None, until),
        (reminder.name, None, reminder_id, USER, {}, None, remind_at),
        (tempban.name, case_id, None, USER, {"number": 4}, None, restored[2][6]),
    ]
    _rows(
        database,
        "INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, expires_at) "
        "VALUES (%(g)s, 5, 'TIMEOUT', %(u)s, %(m)s, now() + interval '1 hour')",
        {"g": GUILD, "u": USER, "m": MOD},
    )
    assert _rows(database, "SELECT count(*) FROM job WHERE kind = 'timeout_expiry' AND case_id IS NOT NULL") == [
        (1,)
    ], "the downgrade brings the triggers back"
