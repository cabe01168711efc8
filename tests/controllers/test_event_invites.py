"""Invite tracking: each join's invite from the change in use counts, with how sure the match is (R14.4)."""

from datetime import timedelta

import pytest

from guildbase import Database, FeatureDisabledError, ValidationError
from guildbase.db.types import make_snowflake
from guildbase.models.events import GuildEventKind, InviteConfidence, InviteState
from guildbase.testing import shifted_noon

pytestmark = pytest.mark.clock

NOON = shifted_noon()
GUILD = make_snowflake(NOON - timedelta(days=400), 21)
CHANNEL = make_snowflake(NOON - timedelta(days=400), 22)
ANNA = make_snowflake(NOON - timedelta(days=300), 23)
BERT = make_snowflake(NOON - timedelta(days=300), 24)
USERS = [make_snowflake(NOON - timedelta(days=200), 30 + n) for n in range(6)]


def invite(code: str, uses: int, *, inviter: int = ANNA, max_uses: int = 0) -> InviteState:
    return InviteState(code=code, uses=uses, max_uses=max_uses, inviter_id=inviter, channel_id=CHANNEL)


async def _baseline(db: Database) -> None:
    await db.events.sync_invites(GUILD, [invite("anna", 4, inviter=ANNA), invite("bert", 9, inviter=BERT)])


async def test_joins_far_apart_are_each_matched_exactly_with_the_inviter(pooled_db: Database) -> None:
    await _baseline(pooled_db)
    first = await pooled_db.events.member_joined(
        GUILD, USERS[0], invites=[invite("anna", 5), invite("bert", 9, inviter=BERT)], joined_at=NOON
    )
    second = await pooled_db.events.member_joined(
        GUILD, USERS[1], invites=[invite("anna", 5), invite("bert", 10, inviter=BERT)], joined_at=NOON
    )
    assert (first.code, first.inviter_id, first.confidence) == ("anna", ANNA, InviteConfidence.EXACT)
    assert (second.code, second.inviter_id, second.confidence) == ("bert", BERT, InviteConfidence.EXACT)
    await pooled_db.events.flush()
    joins = await pooled_db.events.guild_events(GUILD, kind=GuildEventKind.MEMBER_JOIN, since=NOON - timedelta(days=1))
    assert {(e.user_id, e.after["invite"], e.executor_id) for e in joins} == {
        (USERS[0], "anna", ANNA),
        (USERS[1], "bert", BERT),
    }


async def test_two_invites_used_close_together_are_reported_uncertain_never_wrong(pooled_db: Database) -> None:
    await _baseline(pooled_db)
    both_moved = [invite("anna", 5), invite("bert", 10, inviter=BERT)]  # both joins counted before the bot looked
    first = await pooled_db.events.member_joined(GUILD, USERS[0], invites=both_moved, joined_at=NOON)
    second = await pooled_db.events.member_joined(GUILD, USERS[1], invites=both_moved, joined_at=NOON)
    for use in (first, second):
        assert (use.code, use.confidence, use.candidates) == (None, InviteConfidence.UNCERTAIN, ["anna", "bert"])
    # The two uses are settled by the two joins: the next join is matched exactly again.
    third = await pooled_db.events.member_joined(
        GUILD, USERS[2], invites=[invite("anna", 6), invite("bert", 10, inviter=BERT)], joined_at=NOON
    )
    assert (third.code, third.confidence) == ("anna", InviteConfidence.EXACT)
    stored = await pooled_db.events.invite_uses(GUILD, since=NOON - timedelta(days=1))
    assert sorted(u.confidence for u in stored) == ["exact", "uncertain", "uncertain"]


async def test_two_joins_on_the_same_invite_are_both_exact(pooled_db: Database) -> None:
    await _baseline(pooled_db)
    moved = [invite("anna", 6), invite("bert", 9, inviter=BERT)]
    for user in USERS[:2]:
        use = await pooled_db.events.member_joined(GUILD, user, invites=moved, joined_at=NOON)
        assert (use.code, use.confidence) == ("anna", InviteConfidence.EXACT)


async def test_an_invite_used_up_by_the_join_vanishes_and_is_still_matched(pooled_db: Database) -> None:
    await pooled_db.events.sync_invites(GUILD, [invite("once", 0, max_uses=1), invite("bert", 9, inviter=BERT)])
    await pooled_db.events.invite_deleted(GUILD, "once", occurred_at=NOON)  # Discord deletes it as it is used up
    use = await pooled_db.events.member_joined(
        GUILD, USERS[3], invites=[invite("bert", 9, inviter=BERT)], joined_at=NOON + timedelta(seconds=1)
    )
    assert (use.code, use.confidence) == ("once", InviteConfidence.EXACT)


async def test_a_join_with_no_count_change_is_unknown_and_one_without_invites_seen_too(pooled_db: Database) -> None:
    await _baseline(pooled_db)
    same = [invite("anna", 4), invite("bert", 9, inviter=BERT)]
    vanity = await pooled_db.events.member_joined(GUILD, USERS[4], invites=same, joined_at=NOON)
    blind = await pooled_db.events.member_joined(GUILD, USERS[5], invites_seen=False, joined_at=NOON)
    assert vanity.confidence is InviteConfidence.UNKNOWN
    assert vanity.candidates == []
    assert blind.confidence is InviteConfidence.UNKNOWN


async def test_a_new_invite_counts_from_its_creation(pooled_db: Database) -> None:
    await _baseline(pooled_db)
    await pooled_db.events.invite_created(GUILD, invite("fresh", 0, inviter=BERT), occurred_at=NOON)
    use = await pooled_db.events.member_joined(
        GUILD, USERS[0], invites=[invite("anna", 4), invite("bert", 9), invite("fresh", 1, inviter=BERT)]
    )
    assert (use.code, use.inviter_id) == ("fresh", BERT)
    await pooled_db.events.flush()
    [created] = await pooled_db.events.guild_events(GUILD, kind=GuildEventKind.INVITE_CREATE)
    assert (created.user_id, created.target_id, created.after["code"]) == (BERT, CHANNEL, "fresh")


async def test_bad_invites_are_refused_naming_the_field(pooled_db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await pooled_db.events.member_joined(GUILD, USERS[0], invites=[{"code": "x", "uses": 1}])  # type: ignore[list-item]
    assert raised.value.fields[0].startswith("invites")
    with pytest.raises(ValidationError) as raised:
        await pooled_db.events.invite_deleted(GUILD, "")
    assert raised.value.fields == ["code"]
    assert await pooled_db.events.invite_uses(GUILD) == []


async def test_invites_are_neither_tracked_nor_logged_while_logging_is_off(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD, name="quiet")
    await pooled_db.guild_config.set_feature(GUILD, "logging", enabled=False)
    with pytest.raises(FeatureDisabledError):
        await pooled_db.events.invite_created(GUILD, invite("hidden", 0), occurred_at=NOON)
    with pytest.raises(FeatureDisabledError):
        await pooled_db.events.invite_deleted(GUILD, "hidden", occurred_at=NOON)
    await pooled_db.events.flush()
    assert await pooled_db.events.guild_events(GUILD, since=NOON - timedelta(days=1)) == []
    await pooled_db.guild_config.set_feature(GUILD, "logging", enabled=True)
    await pooled_db.events.invite_created(GUILD, invite("open", 0), occurred_at=NOON)
    await pooled_db.events.flush()
    [created] = await pooled_db.events.guild_events(GUILD, since=NOON - timedelta(days=1))
    assert (created.kind, created.after["code"]) == (GuildEventKind.INVITE_CREATE, "open")
