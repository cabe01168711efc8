"""The per-message and per-command paths that run on the driver connection (``db.fast``)."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from guildbase import Database, Settings, ValidationError
from guildbase.controllers.guild_config import config_key
from guildbase.testing import ids, shifted_noon, truncate_all

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
UNKNOWN_GUILD = BLOCK + 9
CHANNEL = BLOCK + 301
BASE_USER = BLOCK + 100_000
NOW = shifted_noon()
pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)


async def _seed(db: Database, count: int) -> None:
    await db.guilds.join(GUILD)
    async with db.session() as session:
        await session.execute(
            text(
                "INSERT INTO member_level (guild_id, user_id, xp, level) "
                "SELECT :guild, CAST(:base AS bigint) + n, (n * 7919 % 50)::bigint, 0 "
                "FROM generate_series(1, :count) AS n"
            ),
            {"guild": GUILD, "base": BASE_USER, "count": count},
        )


async def test_top_with_rank_answers_like_top_and_rank_from_redis_and_when_rebuilding(db: Database) -> None:
    await _seed(db, 300)
    caller = BASE_USER + 123
    expected_top = await db.leaderboards.top(GUILD, 10)
    expected_me = await db.leaderboards.rank(GUILD, caller)
    board, me = await db.leaderboards.top_with_rank(GUILD, caller, 10)
    assert (board.entries, board.source, me) == (expected_top.entries, "redis", expected_me)
    await db.redis.flushdb()  # the board is gone: the call rebuilds it
    board, me = await db.leaderboards.top_with_rank(GUILD, caller, 10)
    assert (board.entries, me) == (expected_top.entries, expected_me)
    assert (await db.leaderboards.top_with_rank(GUILD, BASE_USER + 999, 3))[1] is None


async def test_fast_paths_name_the_field_when_the_guild_is_unknown(db: Database) -> None:
    with pytest.raises(ValidationError) as award:
        await db.levels.award_message_xp(UNKNOWN_GUILD, BASE_USER, CHANNEL, [], NOW)
    with pytest.raises(ValidationError) as case:
        await db.cases.create(UNKNOWN_GUILD, BASE_USER, BASE_USER + 1, "WARN")
    assert (award.value.fields, case.value.fields) == (["guild_id"], ["guild_id"])
    await db.guilds.join(GUILD)
    first = await db.cases.create(GUILD, BASE_USER, BASE_USER + 1, "WARN", reason="spam", details={"rule": 3})
    assert (first.number, first.details, first.reason) == (1, {"rule": 3}, "spam")


async def test_a_failed_statement_on_the_driver_leaves_the_test_transaction_usable(db: Database) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError):
        await db.cases.create(UNKNOWN_GUILD, BASE_USER, BASE_USER + 1, "WARN")
    assert (await db.cases.create(GUILD, BASE_USER, BASE_USER + 1, "WARN")).number == 1
    assert [c.number for c in await db.cases.history(GUILD, BASE_USER)] == [1]


def test_the_pool_pings_on_checkout_and_does_not_churn_connections_by_default() -> None:
    settings = Settings(database_url="postgresql://localhost/x")
    assert (settings.pool_pre_ping, settings.pool_max_overflow) == (True, 0)


async def test_connections_killed_by_the_server_are_replaced_unseen(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    # Fill the pool with open connections, so the kill below hits connections it will hand out.
    await asyncio.gather(*(pooled_db.members.count(GUILD) for _ in range(20)))
    async with pooled_db.session() as session:
        database = (await session.execute(text("SELECT current_database()"))).scalar_one()
    async with pooled_db.engine.connect() as admin:
        await admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :db AND application_name = 'guildbase' AND pid <> pg_backend_pid()"
            ),
            {"db": database},
        )
    await pooled_db.cache.invalidate(config_key(GUILD))
    assert (await pooled_db.guild_config.get(GUILD)).prefix == "$"
    cases = await asyncio.gather(*(pooled_db.cases.create(GUILD, BASE_USER, BASE_USER + 1, "WARN") for _ in range(10)))
    assert sorted(case.number for case in cases) == list(range(1, 11))


async def test_pgbouncer_mode_runs_every_hot_path_without_cached_statements(
    settings: Settings, database_url: URL, redis_client: object
) -> None:
    database = await Database(settings.model_copy(update={"pgbouncer": True})).connect()
    try:
        await database.guilds.join(GUILD)
        award = await database.levels.award_message_xp(GUILD, BASE_USER, CHANNEL, [], NOW, roll=0.0)
        case = await database.cases.create(GUILD, BASE_USER, BASE_USER + 1, "WARN")
        config = await database.guild_config.get(GUILD)
        away = await database.afk.get_many(GUILD, [BASE_USER])
        banned = await database.blacklist.is_blacklisted("user", BASE_USER)
        await database.logs.record_command(BASE_USER, "ping", guild_id=GUILD)
        assert await database.logs.flush() == 1
        async with database._driver() as unit:
            cached = unit.connection._stmt_cache.get_max_size()
        assert (award.awarded_xp, case.number, config.prefix, away, banned, cached) == (15, 1, "$", {}, False, 0)
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)
