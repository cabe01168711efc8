"""Refused commands leave ``access_denied`` security events (R10.4), through discord.py's dispatch."""

from harness import Harness

from guildbase.models.security import SecurityEventKind


async def test_a_command_refused_for_want_of_a_permission_is_a_security_event(harness: Harness) -> None:
    await harness.say(harness.alice, "$prefix !")
    assert harness.last_reply() == "You need the manage guild permission for this."
    events = await harness.bot.db.security.by_user(harness.alice.user_id)
    assert [(e.kind, e.guild_id, e.detail) for e in events] == [
        (
            SecurityEventKind.ACCESS_DENIED,
            harness.guild_id,
            {"command": "prefix", "reason": "MissingPermissions", "missing": ["manage_guild"]},
        )
    ]


async def test_an_owner_only_command_refused_is_a_security_event_and_an_allowed_one_is_not(harness: Harness) -> None:
    await harness.say(harness.alice, f"$gblacklist user {harness.bob.user_id} spam")
    assert harness.last_reply() == "Only the bot's owners can do that."
    await harness.say(harness.mod, "$addprefix ?")
    denied = await harness.bot.db.security.by_guild(harness.guild_id)
    assert [(e.user_id, e.detail["reason"]) for e in denied] == [(harness.alice.user_id, "NotOwner")]
