"""The moderation read queries use their indexes at realistic sizes (``controllers/moderation_queries.py``)."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import asyncpg

from guildbase import Database
from guildbase.controllers.moderation import (
    history_query,
    latest_pair_query,
    moderator_query,
    notes_query,
    overview_query,
    recent_query,
    summary_query,
    type_query,
)
from guildbase.models.moderation import PAIR_TYPES, CaseType
from guildbase.testing import ids, shifted_now

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
MOD = BLOCK + 201


# -- indexes ------------------------------------------------------------------------------------------
BULK_CASES = """
INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, created_at, expires_at, processed_at, status)
SELECT g.guild_id, n, t.type, CAST(:user AS bigint) + n % 2000, CAST(:mod AS bigint) + n % 10, at.created_at,
       CASE WHEN t.type IN ('TEMPBAN', 'TIMEOUT') THEN at.created_at + interval '1 day' END,
       CASE WHEN t.type IN ('TEMPBAN', 'TIMEOUT') AND n % 50 <> 0 THEN at.created_at END,
       'active'
FROM unnest(CAST(:guilds AS bigint[])) AS g (guild_id),
     generate_series(1, 10000) AS n,
     LATERAL (SELECT CAST(:start AS timestamptz) + n * interval '10 minutes' AS created_at) AS at,
     LATERAL (SELECT (ARRAY['WARN', 'WARN', 'WARN', 'WARN', 'WARN', 'TIMEOUT', 'TIMEOUT', 'KICK', 'BAN', 'TEMPBAN',
                            'WARN', 'WARN', 'TIMEOUT', 'KICK', 'WARN', 'UNBAN', 'HACKBAN', 'WARN', 'JAIL', 'UNJAIL',
                            'WARN', 'WARN', 'TIMEOUT', 'KICK', 'WARN', 'UNTIMEOUT', 'WARN', 'SNIPPETBAN',
                            'WARN', 'POLLBAN'])[1 + (n + g.guild_id % 7) % 30]::mod_case_type AS type) AS t
"""
BULK_NOTES = """
INSERT INTO note (guild_id, number, user_id, moderator_id, content)
SELECT :g1, n, CAST(:user AS bigint) + n % 2000, :mod, 'note ' || n FROM generate_series(1, 10000) AS n
"""
GUILDS = [GUILD + offset for offset in range(4)]


def _literal(value: Any) -> str:
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


async def _generic_plan(db: Database, stmt: Any) -> str:
    """EXPLAIN the statement as a prepared statement with a generic plan (what a reused statement runs)."""
    compiled = stmt.compile(dialect=asyncpg.dialect())
    arguments = ", ".join(_literal(compiled.params[name]) for name in compiled.positiontup)
    async with db.session() as session:
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        await session.execute(text(f"PREPARE moderation_plan AS {compiled.string}"))
        try:
            execute = f"EXECUTE moderation_plan({arguments})" if arguments else "EXECUTE moderation_plan"
            rows = await session.execute(text(f"EXPLAIN {execute}"))
            return "\n".join(rows.scalars())
        finally:
            await session.execute(text("DEALLOCATE moderation_plan"))


async def test_history_queries_use_their_indexes(db: Database) -> None:
    for guild_id in GUILDS:
        await db.guilds.join(guild_id)
    async with db.session() as session:
        start = shifted_now() - timedelta(days=100)  # 10,000 cases 10 minutes apart end about 30 days ago
        params = {"user": USER, "mod": MOD, "start": start, "guilds": GUILDS}
        await session.execute(text(BULK_CASES), params)
        await session.execute(text(BULK_NOTES), {"user": USER, "mod": MOD, "g1": GUILD})
        await session.execute(text("ANALYZE mod_case"))
        await session.execute(text("ANALYZE note"))
        assert (await session.execute(text("SELECT count(*) FROM mod_case"))).scalar_one() == 40_000

    expectations = [
        ("ix_mod_case_guild_id_user_id_number", history_query(GUILD, USER + 7, limit=25, before=5000)),
        ("ix_mod_case_guild_id_user_id_number", summary_query(GUILD, USER + 7)),
        ("ix_mod_case_guild_id_user_id_number", overview_query(GUILD, USER + 7, limit=20)),
        ("ix_mod_case_guild_id_moderator_id_number", moderator_query(GUILD, MOD + 3, limit=25)),
        ("ix_mod_case_guild_id_type_number", type_query(GUILD, CaseType.KICK, limit=25)),
        ("ix_mod_case_guild_id_created_at", recent_query(GUILD, since=start + timedelta(days=30), limit=50)),
        ("ix_mod_case_guild_id_user_id_pair", latest_pair_query(GUILD, USER + 7, PAIR_TYPES).limit(1)),
        ("ix_note_guild_id_user_id_number", notes_query(GUILD, USER + 7, limit=25)),
    ]
    for index, stmt in expectations:
        plan = await _generic_plan(db, stmt)
        assert f"using {index} on" in plan, f"expected {index}:\n{plan}"
        assert "Seq Scan" not in plan, plan
