"""Config, blacklist and starboard cogs through discord.py's dispatch, rows asserted via the facade."""

from harness import Harness, Person


# -- config ------------------------------------------------------------------------------------
async def test_prefixes_are_set_added_and_removed(harness: Harness) -> None:
    db = harness.bot.db
    await harness.slash(harness.mod, "prefix", new="?")
    assert (await db.guild_config.get(harness.guild_id)).prefix == "?"
    await harness.say(harness.mod, "?addprefix !!")
    assert await db.guild_config.get_prefixes(harness.guild_id) == ["?", "!!"]
    await harness.say(harness.mod, "!!addprefix !!")  # a repeat changes nothing
    assert await db.guild_config.get_prefixes(harness.guild_id) == ["?", "!!"]
    await harness.say(harness.mod, "!!removeprefix !!")
    assert await db.guild_config.get_prefixes(harness.guild_id) == ["?"]


async def test_config_commands_are_audited_as_the_bot_under_the_invoking_message(harness: Harness) -> None:
    db = harness.bot.db
    await harness.slash(harness.mod, "prefix", new="?")
    message = await harness.say(harness.mod, "?addprefix !!")
    await harness.say(harness.mod, "!!addprefix !!")  # a repeat changes nothing: no row
    rows = await db.audit.for_guild(harness.guild_id)
    config_rows = [r for r in rows if r.entity_type == "guild_config"]
    assert [(r.action, r.source, r.actor_id) for r in config_rows] == [
        ("prefix_add", "bot", harness.mod.user_id),
        ("config_update", "bot", harness.mod.user_id),
    ]
    added, slashed = config_rows
    assert (added.before, added.after) == ({"extra_prefixes": []}, {"extra_prefixes": ["!!"]})
    assert added.correlation_id == message["id"]
    assert slashed.correlation_id is not None
    assert slashed.correlation_id != added.correlation_id


async def test_channels_roles_welcome_message_and_features(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.mod, f"$setchannel mod_log <#{harness.board_channel_id}>")
    await harness.slash(harness.mod, "setrole", kind="jail", role=str(harness.mod_role_id))
    await harness.say(harness.mod, "$welcome Hi {user}, read the rules")
    config = await db.guild_config.get(harness.guild_id)
    assert config.mod_log_channel_id == harness.board_channel_id
    assert config.jail_role_id == harness.mod_role_id
    assert config.welcome_message == "Hi {user}, read the rules"
    assert config.updated_by == harness.mod.user_id
    await harness.say(harness.mod, "$setchannel mod_log nowhere")  # a wrong channel is refused, not a clear
    assert harness.last_reply() == 'Channel "nowhere" not found.'
    assert (await db.guild_config.get(harness.guild_id)).mod_log_channel_id == harness.board_channel_id
    await harness.say(harness.mod, "$setchannel mod_log")
    assert (await db.guild_config.get(harness.guild_id)).mod_log_channel_id is None
    await harness.say(harness.mod, "$feature starboard on")
    assert await db.guild_config.is_enabled(harness.guild_id, "starboard")
    await harness.say(harness.mod, "$feature telepathy on")
    assert "**feature**" in harness.last_reply()
    choices = await harness.autocomplete(harness.mod, "feature", "name", name="book", state=True)
    assert [c["value"] for c in choices] == ["bookmarks"]


async def test_config_needs_manage_server(harness: Harness) -> None:
    await harness.say(harness.alice, "$prefix !")
    assert harness.last_reply() == "You need the manage guild permission for this."
    assert (await harness.bot.db.guild_config.get(harness.guild_id)).prefix == "$"


