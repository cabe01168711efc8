import asyncio
from collections import defaultdict
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from guildbase import Database, ValidationError
from guildbase.controllers.levels import _RANK_SQL, leaderboard_query
from guildbase.db.context import acting_as
from guildbase.db.validation import validate
from guildbase.models.levels import (
    MAX_XP,
    LeaderboardCursor,
    LevelConfigFields,
    LevelCurve,
    LevelRoleMode,
    MultiplierKind,
    level_for_xp,
    level_total_xp,
)
from guildbase.testing import ids, query_plans, reads_index, shifted_noon, statements_on

pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
OTHER_GUILD = BLOCK + 2
USER = BLOCK + 101
ADMIN = BLOCK + 201
CHANNEL = BLOCK + 301
QUIET_CHANNEL = BLOCK + 302
ROLE_1 = BLOCK + 401
ROLE_2 = BLOCK + 402
BOOST_ROLE = BLOCK + 403
T0 = shifted_noon() - timedelta(days=1)  # yesterday at noon: minutes and hours added stay on one UTC day


def user(n: int) -> int:
    return USER + n


async def test_first_message_creates_the_level_row_without_a_member_row(db: Database) -> None:
    await db.guilds.join(GUILD)
    award = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [], T0, roll=0.0)
    assert (award.awarded_xp, award.xp, award.level, award.leveled_up) == (15, 15, 0, False)
    assert award.is_awarded
    row = await db.levels.get(GUILD, USER)
    assert row is not None
    assert (row.xp, row.message_count, row.last_message_at) == (15, 1, T0)
    assert await db.members.get(GUILD, USER) is None


async def test_role_ids_and_now_default_to_none_and_the_database_clock(db: Database) -> None:
    await db.guilds.join(GUILD)
    award = await db.levels.award_message_xp(GUILD, USER, CHANNEL, roll=0.0)
    async with db.session() as session:
        clock = (await session.execute(text("SELECT now()"))).scalar_one()  # the test transaction's clock
    row = await db.levels.get(GUILD, USER)
    assert row is not None
    assert (award.awarded_xp, award.day_xp, row.last_message_at) == (15, 15, clock)
    today = await db.leaderboards.top(GUILD, period="day", now=clock)
    assert [(entry.user_id, entry.xp) for entry in today.entries] == [(USER, 15)]
    assert not (await db.levels.award_message_xp(GUILD, USER, CHANNEL)).is_awarded  # same moment: cooldown


async def test_xp_is_random_within_the_configured_range(db: Database) -> None:
    await db.guilds.join(GUILD)
    low = await db.levels.award_message_xp(GUILD, user(1), CHANNEL, [], T0, roll=0.0)
    high = await db.levels.award_message_xp(GUILD, user(2), CHANNEL, [], T0, roll=0.999999)
    drawn = await db.levels.award_message_xp(GUILD, user(3), CHANNEL, [], T0)
    assert (low.awarded_xp, high.awarded_xp) == (15, 25)
    assert 15 <= drawn.awarded_xp <= 25


async def test_messages_inside_the_cooldown_earn_nothing(db: Database) -> None:
    await db.guilds.join(GUILD)
    first = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [], T0, roll=0.0)
    early = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [], T0 + timedelta(seconds=59), roll=0.0)
    later = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [], T0 + timedelta(seconds=60), roll=0.0)
    assert first.is_awarded
    assert not early.is_awarded
    assert (early.awarded_xp, early.xp, early.level) == (0, None, None)
    assert (later.awarded_xp, later.xp) == (15, 30)
    row = await db.levels.get(GUILD, USER)
    assert row is not None
    assert row.message_count == 2


async def test_level_up_grants_every_reward_role_the_member_lacks_when_stacking(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.set_level_role(GUILD, 1, ROLE_1)
    await db.levels.set_level_role(GUILD, 2, ROLE_2)
    await db.levels.set_xp(GUILD, USER, 90)
    up = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [], T0, roll=0.0)
    assert (up.xp, up.level, up.leveled_up, up.roles_to_grant, up.roles_to_remove) == (105, 1, True, [ROLE_1], [])
    await db.levels.set_xp(GUILD, USER, 250)
    again = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [ROLE_1], T0 + timedelta(hours=1), roll=0.0)
    assert (again.level, again.leveled_up, again.roles_to_grant) == (2, True, [ROLE_2])
    quiet = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [ROLE_1], T0 + timedelta(hours=2), roll=0.0)
    assert (quiet.leveled_up, quiet.roles_to_grant) == (False, [])


