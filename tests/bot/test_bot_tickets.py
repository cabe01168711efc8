"""Tickets through the bot, offline: panel → modal → thread → claim → close request → job close → reopen → rate.

Everything enters as gateway payloads (slash command, button presses, the
modal submit, messages in the ticket thread) and leaves as REST calls to the
fake; the job worker runs the scheduled close. The rows and the event trail
are asserted at the end.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_discord import FakeDiscord
from harness import Harness, running_bot, until

from guildbase import Database, Settings
from guildbase.models.tickets import TicketEventKind, TicketRead, TicketStatus

K = TicketEventKind


@pytest.fixture
async def working(bot_db: Database, settings: Settings, fake_discord: FakeDiscord) -> AsyncIterator[Harness]:
    """A bot that runs the job worker, in a guild with tickets on."""
    async with running_bot(bot_db, settings, fake_discord, bot_run_jobs=True) as world:
        await world.bot.db.guild_config.set_feature(world.guild_id, "tickets", enabled=True)
        yield world
    assert fake_discord.unknown == [], "the bot called routes the fake does not serve"


def latest_with(fake: FakeDiscord, label: str) -> dict[str, Any]:
    """The newest message the bot made that carries a button labelled ``label``."""
    for message in reversed(fake.messages.values()):
        if any(c.get("label") == label for row in message.get("components") or [] for c in row["components"]):
            return message
    pytest.fail(f"no message with a {label!r} button")


async def ticket_of(world: Harness, number: int = 1) -> TicketRead:
    found = await world.bot.db.tickets.get(world.guild_id, number)
    assert found is not None
    return found


async def open_through_the_panel(world: Harness) -> int:
    """The moderator makes a panel; alice answers its question and gets ticket #1 in a private thread."""
    fake, db = world.fake, world.bot.db
    await world.slash(world.mod, "ticketpanel", label="Support", staff_role=world.mod_role_id, question="What broke?")
    assert "Ticket panel" in world.last_reply()
    (panel,) = await db.tickets.panels(world.guild_id)
    assert (panel.channel_id, panel.staff_role_ids, panel.questions) == (
        world.channel_id,
        [world.mod_role_id],
        ["What broke?"],
    )
    await db.tickets.update_panel(
        world.guild_id, panel.panel_id, close_delay_seconds=1, transcript_channel_id=world.board_channel_id
    )

    # open: the button shows the panel's question, the answer opens ticket #1 in a private thread
    await world.click(world.alice, latest_with(fake, "Open ticket"), "Open ticket")
    assert world.last_interaction_response()["type"] == 9  # the modal
    await world.submit_modal(world.alice, ["The app crashes on start"])
    ticket = await ticket_of(world)
    thread = ticket.channel_id
    assert thread is not None
    assert (ticket.opener_id, ticket.answers) == (world.alice.user_id, {"What broke?": "The app crashes on start"})
    assert fake.channels[thread]["parent_id"] == str(world.channel_id)
    assert fake.channels[thread]["type"] == 12  # a private thread
    assert fake.thread_members[thread] == {world.alice.user_id}
    assert f"Ticket #1 is open: <#{thread}>" in world.replies()[-1]
    assert "The app crashes on start" in fake.texts(thread)[0]

    return thread


async def test_the_whole_ticket_flow_through_the_cog(working: Harness) -> None:
    world, fake, db = working, working.fake, working.bot.db
    thread = await open_through_the_panel(world)

    # claim: a member without the staff role is refused (and the refusal logged), the moderator claims it
    await world.click(world.bob, latest_with(fake, "Claim"), "Claim", channel_id=thread)
    assert world.last_reply() == "You may not claim this ticket."
    await world.click(world.mod, latest_with(fake, "Claim"), "Claim", channel_id=thread)
    assert (await ticket_of(world)).claimed_by == world.mod.user_id
    await world.say(world.mod, "Looking into it", channel_id=thread)

    # close request by staff: pending, and the job closes it when the opener does not answer
    await world.click(world.mod, latest_with(fake, "Claim"), "Close", channel_id=thread)
    assert "can this ticket be closed?" in world.last_reply()
    assert (await ticket_of(world)).status is TicketStatus.PENDING

    async def job_closed() -> TicketRead | None:
        current = await ticket_of(world)
        archived = fake.channels[thread]["thread_metadata"]["archived"]
        return current if current.status is TicketStatus.CLOSED and archived else None

    closed = await until(job_closed, "the scheduled close job")
    assert (closed.close_reason, closed.closed_by) == ("no reply to the close request", None)
    transcripts = fake.calls("POST", rf"/channels/{world.board_channel_id}/messages")
    assert len(transcripts) == 1
    assert transcripts[0].body == {"multipart": True}  # the HTML transcript, as a file
    assert "How did we do?" in fake.texts(thread)[-1]

    # reopen by the opener, who then answers and closes it themselves
    await world.click(world.alice, latest_with(fake, "Reopen"), "Reopen", channel_id=thread)
    assert (await ticket_of(world)).status is TicketStatus.OPEN
    assert fake.channels[thread]["thread_metadata"]["archived"] is False
    await world.say(world.alice, "Still broken after the update", channel_id=thread)
    await world.click(world.alice, latest_with(fake, "Close"), "Close", channel_id=thread)
    await until(lambda: _archived(fake, thread), "the thread archived again")
    assert (await ticket_of(world)).closed_by == world.alice.user_id

    # rate: five stars, once
    await world.click(world.alice, latest_with(fake, "★★★★★"), "★★★★★", channel_id=thread)
    assert "Thank you for rating ticket #1" in world.last_reply()
    await world.click(world.alice, latest_with(fake, "★★★★★"), "★", channel_id=thread)
    assert world.last_reply() == "You may not rate this ticket."

    final = await ticket_of(world)
    assert (final.status, final.rating, final.message_count, final.staff_message_count) == (
        TicketStatus.CLOSED,
        5,
        2,
        1,
    )
    assert final.first_response_at is not None
    events = await db.tickets.events(world.guild_id, 1)
    assert [e.kind for e in events] == [
        K.OPENED,
        K.ACCESS_DENIED,
        K.CLAIMED,
        K.FIRST_RESPONSE,
        K.CLOSE_REQUESTED,
        K.CLOSED,
        K.REOPENED,
        K.CLOSED,
        K.RATED,
        K.ACCESS_DENIED,
    ]
    assert [e.actor_id for e in events if e.kind is K.ACCESS_DENIED] == [world.bob.user_id, world.alice.user_id]
    transcript = await db.tickets.transcript(world.guild_id, 1)
    assert [(m.author_id, m.content) for m in transcript.messages] == [
        (world.mod.user_id, "Looking into it"),
        (world.alice.user_id, "Still broken after the update"),
    ]
    assert len(fake.calls("POST", rf"/channels/{world.board_channel_id}/messages")) == 2


async def _archived(fake: FakeDiscord, thread: int) -> bool:
    return bool(fake.channels[thread]["thread_metadata"]["archived"])