# -- blacklist -----------------------------------------------------------------------------------
async def test_owners_blacklist_users_globally_and_others_may_not(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, f"$gblacklist user {harness.bob.user_id} spam")
    assert harness.last_reply() == "Only the bot's owners can do that."
    assert not await db.blacklist.is_blacklisted("user", harness.bob.user_id)
    await harness.say(harness.mod, f"$gblacklist user {harness.bob.user_id} spam")
    assert await db.blacklist.is_blacklisted("user", harness.bob.user_id)
    await harness.say(harness.bob, "$reminders")
    assert harness.last_reply() == "You are blacklisted from using this bot."
    await harness.say(harness.mod, "$gblacklisted user")
    assert f"`{harness.bob.user_id}` — spam" in harness.last_reply()
    await harness.say(harness.mod, f"$gunblacklist user {harness.bob.user_id}")
    assert not await db.blacklist.is_blacklisted("user", harness.bob.user_id)
    await harness.say(harness.mod, "$gblacklist user notanid")
    assert harness.last_reply() == "`notanid` is not a Discord ID."
    await harness.say(harness.mod, "$gblacklist user 0")
    assert "**target_id**" in harness.last_reply()
    assert await db.blacklist.list_active("user") == []


async def test_blocking_a_member_in_one_server(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.mod, f"$block {harness.alice.mention} trolling")
    assert await db.members.is_blacklisted(harness.guild_id, harness.alice.user_id)
    await harness.say(harness.alice, "$reminders")
    assert harness.last_reply() == "You are blocked from using this bot in this server."
    await harness.slash(harness.mod, "unblock", member=harness.alice)
    assert not await db.members.is_blacklisted(harness.guild_id, harness.alice.user_id)


# -- starboard --------------------------------------------------------------------------------------
async def test_stars_post_edit_and_remove_the_board_message(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.mod, "$feature starboard on")
    await harness.say(harness.mod, f"$starboard <#{harness.board_channel_id}> 2")
    message = await harness.say(harness.bob, "a great joke")
    await harness.react(harness.alice, message, "⭐")
    assert harness.fake.sent_to(harness.board_channel_id) == []
    await harness.react(harness.mod, message, "⭐")
    (posted,) = harness.fake.sent_to(harness.board_channel_id)
    assert posted["content"] == f"⭐ **2** | <#{harness.channel_id}>"
    assert posted["embeds"][0]["description"] == "a great joke"
    entry = await db.starboard.get_entry(harness.guild_id, int(message["id"]))
    assert entry is not None
    assert entry.posted_message_id == int(posted["id"])
    await harness.react(harness.bob, message, "⭐")  # self-star: refused, nothing changes
    await harness.react(harness.stranger, message, "⭐")
    assert harness.fake.messages[int(posted["id"])]["content"] == f"⭐ **3** | <#{harness.channel_id}>"
    await harness.react(harness.stranger, message, "⭐", add=False)
    await harness.react(harness.mod, message, "⭐", add=False)
    assert harness.fake.calls("DELETE", rf"/channels/{harness.board_channel_id}/messages/{posted['id']}")
    entry = await db.starboard.get_entry(harness.guild_id, int(message["id"]))
    assert entry is not None
    assert entry.posted_message_id is None
    assert await db.starboard.star_count(harness.guild_id, int(message["id"])) == 1


async def test_stars_are_ignored_while_the_feature_is_off_or_with_another_emoji(harness: Harness) -> None:
    db = harness.bot.db
    await db.starboard.configure(harness.guild_id, channel_id=harness.board_channel_id, threshold=1)
    message = await harness.say(harness.bob, "text")
    await harness.react(harness.alice, message, "⭐")  # starboard is off by default
    await db.guild_config.set_feature(harness.guild_id, "starboard", enabled=True)
    await harness.react(harness.alice, message, "👍")
    assert await db.starboard.get_entry(harness.guild_id, int(message["id"])) is None
    assert harness.fake.sent_to(harness.board_channel_id) == []


async def test_a_newcomer_is_welcomed_when_the_feature_is_on(harness: Harness) -> None:
    await harness.say(harness.mod, f"$setchannel welcome <#{harness.board_channel_id}>")
    await harness.say(harness.mod, "$welcome Hi {user}, welcome to {server}!")
    await harness.join(harness.stranger)
    assert harness.fake.sent_to(harness.board_channel_id) == []  # the welcome feature is off by default
    await harness.say(harness.mod, "$feature welcome on")
    newcomer = Person(harness.fake.snowflake(), "newcomer")
    await harness.join(newcomer)
    assert harness.fake.texts(harness.board_channel_id) == [f"Hi {newcomer.mention}, welcome to Test Guild!"]
