"""Jail, unjail and the moderation settings (R4.3) the cog applies, through discord.py's dispatch.

Each test drives commands into the real bot and asserts what a server would
notice: the Discord calls at the fake (role edits, DMs, log posts, timeouts),
the reply, and the cases and settings in PostgreSQL.
"""

from datetime import UTC, datetime, timedelta

import pytest
from harness import Harness

from guildbase import CaseType

pytestmark = pytest.mark.clock  # expiries are measured from now


async def cases(world: Harness) -> list[tuple[int, str, str]]:
    found = await world.bot.db.cases.recent(world.guild_id)
    return sorted((c.number, c.type.value, c.status.value) for c in found)


def roles_of(world: Harness, who: int) -> list[int]:
    return sorted(int(r) for r in world.fake.members[(world.guild_id, who)]["roles"])


def footer(world: Harness) -> str:
    embeds = world.fake.sent_to(world.channel_id)[-1]["embeds"]
    return str(embeds[0].get("footer", {}).get("text", ""))


@pytest.fixture
async def jail_set(harness: Harness) -> Harness:
    await harness.bot.db.guild_config.update(harness.guild_id, jail_role_id=harness.jail_role_id)
    return harness


# -- jail / unjail -------------------------------------------------------------------------
async def test_jail_saves_the_roles_and_unjail_gives_them_back(jail_set: Harness) -> None:
    world, db = jail_set, jail_set.bot.db
    assert roles_of(world, world.alice.user_id) == [world.regular_role_id]
    await world.say(world.mod, f"$jail {world.alice.mention} 1h posting scams")
    assert roles_of(world, world.alice.user_id) == [world.jail_role_id]
    jail = await db.cases.get(world.guild_id, 1)
    assert jail is not None
    assert (jail.type, jail.role_ids, jail.reason) == (CaseType.JAIL, [world.regular_role_id], "posting scams")
    assert jail.expires_at is not None
    assert timedelta(minutes=59) < jail.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert await db.cases.is_jailed(world.guild_id, world.alice.user_id)

    await world.slash(world.mod, "unjail", member=world.alice, reason="appeal accepted")
    assert roles_of(world, world.alice.user_id) == [world.regular_role_id]
    assert await cases(world) == [(1, "JAIL", "active"), (2, "UNJAIL", "active")]
    assert not await db.cases.is_jailed(world.guild_id, world.alice.user_id)
    assert "Case #2: UNJAIL" in world.last_reply()


async def test_a_jail_without_a_duration_lasts_until_unjail_or_the_servers_default(jail_set: Harness) -> None:
    await jail_set.say(jail_set.mod, f"$jail {jail_set.alice.mention} soon enough")
    jail = await jail_set.bot.db.cases.get(jail_set.guild_id, 1)
    assert jail is not None
    assert (jail.expires_at, jail.reason) == (None, "soon enough")  # "soon" is no duration: it starts the reason
    await jail_set.bot.db.mod_settings.set_default_duration(jail_set.guild_id, "jail", timedelta(hours=6))
    await jail_set.say(jail_set.mod, f"$jail {jail_set.bob.mention} raid")
    jail = await jail_set.bot.db.cases.get(jail_set.guild_id, 2)
    assert jail is not None
    assert jail.expires_at is not None
    assert timedelta(hours=5) < jail.expires_at - datetime.now(UTC) <= timedelta(hours=6)


@pytest.mark.parametrize(
    ("setup", "command", "reply"),
    [
        (False, "$jail {alice} spam", "This server has no jail role yet: `setrole jail @role` sets one."),
        (True, "$unjail {alice}", "alice is not jailed."),
        (True, "$jail {alice} 0m spam", "**duration**: must be longer than zero"),
    ],
)
async def test_bad_jail_input_gets_a_clear_reply_and_changes_nothing(
    harness: Harness, setup: bool, command: str, reply: str
) -> None:
    if setup:
        await harness.bot.db.guild_config.update(harness.guild_id, jail_role_id=harness.jail_role_id)
    await harness.say(harness.mod, command.format(alice=harness.alice.mention))
    assert reply in harness.last_reply()
    assert await cases(harness) == []
    assert roles_of(harness, harness.alice.user_id) == [harness.regular_role_id]
    assert harness.fake.calls("PATCH", r"/guilds/\d+/members/\d+") == []


async def test_jailing_a_jailed_member_is_refused(jail_set: Harness) -> None:
    await jail_set.say(jail_set.mod, f"$jail {jail_set.alice.mention} spam")
    await jail_set.say(jail_set.mod, f"$jail {jail_set.alice.mention} again")
    assert jail_set.last_reply() == "alice is already jailed; `unjail` them first."
    assert await cases(jail_set) == [(1, "JAIL", "active")]


async def test_a_jail_discord_refuses_is_voided(jail_set: Harness) -> None:
    jail_set.fake.fail("PATCH", r"/guilds/\d+/members/\d+")
    await jail_set.say(jail_set.mod, f"$jail {jail_set.alice.mention} spam")
    assert "Discord refused that" in jail_set.last_reply()
    assert await cases(jail_set) == [(1, "JAIL", "voided")]
    assert not await jail_set.bot.db.cases.is_jailed(jail_set.guild_id, jail_set.alice.user_id)


