"""Message filters (R15.4): rules per kind, the verdict's action, exemptions, hits and audit."""

from datetime import timedelta

import pytest

from guildbase import Database
from guildbase.db.context import acting_as
from guildbase.errors import ValidationError
from guildbase.models.filters import FilterAction
from guildbase.testing import ids

GUILD, CHANNEL, EXEMPT_CHANNEL, ROLE, MOD, FRIEND_GUILD = ids.take(6)


@pytest.fixture
async def guild(db: Database) -> int:
    await db.guilds.join(GUILD)
    return GUILD


async def test_the_most_severe_action_of_the_rules_hit_wins(db: Database, guild: int) -> None:
    await db.filters.add_words(guild, ["bad"], "delete")
    await db.filters.add_caps(guild, 70, "timeout", timeout_duration=timedelta(minutes=30))
    await db.filters.add_regex(guild, r"free\s+nitro", "warn")
    verdict = await db.filters.check(guild, CHANNEL, "so baaad")
    assert verdict.action is FilterAction.DELETE
    verdict = await db.filters.check(guild, CHANNEL, "FREE   NITRO IS A BAD SCAM")
    assert verdict.action is FilterAction.TIMEOUT
    assert verdict.timeout_seconds == 1800
    assert {hit.kind.value for hit in verdict.hits} == {"words", "caps", "regex"}
    assert (await db.filters.check(guild, CHANNEL, "all good")).action is None


async def test_invites_carry_their_allowlist_and_exemptions_apply(db: Database, guild: int) -> None:
    await db.filters.add_invites(
        guild, "delete", allowed_guild_ids=[FRIEND_GUILD], exempt_channel_ids=[EXEMPT_CHANNEL], exempt_role_ids=[ROLE]
    )
    verdict = await db.filters.check(guild, CHANNEL, "join discord.gg/abcd")
    assert verdict.hits[0].detail == ("abcd",)
    assert verdict.allowed_guild_ids == {FRIEND_GUILD}
    assert (await db.filters.check(guild, EXEMPT_CHANNEL, "discord.gg/abcd")).action is None
    assert (await db.filters.check(guild, CHANNEL, "discord.gg/abcd", [ROLE])).action is None


async def test_domains_and_mentions(db: Database, guild: int) -> None:
    await db.filters.add_domains(guild, ["Evil.com"], "log")
    await db.filters.add_mentions(guild, 5, "warn")
    assert (await db.filters.check(guild, CHANNEL, "https://www.evil.com/x")).action is FilterAction.LOG
    assert (await db.filters.check(guild, CHANNEL, "hi", mentions=6)).action is FilterAction.WARN


async def test_rules_are_checked_before_storing(db: Database, guild: int) -> None:
    with pytest.raises(ValidationError) as caught:
        await db.filters.add_regex(guild, "(a+)+$(?=x)", "delete")
    assert caught.value.fields == ["regex"]
    with pytest.raises(ValidationError) as caught:
        await db.filters.add_domains(guild, ["not a domain"], "delete")
    assert caught.value.fields == ["domains"]
    with pytest.raises(ValidationError) as caught:
        await db.filters.add_words(guild, ["x"], "delete", colour="red")
    assert caught.value.fields == ["colour"]


async def test_changes_are_audited_and_rebuild_the_matcher(db: Database, guild: int) -> None:
    with acting_as(MOD):
        rule = await db.filters.add_words(guild, ["spoiler"], "log")
        assert (await db.filters.check(guild, CHANNEL, "spoiler!")).action is FilterAction.LOG
        changed = await db.filters.update(guild, rule.filter_id, action="timeout")
        assert changed.timeout_seconds == 600  # the default timeout, kept only by a timeout rule
        assert (await db.filters.check(guild, CHANNEL, "spoiler!")).action is FilterAction.TIMEOUT
        await db.filters.update(guild, rule.filter_id, is_enabled=False)
        assert (await db.filters.check(guild, CHANNEL, "spoiler!")).action is None
        assert await db.filters.delete(guild, rule.filter_id)
    trail = list(reversed(await db.audit.for_entity("message_filter", rule.filter_id)))
    assert [row.action.value for row in trail] == ["filter_create", "filter_update", "filter_update", "filter_delete"]
    assert all(row.actor_id == MOD for row in trail)
    assert trail[1].after == {"action": "timeout", "timeout_seconds": 600}


async def test_hits_are_counted_in_batches(db: Database, guild: int) -> None:
    rule = await db.filters.add_words(guild, ["bad"], "delete")
    for _ in range(3):
        await db.filters.check(guild, CHANNEL, "bad")
    assert await db.filters.flush_hits() == 3
    assert [r.hits for r in await db.filters.list_for(guild)] == [3]
    assert rule.hits == 0
