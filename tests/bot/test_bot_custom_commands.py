"""Custom commands through discord.py's dispatch: defined by staff, run as ``$name args``, rank and cooldown applied."""

from harness import Harness


async def test_staff_define_a_command_and_members_run_it_with_arguments(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, "$ccadd greet Hi {1}!")
    assert "Manage Server" in harness.last_reply() or "permission" in harness.last_reply()
    await harness.say(harness.mod, "$ccadd greet Hi {1}, from {user} in {channel} of {guild}!")
    assert harness.last_reply() == "Custom command `greet` saved."
    await harness.say(harness.alice, "$GREET bob")
    assert harness.last_reply() == f"Hi bob, from {harness.alice.mention} in <#{harness.channel_id}> of Test Guild!"
    await harness.say(harness.alice, "$greet")
    assert harness.last_reply() == "`greet` needs 1 argument(s)."
    found = await db.custom_commands.get(harness.guild_id, "greet")
    assert found is not None
    assert found.uses == 1
    await harness.say(harness.alice, "$commands")
    assert "`greet`" in harness.last_reply()


async def test_rank_and_cooldown_are_applied(harness: Harness) -> None:
    await harness.say(harness.mod, "$ccadd daily Claimed!")
    await harness.say(harness.mod, "$ccrank daily 10")
    assert harness.last_reply() == "`daily` can be run by rank 10 and above."
    await harness.say(harness.alice, "$daily")
    assert harness.last_reply() == "`daily` needs rank 10."
    await harness.say(harness.mod, "$ccrank daily")
    await harness.say(harness.mod, "$cccooldown daily 3600")
    await harness.say(harness.alice, "$daily")
    assert harness.last_reply() == "Claimed!"
    await harness.say(harness.alice, "$daily")
    assert harness.last_reply().startswith("`daily` is cooling down: try again in 3")
    await harness.say(harness.bob, "$daily")
    assert harness.last_reply() == "Claimed!"


async def test_a_name_taken_by_a_snippet_or_a_builtin_is_refused_by_name(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, "$snippetadd faq Read the pins.")
    await harness.say(harness.mod, "$ccadd FAQ x")
    assert "name: 'FAQ' is already a snippet" in harness.last_reply()
    await harness.say(harness.mod, "$ccadd warn x")
    assert "name: 'warn' is a built-in command" in harness.last_reply()
    await harness.say(harness.mod, "$ccadd roll 🎲")
    await harness.say(harness.alice, "$snippetalias faq ROLL")
    assert "already a custom command" in harness.last_reply()
    assert [c.name for c in await db.custom_commands.list_for_guild(harness.guild_id)] == ["roll"]