async def test_level_up_swaps_reward_roles_in_replace_mode(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, role_mode=LevelRoleMode.REPLACE)
    await db.levels.set_level_role(GUILD, 1, ROLE_1)
    await db.levels.set_level_role(GUILD, 2, ROLE_2)
    await db.levels.set_xp(GUILD, USER, 250)
    award = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [ROLE_1, BOOST_ROLE], T0, roll=0.0)
    assert (award.level, award.roles_to_grant, award.roles_to_remove) == (2, [ROLE_2], [ROLE_1])


async def test_highest_role_multiplier_and_channel_multiplier_scale_the_award(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, xp_min=10, xp_max=10, cooldown_seconds=0)
    await db.levels.set_multiplier(GUILD, MultiplierKind.ROLE, ROLE_1, 1.5)
    await db.levels.set_multiplier(GUILD, "role", BOOST_ROLE, 3)
    await db.levels.set_multiplier(GUILD, MultiplierKind.CHANNEL, CHANNEL, 0.5)
    boosted = await db.levels.award_message_xp(GUILD, USER, CHANNEL, [ROLE_1, BOOST_ROLE], T0)
    plain = await db.levels.award_message_xp(GUILD, user(1), QUIET_CHANNEL, [], T0)
    assert (boosted.awarded_xp, plain.awarded_xp) == (15, 10)
    assert [m.multiplier for m in await db.levels.multipliers(GUILD)] == [1.5, 3.0, 0.5]
    assert await db.levels.remove_multiplier(GUILD, "channel", CHANNEL)
    assert (await db.levels.award_message_xp(GUILD, USER, CHANNEL, [BOOST_ROLE], T0)).awarded_xp == 30


async def test_ignored_channels_award_nothing(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, ignored_channel_ids=[QUIET_CHANNEL])
    award = await db.levels.award_message_xp(GUILD, USER, QUIET_CHANNEL, [], T0)
    assert not award.is_awarded
    assert await db.levels.get(GUILD, USER) is None


