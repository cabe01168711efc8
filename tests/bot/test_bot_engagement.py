"""Levels, AFK, reminders and bookmarks cogs through discord.py's dispatch, rows asserted via the facade."""

from datetime import UTC, datetime, timedelta

import pytest
from harness import Harness


# -- levels -------------------------------------------------------------------------------
async def test_a_message_earns_xp_and_a_level_up_is_announced_with_its_reward_role(harness: Harness) -> None:
    db = harness.bot.db
    role_id = harness.fake.snowflake()
    await db.levels.set_level_role(harness.guild_id, 1, role_id)
    await db.levels.set_xp(harness.guild_id, harness.alice.user_id, 99)
    await harness.say(harness.alice, "hello everyone")
    row = await db.levels.get(harness.guild_id, harness.alice.user_id)
    assert row is not None
    assert row.xp > 99
    assert row.level >= 1
    assert f"{harness.alice.mention} reached level {row.level}!" in harness.fake.texts(harness.channel_id)
    assert harness.fake.calls("PUT", rf"/guilds/{harness.guild_id}/members/{harness.alice.user_id}/roles/{role_id}")


async def test_no_xp_while_the_levels_feature_is_off_or_for_a_blacklisted_user(harness: Harness) -> None:
    db = harness.bot.db
    await db.guild_config.set_feature(harness.guild_id, "levels", enabled=False)
    await harness.say(harness.alice, "hello")
    assert await db.levels.get(harness.guild_id, harness.alice.user_id) is None
    await db.guild_config.set_feature(harness.guild_id, "levels", enabled=True)
    await db.blacklist.add("user", harness.alice.user_id)
    await harness.say(harness.alice, "hello again")
    assert await db.levels.get(harness.guild_id, harness.alice.user_id) is None


async def test_rank_leaderboard_and_xp_admin(harness: Harness) -> None:
    db = harness.bot.db
    await harness.slash(harness.mod, "setxp", member=harness.alice, xp=500)
    await harness.say(harness.mod, f"$setxp {harness.bob.mention} 200")
    assert (await db.levels.get(harness.guild_id, harness.alice.user_id)).xp == 500  # type: ignore[union-attr]
    await harness.say(harness.bob, f"$rank {harness.alice.mention}")
    assert "Rank: #1 of" in harness.last_reply()
    await harness.slash(harness.bob, "leaderboard", period="all")
    board = harness.last_reply()
    assert board.index(f"<@{harness.alice.user_id}>") < board.index(f"<@{harness.bob.user_id}>")
    assert "You: #2 with" in board
    bob_before = await db.levels.get(harness.guild_id, harness.bob.user_id)
    await harness.say(harness.mod, f"$setxp {harness.bob.mention} -5")
    assert "**xp**" in harness.last_reply()
    assert await db.levels.get(harness.guild_id, harness.bob.user_id) == bob_before
    await harness.say(harness.mod, f"$resetxp {harness.alice.mention}")
    assert (await db.levels.get(harness.guild_id, harness.alice.user_id)).xp == 0  # type: ignore[union-attr]


async def test_level_roles_are_set_and_listed(harness: Harness) -> None:
    role_id = harness.guild_id  # @everyone is a role discord.py resolves from the cache
    await harness.slash(harness.mod, "levelrole", level=5, role=str(role_id))
    roles = await harness.bot.db.levels.level_roles(harness.guild_id)
    assert [(r.level, r.role_id) for r in roles] == [(5, role_id)]
    assert harness.last_reply() == "Level 5 now rewards @everyone."
    await harness.say(harness.mod, "$levelroles")
    assert f"Level 5: <@&{role_id}>" in harness.last_reply()


# -- afk ------------------------------------------------------------------------------------
async def test_afk_is_cleared_by_the_next_message_and_mentions_get_a_note(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, "$afk lunch")
    assert (await db.afk.get(harness.guild_id, harness.alice.user_id)).reason == "lunch"  # type: ignore[union-attr]
    await harness.say(harness.bob, f"hey {harness.alice.mention}", mentions=(harness.alice,))
    assert any(text.startswith("alice is AFK: lunch") for text in harness.fake.texts())
    assert await db.afk.get(harness.guild_id, harness.alice.user_id) is not None
    await harness.say(harness.alice, "back")
    assert await db.afk.get(harness.guild_id, harness.alice.user_id) is None
    assert harness.last_reply() == f"Welcome back {harness.alice.mention}, your AFK has ended."


