"""Polls through discord.py's dispatch: buttons and reactions vote once per member, POLLBAN holds, ends show counts."""

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_discord import FakeDiscord
from harness import Harness, running_bot, until

from guildbase import Database, PollStatus, Settings


def _poll_message(harness: Harness) -> dict[str, Any]:
    return next(m for m in reversed(harness.fake.sent) if m["embeds"] and "Poll #" in m["embeds"][0]["title"])


async def test_a_button_poll_counts_one_vote_per_member_and_shows_live_counts(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, '$poll "Lunch?" "pizza | sushi | salad"')
    message = _poll_message(harness)
    assert [b["label"] for row in message["components"] for b in row["components"]] == ["pizza", "sushi", "salad"]
    poll = await db.polls.get(harness.guild_id, 1)
    assert poll is not None
    assert poll.message_id == int(message["id"])
    await harness.click(harness.bob, message, "sushi")
    await harness.click(harness.bob, message, "pizza")  # a changed vote, not a second one
    await harness.click(harness.alice, message, "pizza")
    assert await db.polls.tally(harness.guild_id, 1) == {1: 2, 2: 0, 3: 0}
    shown = harness.last_interaction_response()["data"]["embeds"][0]
    assert "**pizza** — 2" in shown["description"]
    assert shown["footer"]["text"].startswith("2 vote(s)")


async def test_a_reaction_poll_votes_with_the_option_emoji_and_a_removed_reaction_takes_it_back(
    harness: Harness,
) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, '$poll "Tabs?" "tabs | spaces" reaction')
    poll = await db.polls.get(harness.guild_id, 1)
    assert poll is not None
    assert poll.message_id is not None
    message = harness.fake.messages[poll.message_id]
    assert (
        len(harness.fake.calls("PUT", rf"/channels/{harness.channel_id}/messages/{poll.message_id}/reactions/.*")) == 2
    )
    await harness.react(harness.bob, message, "2️⃣")
    await harness.react(harness.alice, message, "1️⃣")
    await harness.react(harness.alice, message, "2️⃣")  # alice changes her vote
    await harness.react(harness.alice, message, "1️⃣", add=False)  # the old reaction goes: her vote stays
    await harness.react(harness.bob, message, "⭐")  # not an option
    assert await db.polls.tally(harness.guild_id, 1) == {1: 0, 2: 2}
    await harness.react(harness.bob, message, "2️⃣", add=False)
    assert await db.polls.tally(harness.guild_id, 1) == {1: 0, 2: 1}


async def test_a_poll_banned_member_can_neither_vote_nor_create(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, '$poll "Lunch?" "pizza | sushi"')
    message = _poll_message(harness)
    await db.cases.create(harness.guild_id, harness.bob.user_id, harness.mod.user_id, "POLLBAN", reason="spam")
    await harness.click(harness.bob, message, "pizza")
    assert "poll-banned" in harness.last_interaction_response()["data"]["content"]
    await harness.say(harness.bob, '$poll "Mine?" "a | b"')
    assert "poll-banned" in harness.last_reply()
    assert await db.polls.tally(harness.guild_id, 1) == {1: 0, 2: 0}
    assert await db.polls.get(harness.guild_id, 2) is None


async def test_closing_a_poll_shows_the_final_counts_and_removes_the_buttons(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, '$poll "Lunch?" "pizza | sushi"')
    message = _poll_message(harness)
    await harness.click(harness.bob, message, "sushi")
    seen_before = copy.deepcopy(message)  # what a client that has not refreshed still shows
    await harness.say(harness.alice, "$pollclose 1")
    assert "permission" in harness.last_reply()
    await harness.say(harness.mod, "$pollclose 1")
    assert harness.last_reply() == "Poll #1 closed."
    final = harness.fake.messages[int(message["id"])]
    assert final["components"] == []
    assert "closed" in final["embeds"][0]["footer"]["text"]
    await harness.click(harness.alice, seen_before, "pizza")
    assert "closed" in harness.last_interaction_response()["data"]["content"]
    closed = await db.polls.get(harness.guild_id, 1)
    assert closed is not None
    assert closed.status is PollStatus.CLOSED


@pytest.fixture
async def working(bot_db: Database, settings: Settings, fake_discord: FakeDiscord) -> AsyncIterator[Harness]:
    """A bot that runs the job worker."""
    async with running_bot(bot_db, settings, fake_discord, bot_run_jobs=True) as world:
        yield world


async def test_a_timed_poll_ends_by_its_job_and_its_message_shows_the_result(working: Harness) -> None:
    db = working.bot.db
    await working.say(working.alice, '$poll "Quick?" "yes | no" 1s')
    message = _poll_message(working)
    await working.click(working.bob, message, "yes")

    async def ended() -> bool:
        poll = await db.polls.get(working.guild_id, 1)
        return poll is not None and poll.status is PollStatus.CLOSED

    await until(ended, "the poll to be closed by its job")
    final = working.fake.messages[int(message["id"])]
    assert final["components"] == []
    assert "**yes** — 1" in final["embeds"][0]["description"]
