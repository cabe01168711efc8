"""The error log (R6.2): fingerprints that group repeats, upserted groups, bounded samples, no loss at close."""

import asyncio
import os
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from guildbase import Database, Settings, ValidationError
from guildbase.controllers.error_log import fingerprint
from guildbase.db.engine import with_driver

GUILD = 1_100_000_000_000_000_001
OTHER_GUILD = 1_100_000_000_000_000_002
USER = 1_100_000_000_000_000_101
CHANNEL = 1_100_000_000_000_000_301


class QuotaError(Exception):
    """A made-up failure raised by the functions below."""


def fetch_profile(user_id: int, *, late: bool = False) -> None:
    if late:
        pad = [user_id] * 3  # the raise below sits on another line than the early one
        raise QuotaError(f"quota exceeded for {pad[0]}")
    raise QuotaError(f"quota exceeded for {user_id}")


def fetch_roles(user_id: int) -> None:
    raise QuotaError(f"quota exceeded for {user_id}")


def caught(function: Any, *args: Any, **kwargs: Any) -> BaseException:
    try:
        function(*args, **kwargs)
    except QuotaError as error:
        return error
    raise AssertionError("expected QuotaError")


def test_a_fingerprint_ignores_messages_and_line_numbers_but_not_the_stack_or_the_type() -> None:
    first, location = fingerprint(caught(fetch_profile, 1))
    assert fingerprint(caught(fetch_profile, 2)) == (first, location)
    assert fingerprint(caught(fetch_profile, 3, late=True))[0] == first
    assert location.endswith("controllers/test_error_log.py:fetch_profile")
    assert fingerprint(caught(fetch_roles, 1))[0] != first
    assert fingerprint(QuotaError("never raised"))[0] != fingerprint(ValueError("never raised"))[0]


async def _scalar(settings: Settings, sql: str) -> Any:
    assert settings.database_url is not None
    engine = create_async_engine(with_driver(settings.database_url, "asyncpg"))
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def test_repeats_group_into_one_counted_row_keeping_only_the_newest_samples(pooled_db: Database) -> None:
    for n in range(25):
        await pooled_db.logs.record_error(
            caught(fetch_profile, n),
            guild_id=GUILD,
            channel_id=CHANNEL,
            user_id=USER,
            command="profile",
            context={"attempt": n},
            error_id=f"e{n:02}",
            shard_id=1,
        )
    await pooled_db.logs.record_error(caught(fetch_roles, 1), guild_id=OTHER_GUILD, command="roles")
    await pooled_db.logs.flush()
    for n in range(25, 30):  # a later batch adds to the same group and pushes old samples out
        await pooled_db.logs.record_error(caught(fetch_profile, n), guild_id=GUILD, command="profile", error_id=f"e{n}")
    await pooled_db.logs.flush()

    profile, roles = await pooled_db.logs.top_errors()
    assert (profile.total, profile.in_period, roles.total) == (30, 30, 1)
    assert (profile.type.rpartition(".")[2], profile.message) == ("QuotaError", "quota exceeded for 29")
    assert profile.first_seen_at < profile.last_seen_at
    samples = await pooled_db.logs.recent_errors(guild_id=GUILD, limit=100)
    assert [s.error_id for s in samples] == [f"e{n}" for n in range(29, 9, -1)]  # the newest 20 of 30
    oldest = samples[-1]
    assert (oldest.context, oldest.shard_id, oldest.user_id, oldest.command) == ({"attempt": 10}, 1, USER, "profile")
    assert oldest.process.endswith(f":{os.getpid()}")
    assert "fetch_profile" in oldest.traceback
    [other] = await pooled_db.logs.recent_errors(command="roles")
    assert other.guild_id == OTHER_GUILD
    assert await pooled_db.logs.recent_errors(fingerprint=other.fingerprint, guild_id=GUILD) == []
    day = profile.last_seen_at.date()
    assert await pooled_db.logs.top_errors(until=day) == []  # ``until`` is exclusive
    assert [g.fingerprint for g in await pooled_db.logs.top_errors(days=1, until=day + timedelta(days=1), limit=1)] == [
        profile.fingerprint
    ]


async def test_concurrent_writers_count_every_occurrence_and_nothing_is_lost_at_close(
    settings: Settings, pooled_db: Database
) -> None:
    other = Database(settings)
    await other.connect()

    async def fail(db: Database, n: int) -> None:
        await db.logs.record_error(caught(fetch_profile, n), guild_id=GUILD, command="profile")

    await asyncio.gather(*(fail(pooled_db if n % 2 else other, n) for n in range(300)))
    await asyncio.gather(other.close(), pooled_db.close())  # close writes what is queued, both at once
    assert await _scalar(settings, "SELECT sum(count) FROM error_group") == 300
    assert await _scalar(settings, "SELECT sum(count) FROM error_group_daily") == 300
    assert await _scalar(settings, "SELECT count(*) FROM error_log") == 20


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"exc": "boom"}, "exc"),
        ({"guild_id": 0}, "guild_id"),
        ({"channel_id": True}, "channel_id"),
        ({"user_id": "me"}, "user_id"),
        ({"command": "x" * 101}, "command"),
        ({"context": {"when": object()}}, "context"),
        ({"context": {"text": "a\x00b"}}, "context.text"),
        ({"error_id": "x" * 65}, "error_id"),
        ({"shard_id": -1}, "shard_id"),
    ],
)
async def test_bad_arguments_are_refused_by_name_and_nothing_is_queued(
    db: Database, arguments: dict[str, Any], field: str
) -> None:
    exc = arguments.pop("exc", QuotaError("x"))
    with pytest.raises(ValidationError) as refused:
        await db.logs.record_error(exc, **arguments)
    assert [e.field for e in refused.value.errors] == [field]
    assert db.logs.error_writer.accepted == 0


async def test_an_unstorable_message_is_stored_escaped_rather_than_failing_the_record(pooled_db: Database) -> None:
    await pooled_db.logs.record_error(QuotaError("nul \x00 and \ud800 inside"), command="odd")
    await pooled_db.logs.flush()
    [sample] = await pooled_db.logs.recent_errors(command="odd")
    assert sample.message == "nul \\x00 and \\ud800 inside"
