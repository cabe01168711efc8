"""Automod through the real bot (R15.2, R15.4): autoresponders, filters with their actions, slowmode and lockdowns."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_discord import FakeDiscord
from harness import Harness, running_bot, until

from guildbase import Database, Settings
from guildbase.bot.lockdown import LOCKED_PERMISSIONS

VIEW, SEND, ATTACH = 1 << 10, 1 << 11, 1 << 15


@pytest.fixture
async def working(bot_db: Database, settings: Settings, fake_discord: FakeDiscord) -> AsyncIterator[Harness]:
    """A bot that runs the job worker (the lockdown end is a job)."""
    async with running_bot(bot_db, settings, fake_discord, bot_run_jobs=True) as world:
        yield world


def _with_overwrites(world: Harness, overwrites: list[dict[str, Any]]) -> None:
    """The general channel, as the gateway last told the bot, carries ``overwrites``."""
    channel = next(c for c in world.guild_payload()["channels"] if c["id"] == str(world.channel_id))
    world.state.parse_channel_update(channel | {"permission_overwrites": overwrites})


async def test_an_expired_lockdown_restores_exactly_the_previous_overwrites(working: Harness) -> None:
    fake, db = working.fake, working.bot.db
    before = [
        {"id": str(working.guild_id), "type": 0, "allow": str(ATTACH), "deny": "0"},
        {"id": str(working.regular_role_id), "type": 0, "allow": str(SEND), "deny": "0"},
        {"id": str(working.bob.user_id), "type": 1, "allow": "0", "deny": str(VIEW)},
    ]
    _with_overwrites(working, before)
    await working.say(working.mod, "$lockdown 1s raid")
    locked = fake.channels[working.channel_id]["permission_overwrites"]
    everyone = next(o for o in locked if o["id"] == str(working.guild_id))
    assert int(everyone["deny"]) & LOCKED_PERMISSIONS == LOCKED_PERMISSIONS
    assert int(everyone["allow"]) == ATTACH  # what @everyone had, minus what the lock denies
    assert [o for o in locked if o["id"] != str(working.guild_id)] == before[1:]
    stored = await db.channel_settings.get(working.guild_id, working.channel_id)
    assert stored is not None
    assert stored.is_locked

    async def ended() -> bool:
        return await db.channel_settings.get(working.guild_id, working.channel_id) is None

    await until(ended, "the lockdown's end job")
    patches = fake.calls("PATCH", rf"/channels/{working.channel_id}")
    assert len(patches) == 2
    assert patches[-1].body["permission_overwrites"] == before
    trail = await db.audit.for_entity("channel", working.channel_id)
    assert [row.action.value for row in reversed(trail)] == ["channel_lock", "channel_unlock"]
    assert trail[0].actor_id is None  # the job ended it, nobody acting


async def test_unlock_and_a_server_wide_lockdown_give_back_every_channel(harness: Harness) -> None:
    fake, db = harness.fake, harness.bot.db
    before = [{"id": str(harness.regular_role_id), "type": 0, "allow": str(SEND), "deny": "0"}]
    _with_overwrites(harness, before)
    await harness.say(harness.mod, "$serverlock")
    assert sorted(s.channel_id for s in await db.channel_settings.locked(harness.guild_id)) == sorted(
        [harness.channel_id, harness.board_channel_id]
    )
    await harness.say(harness.mod, "$serverunlock")
    assert harness.last_reply() == "🔓 Unlocked 2 channels."
    assert fake.channels[harness.channel_id]["permission_overwrites"] == before
    assert fake.channels[harness.board_channel_id]["permission_overwrites"] == []
    assert await db.channel_settings.locked(harness.guild_id) == []
    await harness.say(harness.mod, "$unlock")
    assert harness.last_reply() == f"<#{harness.channel_id}> was not locked."


async def test_slowmode_is_set_on_discord_and_recorded(harness: Harness) -> None:
    await harness.say(harness.mod, "$slowmode 30")
    assert harness.fake.channels[harness.channel_id]["rate_limit_per_user"] == 30
    stored = await harness.bot.db.channel_settings.get(harness.guild_id, harness.channel_id)
    assert stored is not None
    assert stored.slowmode_seconds == 30
    await harness.say(harness.alice, "$slowmode 0")
    assert harness.fake.channels[harness.channel_id]["rate_limit_per_user"] == 30  # members may not


async def test_an_autoresponder_answers_through_the_message_listener(harness: Harness) -> None:
    db = harness.bot.db
    await db.guild_config.set_feature(harness.guild_id, "automod", enabled=True)
    await harness.say(harness.mod, "$autoresponder word hello Hi {user}, welcome to {guild}!")
    await harness.say(harness.alice, "well HELLO there")
    assert harness.last_reply() == f"Hi {harness.alice.mention}, welcome to Test Guild!"
    await harness.say(harness.alice, "othello")
    assert harness.last_reply() == f"Hi {harness.alice.mention}, welcome to Test Guild!"  # no second answer
    await db.guild_config.set_feature(harness.guild_id, "automod", enabled=False)
    before = len(harness.replies())
    await harness.say(harness.alice, "hello")
    assert len(harness.replies()) == before


async def test_a_filtered_word_is_deleted_and_warns_through_a_case(harness: Harness) -> None:
    db, fake = harness.bot.db, harness.fake
    await db.guild_config.set_feature(harness.guild_id, "automod", enabled=True)
    await harness.say(harness.mod, "$filterwords warn scam")
    message = await harness.say(harness.alice, "free SCAAAM here")
    assert fake.calls("DELETE", rf"/channels/{harness.channel_id}/messages/{message['id']}")
    history = await db.cases.history(harness.guild_id, harness.alice.user_id)
    assert [(case.type.value, case.reason) for case in history] == [
        ("WARN", f"automod: words filter #{_first(await db.filters.list_for(harness.guild_id))}")
    ]


async def test_an_invite_to_an_allowed_server_passes_and_others_are_deleted(harness: Harness) -> None:
    db, fake = harness.bot.db, harness.fake
    await db.guild_config.set_feature(harness.guild_id, "automod", enabled=True)
    friend = fake.snowflake()
    fake.invite_payload(friend, fake.snowflake(), "friends", fake.bot_user)
    fake.invite_payload(harness.guild_id, harness.channel_id, "ours", fake.bot_user)
    fake.invite_payload(fake.snowflake(), fake.snowflake(), "elsewhere", fake.bot_user)
    await harness.say(harness.mod, f"$filterinvites delete {friend}")
    kept = [await harness.say(harness.alice, f"join discord.gg/{code}") for code in ("friends", "ours")]
    removed = await harness.say(harness.alice, "join discord.gg/elsewhere")
    deleted = {
        call.path.rsplit("/", 1)[-1] for call in fake.calls("DELETE", rf"/channels/{harness.channel_id}/messages/\d+")
    }
    assert deleted == {removed["id"]}
    assert all(message["id"] not in deleted for message in kept)


def _first(rows: list[Any]) -> int:
    return int(rows[0].filter_id)
