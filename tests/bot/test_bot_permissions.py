"""Permissions through discord.py's dispatch (R4.5, R22): the global check, its refusal, the cog and ``explain``.

Every command passes ``db.permissions.check`` before it runs; a refusal
answers with the rule or rank that decided it, and the check is in the log.
The cog's commands store what the check applies, and ``explain`` answers
"could @user run warn in #general, and why?" without running anything.
"""

from harness import Harness

from guildbase.models.permissions import DecidedBy


def role(role_id: int) -> str:
    return f"<@&{role_id}>"


async def test_a_denied_command_is_refused_with_the_rule_that_decided_it(harness: Harness) -> None:
    world, db = harness, harness.bot.db
    await world.say(world.mod, f"$deny warn {role(world.regular_role_id)} no warns from regulars")
    assert "saved" in world.last_reply()
    [rule] = await db.permissions.rules(world.guild_id)
    assert (rule.effect.value, rule.target_name, rule.subject_id, rule.author_id) == (
        "deny", "warn", world.regular_role_id, world.mod.user_id
    )  # fmt: skip
    await world.say(world.alice, f"$warn {world.bob.mention} spam", mentions=(world.bob,))
    assert world.last_reply() == (
        f"You can't use `warn` here: denied by rule #{rule.rule_id} (deny command warn for role "
        f"{world.regular_role_id}), at the role level, on command:warn."
    )
    assert await db.cases.recent(world.guild_id) == []
    await db.permissions.flush()
    [logged, *_] = await db.permissions.recent_checks(world.guild_id)
    assert (logged.user_id, logged.command, logged.is_allowed, logged.rule_id) == (
        world.alice.user_id, "warn", False, rule.rule_id
    )  # fmt: skip


async def test_ranks_set_from_the_cog_gate_commands_and_say_what_is_missing(harness: Harness) -> None:
    world = harness
    await world.say(world.mod, "$rankname 5 Moderator")
    await world.say(world.mod, f"$rolerank {role(world.regular_role_id)} 2")
    await world.say(world.mod, "$commandrank 5 Moderation")
    await world.say(world.alice, f"$warn {world.bob.mention} spam", mentions=(world.bob,))
    assert world.last_reply() == (
        "You can't use `warn` here: denied: module:Moderation needs rank 5 (Moderator), the member has rank 2."
    )
    await world.say(world.mod, "$ranks")
    embed = world.fake.sent_to(world.channel_id)[-1]["embeds"][0]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Names"] == "5: Moderator"
    assert fields["Roles"] == f"{role(world.regular_role_id)}: 2"
    assert fields["Commands"] == "`Moderation` (module): 5"


async def test_explain_says_whether_a_member_could_run_a_command_and_why(harness: Harness) -> None:
    world = harness
    await world.say(world.mod, f"$explain {world.alice.mention} warn", mentions=(world.alice,))
    assert world.last_reply() == (
        f"{world.alice.mention} could run `warn` in <#{world.channel_id}>: "
        "allowed: no rule or rank applies, and this server allows unconfigured commands."
    )
    await world.say(world.mod, f"$whitelist Moderation <#{world.board_channel_id}> mods only there")
    [rule] = await world.bot.db.permissions.rules(world.guild_id)
    await world.slash(world.mod, "explain", member=world.alice, command="warn")
    text = world.last_interaction_response()["data"]["content"]
    assert text.startswith(f"{world.alice.mention} could not run `warn` in <#{world.channel_id}>: denied: no channel")
    assert f"rule #{rule.rule_id}" in text
    await world.bot.db.permissions.flush()
    logged = await world.bot.db.permissions.recent_checks(world.guild_id)
    assert [c.command for c in logged if c.user_id == world.alice.user_id] == []  # explain logs no check


async def test_bad_rule_and_rank_input_is_refused_by_name(harness: Harness) -> None:
    world = harness
    await world.say(world.mod, "$deny nuke everyone")
    assert "**target_name**: must be a known command" in world.last_reply()
    await world.say(world.mod, "$rankname 11 God")
    assert "**rank_value**: must be an integer from 0 to 10, got 11" in world.last_reply()
    await world.say(world.mod, "$allow warn somebody")
    assert "**subject**: must be a mention, an ID or everyone" in world.last_reply()
    assert await world.bot.db.permissions.rules(world.guild_id) == []


async def test_a_rule_can_be_listed_and_removed_and_the_default_closed(harness: Harness) -> None:
    world, db = harness, harness.bot.db
    await world.say(world.mod, f"$allow warn {world.alice.mention} 1h trial", mentions=(world.alice,))
    [rule] = await db.permissions.rules(world.guild_id)
    assert (rule.subject_kind.value, rule.reason, rule.expires_at is not None) == ("member", "trial", True)
    await world.say(world.mod, "$rules")
    assert world.last_reply().startswith(f"**#{rule.rule_id}** allow command `warn` for {world.alice.mention}")
    decision = await db.permissions.explain(world.guild_id, world.alice.user_id, command="warn", module="Moderation")
    assert (decision.allowed, decision.decided_by) == (True, DecidedBy.RULE)
    await world.say(world.mod, f"$unrule {rule.rule_id}")
    assert world.last_reply() == f"Removed rule #{rule.rule_id}."
    assert await db.permissions.rules(world.guild_id) == []
    await world.say(world.mod, "$permdefault deny")  # from here on only the owners pass
    await world.say(world.bob, "$rank")
    assert world.last_reply() == (
        "You can't use `rank` here: denied: no rule or rank applies, and this server denies unconfigured commands."
    )
