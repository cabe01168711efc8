"""Reports over the daily rollups: any period, filtered by member and channel, per day or top-N (R6.5, R13.2, R13.4)."""

from datetime import timedelta

import pytest

from guildbase import Database, ValidationError
from guildbase.db.types import make_snowflake
from guildbase.models.event_stats import GroupBy, Metric
from guildbase.models.events import GuildEventKind
from guildbase.testing import shifted_noon

pytestmark = pytest.mark.clock

NOON = shifted_noon()
TODAY = NOON.date()
GUILD = make_snowflake(NOON - timedelta(days=400), 41)
OTHER_GUILD = make_snowflake(NOON - timedelta(days=400), 42)
GENERAL = make_snowflake(NOON - timedelta(days=400), 43)
MEMES = make_snowflake(NOON - timedelta(days=400), 44)
ROLE = make_snowflake(NOON - timedelta(days=400), 45)
USERS = [make_snowflake(NOON - timedelta(days=300), 50 + n) for n in range(5)]


async def _activity(db: Database) -> None:
    """User n posts n+1 messages in #general today; user 0 posts 7 in #memes yesterday; another guild posts too."""
    events = db.events
    for n, user in enumerate(USERS):
        for _ in range(n + 1):
            await events.record_message(GUILD, GENERAL, user, occurred_at=NOON)
    for _ in range(7):
        await events.record_message(GUILD, MEMES, USERS[0], occurred_at=NOON - timedelta(days=1))
        await events.record_message(OTHER_GUILD, MEMES, USERS[0], occurred_at=NOON)
    await events.member_joined(GUILD, USERS[0], invites_seen=False, joined_at=NOON - timedelta(days=1))
    await events.member_joined(GUILD, USERS[1], invites_seen=False, joined_at=NOON)
    await events.record_guild_event(GUILD, GuildEventKind.MEMBER_LEAVE, user_id=USERS[1], occurred_at=NOON)
    await events.record_member_update(GUILD, USERS[2], roles_added=[ROLE], occurred_at=NOON)
    await events.record_member_update(GUILD, USERS[3], roles_added=[ROLE], occurred_at=NOON)
    await events.record_member_update(GUILD, USERS[3], roles_removed=[ROLE], occurred_at=NOON)
    await events.flush()


async def test_top_members_and_channels_over_a_period(pooled_db: Database) -> None:
    await _activity(pooled_db)
    stats = pooled_db.events.stats
    top = await stats(GUILD, Metric.MESSAGES, since=TODAY, until=TODAY, group_by=GroupBy.USER, limit=3)
    assert [(row.key, row.value) for row in top] == [(USERS[4], 5), (USERS[3], 4), (USERS[2], 3)]
    two_days = await stats(GUILD, Metric.MESSAGES, since=TODAY - timedelta(days=1), until=TODAY, group_by="user")
    assert two_days[0].key == USERS[0]
    assert two_days[0].value == 8
    channels = await stats(GUILD, Metric.MESSAGES, since=TODAY - timedelta(days=1), until=TODAY, group_by="channel")
    assert [(row.key, row.value) for row in channels] == [(GENERAL, 15), (MEMES, 7)]


async def test_per_day_reports_filter_by_member_and_channel(pooled_db: Database) -> None:
    await _activity(pooled_db)
    stats = pooled_db.events.stats
    yesterday = TODAY - timedelta(days=1)
    mine = await stats(GUILD, Metric.MESSAGES, since=yesterday, until=TODAY, user_id=USERS[0])
    assert [(row.day, row.value) for row in mine] == [(yesterday, 7), (TODAY, 1)]
    general = await stats(GUILD, Metric.MESSAGES, since=yesterday, until=TODAY, channel_id=GENERAL)
    assert [(row.day, row.value) for row in general] == [(TODAY, 15)]
    joins = await stats(GUILD, Metric.JOINS, since=yesterday, until=TODAY)
    leaves = await stats(GUILD, Metric.LEAVES, since=yesterday, until=TODAY)
    assert [(row.day, row.value) for row in joins] == [(yesterday, 1), (TODAY, 1)]
    assert [(row.day, row.value) for row in leaves] == [(yesterday, 0), (TODAY, 1)]
    roles = await stats(GUILD, Metric.ROLES_ADDED, since=TODAY, until=TODAY, group_by=GroupBy.ROLE)
    removed = await stats(GUILD, Metric.ROLES_REMOVED, since=TODAY, until=TODAY, role_id=ROLE)
    assert [(row.key, row.value) for row in roles] == [(ROLE, 2)]
    assert [row.value for row in removed] == [1]
    totals = await pooled_db.events.daily_totals(GUILD, since=yesterday, until=TODAY)
    assert (totals[Metric.MESSAGES], totals[Metric.JOINS], totals[Metric.VOICE_MINUTES]) == (22, 2, 0)


async def test_a_bad_period_grouping_or_filter_is_refused_naming_it(pooled_db: Database) -> None:
    stats = pooled_db.events.stats
    cases = [
        ({"since": TODAY, "until": TODAY - timedelta(days=1)}, "until"),
        ({"since": TODAY - timedelta(days=5000), "until": TODAY}, "until"),
        ({"since": "yesterday", "until": TODAY}, "since"),
        ({"since": TODAY, "until": TODAY, "group_by": GroupBy.ROLE}, "group_by"),
        ({"since": TODAY, "until": TODAY, "role_id": ROLE}, "role_id"),
        ({"since": TODAY, "until": TODAY, "limit": 0}, "limit"),
    ]
    for arguments, field in cases:
        with pytest.raises(ValidationError) as raised:
            await stats(GUILD, Metric.MESSAGES, **arguments)  # type: ignore[arg-type]
        assert raised.value.fields == [field], arguments
    with pytest.raises(ValidationError) as raised:
        await stats(GUILD, Metric.JOINS, since=TODAY, until=TODAY, user_id=USERS[0])
    assert raised.value.fields == ["user_id"]
