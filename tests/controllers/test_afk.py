from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from guildbase import Database, ValidationError
from guildbase.controllers.afk import due_query
from guildbase.db.validation import validate
from guildbase.models.afk import AFKSet
from guildbase.testing import ids, query_plans, reads_index, shifted_noon, shifted_now, statements_on

pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
OTHER_GUILD = BLOCK + 2
USER = BLOCK + 101
T0 = shifted_noon() - timedelta(days=1)  # yesterday at noon: minutes and hours added stay on one UTC day


def user(n: int) -> int:
    return USER + n


async def test_set_then_clear_returns_the_nickname_to_restore(db: Database) -> None:
    await db.guilds.join(GUILD)
    afk = await db.afk.set(GUILD, USER, reason="lunch", nickname="Sam", now=T0)
    assert (afk.reason, afk.nickname, afk.since, afk.until, afk.is_permanent) == ("lunch", "Sam", T0, None, False)
    assert await db.afk.get(GUILD, USER) == afk
    cleared = await db.afk.clear(GUILD, USER)
    assert cleared is not None
    assert cleared.nickname == "Sam"
    assert await db.afk.get(GUILD, USER) is None
    assert await db.afk.clear(GUILD, USER) is None


async def test_setting_afk_again_replaces_it(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.afk.set(GUILD, USER, reason="lunch", now=T0)
    again = await db.afk.set(GUILD, USER, reason="sleeping", enforced=True, now=T0 + timedelta(hours=1))
    assert (again.reason, again.is_enforced, again.since) == ("sleeping", True, T0 + timedelta(hours=1))
    assert await db.afk.count(GUILD) == 1


async def test_afk_is_per_guild(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guilds.join(OTHER_GUILD)
    await db.afk.set(GUILD, USER)
    assert await db.afk.get(OTHER_GUILD, USER) is None


async def test_get_many_finds_the_afk_members_among_author_and_mentions(db: Database) -> None:
    await db.guilds.join(GUILD)
    for n in (3, 7, 19):
        await db.afk.set(GUILD, user(n), reason=f"away {n}")
    found = await db.afk.get_many(GUILD, [user(n) for n in range(21)])
    assert {uid: afk.reason for uid, afk in found.items()} == {user(n): f"away {n}" for n in (3, 7, 19)}
    assert await db.afk.get_many(GUILD, []) == {}


async def test_checking_an_author_and_twenty_mentions_is_one_query(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.afk.set(GUILD, user(5))
    async with statements_on(pooled_db.engine) as statements:
        found = await pooled_db.afk.get_many(GUILD, [user(n) for n in range(21)])
    assert list(found) == [user(5)]
    assert len(statements) == 1, statements


async def test_due_lists_only_expired_temporary_afks(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.afk.set(GUILD, user(1), until=T0 + timedelta(minutes=5), now=T0)
    await db.afk.set(GUILD, user(2), until=T0 + timedelta(hours=5), now=T0)
    await db.afk.set(GUILD, user(3), permanent=True, now=T0)
    await db.afk.set(GUILD, user(4), now=T0)
    due = await db.afk.due(T0 + timedelta(minutes=10))
    assert [afk.user_id for afk in due] == [user(1)]
    later = await db.afk.due(T0 + timedelta(days=1))
    assert [afk.user_id for afk in later] == [user(1), user(2)]


async def test_afk_rows_go_with_their_guild(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.afk.set(GUILD, USER)
    await db.guilds.delete(GUILD)
    assert await db.afk.get_many(GUILD, [USER]) == {}


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"until": T0 - timedelta(seconds=1)}, "until"),
        ({"until": T0 + timedelta(hours=1), "permanent": True}, "is_permanent"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 513}, "reason"),
        ({"nickname": "n" * 33}, "nickname"),
        ({"until": datetime(2030, 1, 1)}, "until"),  # noqa: DTZ001 - naive on purpose
    ],
)
async def test_bad_afk_input_is_rejected_naming_the_field(db: Database, options: dict[str, Any], field: str) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError) as raised:
        await db.afk.set(GUILD, USER, now=T0, **options)
    assert raised.value.fields == [field]
    assert await db.afk.get(GUILD, USER) is None


async def test_looking_up_more_ids_than_a_message_can_mention_is_rejected(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await db.afk.get_many(GUILD, [user(n) for n in range(102)])
    assert raised.value.fields == ["user_ids"]


@given(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=40))
def test_nicknames_longer_than_discord_allows_are_rejected(nickname: str) -> None:
    data = {"guild_id": GUILD, "user_id": USER, "since": T0, "nickname": nickname}
    if len(nickname) <= 32:
        assert validate(AFKSet, data).nickname == nickname
        return
    with pytest.raises(ValidationError) as raised:
        validate(AFKSet, data)
    assert raised.value.fields == ["nickname"]


BULK_GUILDS = "INSERT INTO guild (guild_id) SELECT CAST(:guild AS bigint) + g FROM generate_series(0, 29) AS g"
BULK_AFK = """
INSERT INTO afk (guild_id, user_id, reason, since, until)
SELECT CAST(:guild AS bigint) + n % 30, CAST(:user AS bigint) + n, 'away', CAST(:now AS timestamptz) - interval '1 day',
       -- one AFK in ten is temporary; a few of those are already due
       CASE WHEN n % 10 = 0 THEN CAST(:now AS timestamptz) + (n % 997 - 10) * interval '1 minute' END
FROM generate_series(1, 30000) AS n
"""


async def test_the_expiry_sweep_reads_the_partial_until_index(db: Database) -> None:
    now = shifted_now()
    async with db.session() as session:
        await session.execute(text(BULK_GUILDS), {"guild": GUILD + 1000})
        await session.execute(text(BULK_AFK), {"guild": GUILD + 1000, "user": USER, "now": now})
        await session.execute(text("ANALYZE afk"))
        plans = await query_plans(session, due_query(now, limit=100))
    for mode, plan in plans.items():
        assert reads_index(plan, "ix_afk_until"), f"{mode} plan:\n{plan}"
        assert "Seq Scan" not in plan, plan
