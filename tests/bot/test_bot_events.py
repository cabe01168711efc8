"""The events cog through discord.py's dispatch: gateway payloads in, ``db.events`` rows out (R14)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import discord
import pytest
from fake_discord import user_payload
from harness import Harness, Person

from guildbase.models.event_stats import GroupBy, Metric
from guildbase.models.events import GuildEventKind, InviteConfidence, VoiceEndReason

pytestmark = pytest.mark.clock  # the statistics are read for today's UTC day


def newcomer(harness: Harness, name: str) -> Person:
    person = Person(harness.fake.snowflake(), name)
    harness.fake.users[person.user_id] = user_payload(person.user_id, name)
    return person


async def since_yesterday(harness: Harness, kind: GuildEventKind) -> list[Any]:
    await harness.bot.db.events.flush()
    return await harness.bot.db.events.guild_events(
        harness.guild_id, kind=kind, since=datetime.now(UTC) - timedelta(days=1)
    )


async def create_invite(harness: Harness, code: str, inviter: Person) -> dict[str, Any]:
    """INVITE_CREATE from the gateway, and the same invite in the REST listing."""
    listed = harness.fake.invite_payload(
        harness.guild_id, harness.channel_id, code, user_payload(inviter.user_id, inviter.name)
    )
    harness.state.parse_invite_create(
        {
            "channel_id": str(harness.channel_id),
            "guild_id": str(harness.guild_id),
            "code": code,
            "inviter": listed["inviter"],
            "uses": 0,
            "max_uses": 0,
            "max_age": 0,
            "temporary": False,
            "created_at": listed["created_at"],
            "type": 0,
        }
    )
    await harness.settle()
    return listed


async def voice(harness: Harness, person: Person, channel_id: int | None, **flags: bool) -> None:
    """VOICE_STATE_UPDATE: ``person`` is now in ``channel_id`` (None: left voice)."""
    harness.state.parse_voice_state_update(
        {
            "guild_id": str(harness.guild_id),
            "channel_id": None if channel_id is None else str(channel_id),
            "user_id": str(person.user_id),
            "member": harness.member_payload(person),
            "session_id": "session",
            "deaf": False,
            "mute": False,
            "self_deaf": flags.get("self_deaf", False),
            "self_mute": flags.get("self_mute", False),
            "self_stream": flags.get("self_stream", False),
            "self_video": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }
    )
    await harness.settle()


async def voice_channel(harness: Harness) -> int:
    """CHANNEL_CREATE of a voice channel (the harness guild has text channels only)."""
    channel_id = harness.fake.snowflake()
    harness.state.parse_channel_create(
        {
            "id": str(channel_id),
            "type": 2,
            "guild_id": str(harness.guild_id),
            "name": "voice",
            "position": 5,
            "permission_overwrites": [],
            "bitrate": 64000,
            "user_limit": 0,
            "parent_id": None,
            "nsfw": False,
            "rtc_region": None,
        }
    )
    await harness.settle()
    return channel_id


async def test_a_join_is_matched_to_the_invite_it_used_and_counted(harness: Harness) -> None:
    listed = await create_invite(harness, "welcome", harness.mod)
    carol = newcomer(harness, "carol")
    listed["uses"] = 1
    await harness.join(carol)
    [use] = await harness.bot.db.events.invite_uses(harness.guild_id)
    assert (use.user_id, use.code, use.inviter_id, use.confidence) == (
        carol.user_id,
        "welcome",
        harness.mod.user_id,
        InviteConfidence.EXACT,
    )
    [created] = await since_yesterday(harness, GuildEventKind.INVITE_CREATE)
    assert created.after["code"] == "welcome"
    today = datetime.now(UTC).date()
    joins = await harness.bot.db.events.stats(harness.guild_id, Metric.JOINS, since=today, until=today)
    assert [row.value for row in joins] == [1]


async def test_two_joins_close_together_on_two_invites_are_reported_uncertain(harness: Harness) -> None:
    first = await create_invite(harness, "alpha", harness.mod)
    second = await create_invite(harness, "beta", harness.alice)
    dan, erin = newcomer(harness, "dan"), newcomer(harness, "erin")
    first["uses"], second["uses"] = 1, 1  # both used before the bot fetched the invites for the first join
    await harness.join(dan)
    await harness.join(erin)
    uses = await harness.bot.db.events.invite_uses(harness.guild_id)
    assert {(u.user_id, u.confidence, tuple(u.candidates)) for u in uses} == {
        (dan.user_id, InviteConfidence.UNCERTAIN, ("alpha", "beta")),
        (erin.user_id, InviteConfidence.UNCERTAIN, ("alpha", "beta")),
    }


async def test_reactions_and_message_counts_reach_the_trail(harness: Harness) -> None:
    message = await harness.say(harness.alice, "look at this")
    await harness.say(harness.alice, "and this")
    await harness.say(harness.bob, "nice")
    await harness.react(harness.bob, message, "🔥")
    await harness.react(harness.bob, message, "🔥", add=False)
    await harness.bot.db.events.flush()
    trail = await harness.bot.db.events.reactions(harness.guild_id, int(message["id"]))
    assert [(r.user_id, r.emoji, r.is_added) for r in trail] == [
        (harness.bob.user_id, "🔥", True),
        (harness.bob.user_id, "🔥", False),
    ]
    today = datetime.now(UTC).date()
    top = await harness.bot.db.events.stats(
        harness.guild_id, Metric.MESSAGES, since=today, until=today, group_by=GroupBy.USER
    )
    assert [(row.key, row.value) for row in top] == [(harness.alice.user_id, 2), (harness.bob.user_id, 1)]


async def test_role_changes_name_their_executor_from_the_audit_log(harness: Harness) -> None:
    role_id = harness.fake.snowflake()
    harness.fake.audit_entry(discord.AuditLogAction.role_create, role_id, harness.mod.user_id, reason="new team")
    role = {"id": str(role_id), "name": "Team", "permissions": "0", "position": 2, "color": 0, "hoist": False}
    harness.state.parse_guild_role_create({"guild_id": str(harness.guild_id), "role": role | {"managed": False}})
    await harness.settle()
    harness.fake.audit_entry(discord.AuditLogAction.member_role_update, harness.alice.user_id, harness.mod.user_id)
    member = harness.member_payload(harness.alice) | {"roles": [str(role_id)], "nick": "Ally"}
    harness.state.parse_guild_member_update(member | {"guild_id": str(harness.guild_id)})
    await harness.settle()

    [created] = await since_yesterday(harness, GuildEventKind.ROLE_CREATE)
    assert (created.target_id, created.executor_id, created.reason) == (role_id, harness.mod.user_id, "new team")
    [update] = await since_yesterday(harness, GuildEventKind.MEMBER_UPDATE)
    assert (update.user_id, update.executor_id) == (harness.alice.user_id, harness.mod.user_id)
    assert update.after == {"roles": [role_id], "nick": True}  # that the nickname changed, never the nickname
    today = datetime.now(UTC).date()
    added = await harness.bot.db.events.stats(
        harness.guild_id, Metric.ROLES_ADDED, since=today, until=today, group_by=GroupBy.ROLE
    )
    # The roles the member held before and lost count as removals (0 added), not as additions.
    assert [(row.key, row.value) for row in added if row.value] == [(role_id, 1)]


async def test_a_kick_is_attributed_and_an_unexplained_leave_is_not(harness: Harness) -> None:
    harness.fake.audit_entry(discord.AuditLogAction.kick, harness.bob.user_id, harness.mod.user_id, reason="spam")
    for person in (harness.bob, harness.alice):
        harness.state.parse_guild_member_remove(
            {"guild_id": str(harness.guild_id), "user": user_payload(person.user_id, person.name)}
        )
    await harness.settle()
    leaves = {e.user_id: e for e in await since_yesterday(harness, GuildEventKind.MEMBER_LEAVE)}
    assert (leaves[harness.bob.user_id].executor_id, leaves[harness.bob.user_id].reason) == (
        harness.mod.user_id,
        "spam",
    )
    assert leaves[harness.alice.user_id].executor_id is None


async def test_a_voice_session_survives_a_gateway_disconnect_and_resumes(harness: Harness) -> None:
    events = harness.bot.db.events
    channel_id = await voice_channel(harness)
    [created] = await since_yesterday(harness, GuildEventKind.CHANNEL_CREATE)
    assert created.target_id == channel_id
    await voice(harness, harness.alice, channel_id, self_mute=True)
    [opened] = await events.voice_sessions(harness.guild_id, open_only=True)
    assert (opened.user_id, opened.channel_id, opened.is_muted) == (harness.alice.user_id, channel_id, True)

    harness.bot.dispatch("shard_disconnect", 0)  # what discord.py dispatches when the gateway drops
    await harness.settle()
    [closed] = await events.voice_sessions(harness.guild_id)
    assert closed.end_reason is VoiceEndReason.DISCONNECT
    assert closed.duration_ms is not None
    assert closed.ended_at is not None

    harness.bot.dispatch("shard_resumed", 0)  # back: Alice is still in the channel, per the gateway's cache
    await harness.settle()
    [resumed] = await events.voice_sessions(harness.guild_id, open_only=True)
    assert resumed.session_id != closed.session_id
    await voice(harness, harness.alice, None)
    sessions = await events.voice_sessions(harness.guild_id)
    assert [s.end_reason for s in sessions] == [VoiceEndReason.LEFT, VoiceEndReason.DISCONNECT]


async def test_nothing_is_recorded_while_the_logging_feature_is_off(harness: Harness) -> None:
    await harness.bot.db.guild_config.set_feature(harness.guild_id, "logging", enabled=False)
    message = await harness.say(harness.alice, "off the record")
    await harness.react(harness.bob, message, "🔥")
    await harness.join(newcomer(harness, "frank"))
    await harness.bot.db.events.flush()
    today = datetime.now(UTC).date()
    assert await harness.bot.db.events.stats(harness.guild_id, Metric.MESSAGES, since=today, until=today) == []
    assert await harness.bot.db.events.reactions(harness.guild_id, int(message["id"])) == []
    assert await harness.bot.db.events.invite_uses(harness.guild_id) == []


async def test_invites_created_and_deleted_are_not_recorded_while_logging_is_off(harness: Harness) -> None:
    await harness.bot.db.guild_config.set_feature(harness.guild_id, "logging", enabled=False)
    await create_invite(harness, "hushed", harness.mod)
    harness.state.parse_invite_delete(
        {"channel_id": str(harness.channel_id), "guild_id": str(harness.guild_id), "code": "hushed"}
    )
    await harness.settle()
    assert await since_yesterday(harness, GuildEventKind.INVITE_CREATE) == []
    assert await since_yesterday(harness, GuildEventKind.INVITE_DELETE) == []
    await harness.bot.db.guild_config.set_feature(harness.guild_id, "logging", enabled=True)
    await create_invite(harness, "heard", harness.mod)
    harness.state.parse_invite_delete(
        {"channel_id": str(harness.channel_id), "guild_id": str(harness.guild_id), "code": "heard"}
    )
    await harness.settle()
    [created] = await since_yesterday(harness, GuildEventKind.INVITE_CREATE)
    [deleted] = await since_yesterday(harness, GuildEventKind.INVITE_DELETE)
    assert created.after["code"] == deleted.before["code"] == "heard"