# -- settings commands ------------------------------------------------------------------------
async def test_settings_commands_store_what_the_moderation_commands_apply(harness: Harness) -> None:
    db, guild = harness.bot.db, harness.guild_id
    await harness.say(harness.mod, "$moddm on")
    await harness.say(harness.mod, "$modreason on")
    await harness.say(harness.mod, "$moddefault tempban 1d")
    await harness.slash(harness.mod, "modlog", case_type="ban", channel=str(harness.board_channel_id))
    await harness.say(harness.mod, "$escalate 3 7d timeout 1h")
    assert harness.last_reply() == "3 warns within 1w → timeout for 1h."
    settings = await db.mod_settings.get(guild)
    assert (settings.is_user_notified, settings.is_reason_required) == (True, True)
    assert settings.default_duration(CaseType.TEMPBAN) == timedelta(days=1)
    assert settings.log_channel(CaseType.BAN) == harness.board_channel_id
    assert [(r.warn_count, r.window, r.action, r.duration) for r in settings.rules] == [
        (3, timedelta(days=7), CaseType.TIMEOUT, timedelta(hours=1))
    ]
    await harness.say(harness.mod, "$modsettings")
    shown = harness.last_reply()
    assert "3 warns within 1w → timeout 1h" in shown
    assert "tempban: 1d" in shown
    assert f"ban: <#{harness.board_channel_id}>" in shown
    await harness.say(harness.mod, "$unescalate 3")
    await harness.say(harness.mod, "$moddefault tempban")
    settings = await db.mod_settings.get(guild)
    assert (settings.rules, settings.default_duration(CaseType.TEMPBAN)) == ([], None)


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("$moddefault ban 1d", "Could not convert"),
        ("$moddefault timeout 30d", "**default_duration_seconds**: must be at most 28 days"),
        ("$escalate 1 7d kick", "**warn_count**: must be an integer from 2 to 100, got 1"),
        ("$escalate 3 7d timeout", "**duration_seconds**: is required for a TIMEOUT rule"),
        ("$escalate 3 7d kick 1h", "**duration_seconds**: must be empty for a KICK rule"),
        ("$escalate 3 soon kick", "**duration**: 'soon' is not a duration"),
        ("$moddm maybe", "maybe is not a recognised boolean option"),
        ("$modlog ban nowhere", 'Channel "nowhere" not found.'),
    ],
)
async def test_bad_settings_input_gets_a_clear_reply_and_writes_nothing(
    harness: Harness, command: str, reply: str
) -> None:
    await harness.say(harness.mod, command)
    assert reply in harness.last_reply()
    settings = await harness.bot.db.mod_settings.get(harness.guild_id)
    assert (settings.is_user_notified, settings.actions, settings.rules) == (False, [], [])


async def test_settings_need_manage_server(harness: Harness) -> None:
    await harness.say(harness.alice, "$moddm on")
    assert harness.last_reply() == "You need the manage guild permission for this."
    assert (await harness.bot.db.mod_settings.get(harness.guild_id)).is_user_notified is False


# -- the settings applied -------------------------------------------------------------------
async def test_a_required_reason_is_asked_for_before_anything_is_written(harness: Harness) -> None:
    await harness.bot.db.mod_settings.configure(harness.guild_id, is_reason_required=True)
    await harness.say(harness.mod, f"$ban {harness.alice.mention}")
    assert "**reason**: is required in this server" in harness.last_reply()
    assert await cases(harness) == []
    assert harness.fake.bans == set()
    await harness.say(harness.mod, f"$ban {harness.alice.mention} raid")
    assert await cases(harness) == [(1, "BAN", "active")]


async def test_a_missing_duration_falls_back_to_the_servers_default(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.mod, f"$tempban {harness.alice.mention} spamming")
    assert "**duration**: 'spamming' is not a duration" in harness.last_reply()
    await db.mod_settings.set_default_duration(harness.guild_id, "tempban", timedelta(days=2))
    await db.mod_settings.set_default_duration(harness.guild_id, "timeout", timedelta(minutes=10))
    await harness.say(harness.mod, f"$tempban {harness.alice.mention} spamming")
    await harness.slash(harness.mod, "timeout", member=harness.bob, reason="heated")
    tempban, timeout = await db.cases.get(harness.guild_id, 1), await db.cases.get(harness.guild_id, 2)
    assert tempban is not None
    assert timeout is not None
    assert tempban.reason == "spamming"
    assert tempban.expires_at is not None
    assert timedelta(days=2) - timedelta(minutes=1) < tempban.expires_at - datetime.now(UTC) <= timedelta(days=2)
    assert timeout.expires_at is not None
    assert timedelta(minutes=9) < timeout.expires_at - datetime.now(UTC) <= timedelta(minutes=10)
    (edit,) = harness.fake.calls("PATCH", rf"/guilds/{harness.guild_id}/members/{harness.bob.user_id}")
    assert "communication_disabled_until" in edit.body