async def test_blacklisted_members_earn_nothing_and_are_not_ranked(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.set_xp(GUILD, USER, 500)
    await db.levels.set_xp(GUILD, user(1), 100)
    await db.levels.blacklist(GUILD, USER)
    assert not (await db.levels.award_message_xp(GUILD, USER, CHANNEL, [], T0)).is_awarded
    page = await db.levels.leaderboard(GUILD)
    assert [entry.user_id for entry in page.entries] == [user(1)]
    card = await db.levels.rank(GUILD, USER)
    assert card is not None
    assert (card.rank, card.xp, card.is_blacklisted) == (None, 500, True)
    await db.levels.unblacklist(GUILD, USER)
    assert [entry.user_id for entry in (await db.levels.leaderboard(GUILD)).entries] == [USER, user(1)]


async def test_leaderboard_pages_by_keyset_cover_every_ranked_member_once_in_order(db: Database) -> None:
    await db.guilds.join(GUILD)
    xps = {user(n): (n % 7) * 100 for n in range(25)}  # plenty of ties
    for uid, xp in xps.items():
        await db.levels.set_xp(GUILD, uid, xp)
    await db.levels.blacklist(GUILD, user(24))
    seen = []
    page = await db.levels.leaderboard(GUILD, limit=10)
    seen.extend(page.entries)
    while page.next is not None:
        page = await db.levels.leaderboard(GUILD, limit=10, after=page.next)
        seen.extend(page.entries)
    expected = sorted(((xp, uid) for uid, xp in xps.items() if uid != user(24)), reverse=True)
    assert [(entry.xp, entry.user_id) for entry in seen] == expected
    assert [entry.rank for entry in seen] == list(range(1, 25))
    assert len(seen) == 24


async def test_rank_card_shows_position_and_progress_through_the_level(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.set_xp(GUILD, USER, 300)
    await db.levels.set_xp(GUILD, user(1), 1000)
    await db.levels.set_xp(GUILD, user(2), 10)
    card = await db.levels.rank(GUILD, USER)
    assert card is not None
    assert (card.rank, card.ranked_members, card.level) == (2, 3, 2)
    assert (card.level_xp, card.next_level_xp) == (255, 475)
    assert (card.xp_into_level, card.xp_for_level) == (45, 220)
    assert await db.levels.rank(GUILD, user(9)) is None


async def test_set_xp_recomputes_the_level_on_the_guild_curve_and_records_who(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, curve=LevelCurve.FLAT)
    with acting_as(ADMIN):
        row = await db.levels.set_xp(GUILD, USER, 4_500)
    assert (row.xp, row.level, row.updated_by) == (4_500, 4, ADMIN)
    lowered = await db.levels.set_xp(GUILD, USER, 999)
    assert lowered.level == 0


async def test_reset_zeroes_one_member_or_the_whole_guild(db: Database) -> None:
    await db.guilds.join(GUILD)
    for n in range(3):
        await db.levels.award_message_xp(GUILD, user(n), CHANNEL, [], T0)
    assert await db.levels.reset(GUILD, user(0)) == 1
    member = await db.levels.get(GUILD, user(0))
    assert member is not None
    assert (member.xp, member.level, member.message_count) == (0, 0, 0)
    assert await db.levels.reset(GUILD) == 3
    assert all(entry.xp == 0 for entry in (await db.levels.leaderboard(GUILD)).entries)


async def test_configure_checks_the_merged_settings_and_keeps_other_fields(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, xp_min=5, xp_max=8)
    await db.levels.configure(GUILD, cooldown_seconds=30)
    config = await db.levels.get_config(GUILD)
    assert (config.xp_min, config.xp_max, config.cooldown_seconds) == (5, 8, 30)
    with pytest.raises(ValidationError) as raised:
        await db.levels.configure(GUILD, xp_min=9)
    assert raised.value.fields == ["xp_max"]
    with pytest.raises(ValidationError) as unknown:
        await db.levels.configure(GUILD, xp_per_message=3)
    assert unknown.value.fields == ["xp_per_message"]
    assert (await db.levels.get_config(OTHER_GUILD)).xp_min == 15


async def test_a_role_rewards_only_one_level(db: Database) -> None:
    from guildbase.errors import ConflictError  # noqa: PLC0415

    await db.guilds.join(GUILD)
    await db.levels.set_level_role(GUILD, 5, ROLE_1)
    await db.levels.set_level_role(GUILD, 5, ROLE_2)
    assert [(r.level, r.role_id) for r in await db.levels.level_roles(GUILD)] == [(5, ROLE_2)]
    with pytest.raises(ConflictError, match="role_id"):
        await db.levels.set_level_role(GUILD, 10, ROLE_2)
    assert await db.levels.remove_level_role(GUILD, 5)
    assert await db.levels.level_roles(GUILD) == []


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((GUILD, 0, CHANNEL, [], T0), "user_id"),
        ((GUILD, USER, -1, [], T0), "channel_id"),
        ((GUILD, USER, CHANNEL, [ROLE_1, 2**63], T0), "role_ids.1"),
        ((GUILD, USER, CHANNEL, [], T0.replace(tzinfo=None)), "now"),
    ],
)
async def test_bad_award_input_is_rejected_naming_the_field(db: Database, args: tuple, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        await db.levels.award_message_xp(*args)
    assert raised.value.fields == [field]


async def test_awarding_in_an_unknown_guild_names_the_guild(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await db.levels.award_message_xp(OTHER_GUILD, USER, CHANNEL, [], T0)
    assert raised.value.fields == ["guild_id"]


async def test_bad_xp_and_multipliers_are_rejected_before_writing(db: Database) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError) as negative:
        await db.levels.set_xp(GUILD, USER, -5)
    assert negative.value.fields == ["xp"]
    with pytest.raises(ValidationError) as huge:
        await db.levels.set_multiplier(GUILD, "role", ROLE_1, 11)
    assert huge.value.fields == ["multiplier"]
    with pytest.raises(ValidationError) as kind:
        await db.levels.set_multiplier(GUILD, "category", ROLE_1, 2)
    assert kind.value.fields == ["kind"]
    with pytest.raises(ValidationError) as level:
        await db.levels.set_level_role(GUILD, 0, ROLE_1)
    assert level.value.fields == ["level"]
    assert await db.levels.get(GUILD, USER) is None


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=0, max_value=1000))
def test_a_config_with_xp_max_below_xp_min_is_rejected_on_xp_max(xp_min: int, xp_max: int) -> None:
    if xp_max >= xp_min:
        assert validate(LevelConfigFields, {"xp_min": xp_min, "xp_max": xp_max}).xp_max == xp_max
        return
    with pytest.raises(ValidationError) as raised:
        validate(LevelConfigFields, {"xp_min": xp_min, "xp_max": xp_max})
    assert raised.value.fields == ["xp_max"]


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(list(LevelCurve)))
def test_python_level_is_the_highest_level_whose_total_the_xp_reaches(xp: int, curve: LevelCurve) -> None:
    level = level_for_xp(xp, curve)
    assert level_total_xp(level, curve) <= xp < level_total_xp(level + 1, curve)