async def test_setting_afk_again_does_not_clear_it(harness: Harness) -> None:
    await harness.say(harness.alice, "$afk lunch")
    await harness.say(harness.alice, "$afk dinner")
    afk = await harness.bot.db.afk.get(harness.guild_id, harness.alice.user_id)
    assert afk is not None
    assert afk.reason == "dinner"


async def test_an_afk_reason_that_is_too_long_writes_nothing(harness: Harness) -> None:
    await harness.say(harness.alice, "$afk " + "x" * 600)
    assert "**reason**" in harness.last_reply()
    assert await harness.bot.db.afk.get(harness.guild_id, harness.alice.user_id) is None


# -- reminders --------------------------------------------------------------------------------
async def test_remind_with_a_human_duration_then_list_and_cancel(harness: Harness) -> None:
    db = harness.bot.db
    before = datetime.now(UTC)
    await harness.slash(harness.alice, "remind", when="1h30m", content="stretch")
    (reminder,) = await db.reminders.list_for_user(harness.alice.user_id)
    assert reminder.content == "stretch"
    assert reminder.channel_id == harness.channel_id
    assert before + timedelta(minutes=90) <= reminder.remind_at <= datetime.now(UTC) + timedelta(minutes=90)
    assert harness.last_interaction_response()["data"]["flags"] & 64
    await harness.say(harness.alice, "$reminders")
    assert f"**#{reminder.reminder_id}**" in harness.last_reply()
    choices = await harness.autocomplete(harness.alice, "unremind", "reminder_id", reminder_id="str")
    assert [c["value"] for c in choices] == [reminder.reminder_id]
    await harness.say(harness.bob, f"$unremind {reminder.reminder_id}")
    assert "belongs to another user" in harness.last_reply()
    await harness.say(harness.alice, f"$unremind {reminder.reminder_id}")
    assert await db.reminders.list_for_user(harness.alice.user_id) == []


@pytest.mark.parametrize("when", ["tomorrowish", "0s", "99999w"])
async def test_a_bad_reminder_duration_writes_nothing(harness: Harness, when: str) -> None:
    await harness.say(harness.alice, f"$remind {when} stretch")
    assert "**duration**" in harness.last_reply()
    assert await harness.bot.db.reminders.list_for_user(harness.alice.user_id) == []


# -- bookmarks --------------------------------------------------------------------------------
async def test_a_bookmark_reaction_saves_the_message_once_and_dms_each_reaction(harness: Harness) -> None:
    message = await harness.say(harness.bob, "a very useful answer")
    await harness.react(harness.alice, message, "🔖")
    await harness.react(harness.alice, message, "🔖", add=False)
    await harness.react(harness.alice, message, "🔖")
    (saved,) = await harness.bot.db.bookmarks.list_for_user(harness.alice.user_id)
    assert saved.message_id == int(message["id"])
    assert saved.author_id == harness.bob.user_id
    assert saved.excerpt == "a very useful answer"
    dms = harness.fake.sent_to(harness.alice.user_id + 1)  # the fake's DM channel ID for a user
    assert len(dms) == 2
    assert "a very useful answer" in harness.fake.texts(harness.alice.user_id + 1)[0]
    await harness.say(harness.alice, "$bookmarks")
    assert "a very useful answer" in harness.last_reply()
    await harness.say(harness.alice, f"$unbookmark {message['id']}")
    assert await harness.bot.db.bookmarks.list_for_user(harness.alice.user_id) == []


async def test_no_bookmark_while_the_feature_is_off(harness: Harness) -> None:
    await harness.bot.db.guild_config.set_feature(harness.guild_id, "bookmarks", enabled=False)
    message = await harness.say(harness.bob, "text")
    await harness.react(harness.alice, message, "🔖")
    assert await harness.bot.db.bookmarks.list_for_user(harness.alice.user_id) == []
    assert harness.fake.calls("POST", r"/users/@me/channels") == []