async def test_the_user_is_sent_a_dm_when_the_server_wants_it(harness: Harness) -> None:
    dm_channel = harness.alice.user_id + 1  # the fake's DM channel of a user
    await harness.say(harness.mod, f"$warn {harness.alice.mention} first")
    assert harness.fake.sent_to(dm_channel) == []
    await harness.bot.db.mod_settings.configure(harness.guild_id, is_user_notified=True)
    await harness.say(harness.mod, f"$warn {harness.alice.mention} second")
    (dm,) = harness.fake.texts(dm_channel)
    assert dm == "You were warned in **Test Guild** (case #2).\nReason: second"
    harness.fake.fail("POST", rf"/channels/{dm_channel}/messages", status=403, code=50007, message="Cannot DM")
    await harness.say(harness.mod, f"$kick {harness.alice.mention} third")
    assert footer(harness) == "could not DM them"
    assert await cases(harness) == [(1, "WARN", "active"), (2, "WARN", "active"), (3, "KICK", "active")]
    assert (harness.guild_id, harness.alice.user_id) not in harness.fake.members  # kicked all the same


async def test_each_case_is_posted_to_its_actions_log_channel(harness: Harness) -> None:
    db, mod_log = harness.bot.db, harness.fake.snowflake()
    await db.guild_config.update(harness.guild_id, mod_log_channel_id=mod_log)
    await db.mod_settings.set_log_channel(harness.guild_id, "ban", harness.board_channel_id)
    await harness.say(harness.mod, f"$ban {harness.stranger.user_id} evasion")
    await harness.say(harness.mod, f"$warn {harness.alice.mention} spam")
    (ban_post,) = harness.fake.sent_to(harness.board_channel_id)
    (warn_post,) = harness.fake.sent_to(mod_log)
    assert ban_post["embeds"][0]["title"] == "Case #1: BAN"
    assert warn_post["embeds"][0]["title"] == "Case #2: WARN"
    ban, warn = await db.cases.get(harness.guild_id, 1), await db.cases.get(harness.guild_id, 2)
    assert ban is not None
    assert warn is not None
    assert (ban.mod_log_message_id, warn.mod_log_message_id) == (int(ban_post["id"]), int(warn_post["id"]))


async def test_a_warn_that_crosses_the_threshold_times_the_member_out_and_says_so(harness: Harness) -> None:
    db = harness.bot.db
    await db.mod_settings.set_rule(
        harness.guild_id, 2, within=timedelta(days=7), action="timeout", duration=timedelta(hours=1)
    )
    await harness.say(harness.mod, f"$warn {harness.bob.mention} one")
    assert harness.fake.calls("PATCH", r"/guilds/\d+/members/\d+") == []
    await harness.say(harness.mod, f"$warn {harness.bob.mention} two")
    assert footer(harness).startswith("escalated: case #3 TIMEOUT until ")
    (edit,) = harness.fake.calls("PATCH", rf"/guilds/{harness.guild_id}/members/{harness.bob.user_id}")
    until = datetime.fromisoformat(edit.body["communication_disabled_until"])
    assert timedelta(minutes=59) < until - datetime.now(UTC) <= timedelta(hours=1)
    follow_up = await db.mod_settings.escalation_of(harness.guild_id, 2)
    assert follow_up is not None
    assert (follow_up.number, follow_up.type, follow_up.details["escalated_from"]) == (3, CaseType.TIMEOUT, 2)
    await harness.say(harness.mod, f"$warn {harness.bob.mention} three")  # above the threshold: no second timeout
    assert len(harness.fake.calls("PATCH", r"/guilds/\d+/members/\d+")) == 1
    assert await cases(harness) == [
        (n, t, "active") for n, t in [(1, "WARN"), (2, "WARN"), (3, "TIMEOUT"), (4, "WARN")]
    ]


async def test_an_escalation_discord_refuses_is_voided_and_the_warn_stays(harness: Harness) -> None:
    await harness.bot.db.mod_settings.set_rule(harness.guild_id, 2, within=timedelta(days=7), action="kick")
    harness.fake.fail("DELETE", r"/guilds/\d+/members/\d+")
    await harness.say(harness.mod, f"$warn {harness.bob.mention} one")
    await harness.say(harness.mod, f"$warn {harness.bob.mention} two")
    assert footer(harness).startswith("escalation case #3 (KICK) failed: ")
    assert await cases(harness) == [(1, "WARN", "active"), (2, "WARN", "active"), (3, "KICK", "voided")]


async def test_cases_filter_by_type_and_moderator(harness: Harness) -> None:
    await harness.say(harness.mod, f"$warn {harness.alice.mention} by the mod")
    await harness.bot.db.cases.create(
        harness.guild_id, harness.bob.user_id, harness.bot_id, "kick", reason="by the bot"
    )
    await harness.slash(harness.mod, "cases", moderator=harness.mod)
    shown = harness.last_reply()
    assert "by the mod" in shown
    assert "by the bot" not in shown
    await harness.slash(harness.mod, "cases", case_type="kick")
    assert "by the bot" in harness.last_reply()
    assert "by the mod" not in harness.last_reply()