async def test_sql_level_functions_agree_with_the_python_twins(db: Database) -> None:
    boundaries = {
        level_total_xp(level, curve) + delta for curve in LevelCurve for level in range(1001) for delta in (-1, 0)
    }
    samples = sorted(boundaries | {0, 10**9, 10**12})
    query = text(
        "SELECT xp, c::text, level_for_xp(xp, c), level_total_xp(level_for_xp(xp, c), c) "
        "FROM unnest(:xps) AS xp CROSS JOIN unnest(enum_range(NULL::level_curve)) AS c"
    ).bindparams(bindparam("xps", type_=ARRAY(BigInteger)))
    async with db.session() as session:
        rows = (await session.execute(query, {"xps": samples})).all()
    assert len(rows) == len(samples) * len(LevelCurve)
    mismatches = [(xp, c, level) for xp, c, level, _ in rows if level != level_for_xp(xp, LevelCurve(c))]
    assert mismatches == []
    assert all(total == level_total_xp(level, LevelCurve(c)) for _, c, level, total in rows)


# Each curve's levels up to the largest XP a member can hold (flat: its first 100,000), each checked
# one XP short of its total and on it; 0 rows means the level function steps exactly at every total.
EVERY_BOUNDARY = text("""
SELECT c::text, l, level_for_xp(level_total_xp(l, c) - 1, c), level_for_xp(level_total_xp(l, c), c)
FROM unnest(enum_range(NULL::level_curve)) AS c
CROSS JOIN LATERAL generate_series(1, CASE c WHEN 'flat' THEN 100000 ELSE level_for_xp(:max_xp, c) + 1 END) AS l
WHERE level_for_xp(level_total_xp(l, c) - 1, c) <> l - 1 OR level_for_xp(level_total_xp(l, c), c) <> l
""")


async def test_sql_level_steps_up_exactly_at_every_level_total_up_to_the_largest_xp(db: Database) -> None:
    async with db.session() as session:
        tops = dict(
            (
                await session.execute(
                    text("SELECT c::text, level_for_xp(:max_xp, c) FROM unnest(enum_range(NULL::level_curve)) AS c"),
                    {"max_xp": MAX_XP},
                )
            ).all()
        )
        wrong = (await session.execute(EVERY_BOUNDARY, {"max_xp": MAX_XP})).all()
    assert wrong == []
    assert tops == {curve.value: level_for_xp(MAX_XP, curve) for curve in LevelCurve}  # 8,429 and 141,420 levels


async def test_concurrent_messages_inside_one_cooldown_award_xp_exactly_once(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    awards = await asyncio.gather(
        *(
            pooled_db.levels.award_message_xp(GUILD, USER, CHANNEL, [], T0 + timedelta(seconds=i % 10))
            for i in range(50)
        ),
        return_exceptions=True,
    )
    assert [r for r in awards if isinstance(r, BaseException)] == []  # every task finished cleanly
    counted = [award for award in awards if award.is_awarded]
    assert len(counted) == 1
    row = await pooled_db.levels.get(GUILD, USER)
    assert row is not None
    assert (row.xp, row.message_count) == (counted[0].awarded_xp, 1)


async def test_concurrent_awards_across_members_add_up_to_the_unit(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.levels.configure(GUILD, cooldown_seconds=0)
    await pooled_db.levels.set_level_role(GUILD, 1, ROLE_1)
    calls = [(user(n % 100), T0 + timedelta(seconds=n // 100)) for n in range(1000)]
    awards = await asyncio.gather(
        *(pooled_db.levels.award_message_xp(GUILD, uid, CHANNEL, [], when) for uid, when in calls),
        return_exceptions=True,
    )
    assert [r for r in awards if isinstance(r, BaseException)] == []  # every task finished cleanly
    expected: dict[int, int] = defaultdict(int)
    for (uid, _), award in zip(calls, awards, strict=True):
        assert award.is_awarded
        expected[uid] += award.awarded_xp
    ranked = []
    page = await pooled_db.levels.leaderboard(GUILD, limit=100)
    ranked.extend(page.entries)
    assert page.next is None
    assert {entry.user_id: entry.xp for entry in ranked} == expected
    assert all(entry.message_count == 10 for entry in ranked)
    assert all(entry.level == level_for_xp(entry.xp) for entry in ranked)
    level_ups = [award for award in awards if award.roles_to_grant == [ROLE_1]]
    assert all(entry.level == 1 for entry in ranked)  # 10 messages of 15-25 XP: 150-250 XP
    assert len(level_ups) == 100  # each member crossed into level 1 exactly once


BULK_GUILDS = "INSERT INTO guild (guild_id) SELECT CAST(:guild AS bigint) + g FROM generate_series(0, 19) AS g"
BULK_LEVELS = """
INSERT INTO member_level (guild_id, user_id, xp, level, message_count, is_blacklisted)
SELECT CAST(:guild AS bigint) + n % 20, CAST(:user AS bigint) + n, (n * 7919) % 250000, (n * 7919) % 250000 / 5000,
       (n * 7919) % 250000 / 20, n % 97 = 0  -- about 1% blacklisted
FROM generate_series(0, 39999) AS n
"""


async def test_leaderboard_pages_and_ranks_read_the_partial_leaderboard_index(db: Database) -> None:
    # 20 guilds of 2,000 ranked members: one guild is 5% of the table, as on a shared bot.
    async with db.session() as session:
        await session.execute(text(BULK_GUILDS), {"guild": GUILD})
        await session.execute(text(BULK_LEVELS), {"guild": GUILD, "user": USER})
        await session.execute(text("ANALYZE member_level"))
        member = USER + 20 * 700  # a member of GUILD, ranked somewhere in the middle
        statements = [
            (leaderboard_query(GUILD, limit=11), {}),
            (leaderboard_query(GUILD, limit=11, after=LeaderboardCursor(xp=120_000, user_id=member, rank=900)), {}),
            (_RANK_SQL, {"guild_id": GUILD, "user_id": member, "default_curve": "mee6"}),
        ]
        plans = [(await query_plans(session, stmt, params), stmt) for stmt, params in statements]
    for per_mode, stmt in plans:
        for mode, plan in per_mode.items():
            assert reads_index(plan, "ix_member_level_leaderboard"), f"{mode} plan of {stmt}:\n{plan}"
            assert "Seq Scan" not in plan, plan


async def test_awarding_xp_is_one_statement(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    async with statements_on(pooled_db.engine) as statements:
        first = await pooled_db.levels.award_message_xp(GUILD, USER, CHANNEL, [ROLE_1], T0)
        again = await pooled_db.levels.award_message_xp(GUILD, USER, CHANNEL, [ROLE_1], T0 + timedelta(minutes=5))
    assert (first.is_awarded, again.is_awarded) == (True, True)
    assert len(statements) == 2, statements


async def test_a_level_up_reads_its_reward_roles_in_one_more_statement(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.levels.set_level_role(GUILD, 1, ROLE_2)
    async with statements_on(pooled_db.engine) as statements:
        quiet = await pooled_db.levels.award_message_xp(GUILD, USER, CHANNEL, [ROLE_1], T0, roll=0.0)
    assert (quiet.xp, quiet.leveled_up, len(statements)) == (15, False, 1)
    assert "FROM level_role" not in statements[0]
    await pooled_db.levels.set_xp(GUILD, USER, 99)
    async with statements_on(pooled_db.engine) as statements:
        up = await pooled_db.levels.award_message_xp(GUILD, USER, CHANNEL, [ROLE_1], T0 + timedelta(minutes=10))
    assert (up.level, up.leveled_up, up.roles_to_grant) == (1, True, [ROLE_2])
    assert len(statements) == 2, statements
    assert "FROM level_role" in statements[1]
