"""The Discord side of timed work: the bot's own job worker unbans, unjails and delivers, seen at the fake."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from fake_discord import FakeDiscord
from harness import Harness, running_bot, until

from guildbase import Database, Settings


@pytest.fixture
async def working(bot_db: Database, settings: Settings, fake_discord: FakeDiscord) -> AsyncIterator[Harness]:
    """A bot that runs the job worker."""
    async with running_bot(bot_db, settings, fake_discord, bot_run_jobs=True) as world:
        yield world


async def test_an_expired_tempban_is_lifted_at_discord_and_closed_once(working: Harness) -> None:
    db, fake = working.bot.db, working.fake
    await working.say(working.mod, f"$tempban {working.alice.mention} 1s cool down")
    assert (working.guild_id, working.alice.user_id) in fake.bans

    async def closed() -> list[tuple[str, str]] | None:
        history = await db.cases.history(working.guild_id, working.alice.user_id)
        return [(c.type.value, c.status.value) for c in history] if len(history) == 2 else None

    assert await until(closed, "the closing case") == [("UNTEMPBAN", "active"), ("TEMPBAN", "expired")]
    assert (working.guild_id, working.alice.user_id) not in fake.bans
    assert len(fake.calls("DELETE", rf"/guilds/{working.guild_id}/bans/{working.alice.user_id}")) == 1


async def test_a_due_reminder_is_sent_to_its_channel(working: Harness) -> None:
    db, fake = working.bot.db, working.fake
    reminder = await db.reminders.create(
        working.alice.user_id,
        content="drink water",
        remind_at=datetime.now(UTC) + timedelta(milliseconds=300),
        guild_id=working.guild_id,
        channel_id=working.channel_id,
    )

    async def sent() -> bool:
        stored = await db.reminders.get(reminder.reminder_id)
        return stored is not None and stored.status.value == "sent"

    await until(sent, "the reminder to be marked sent")
    expected = f"<@{working.alice.user_id}> ⏰ reminder #{reminder.reminder_id}: drink water"
    assert fake.texts(working.channel_id).count(expected) == 1


async def test_a_reminder_discord_refuses_fails_its_job_with_the_reason(working: Harness) -> None:
    db, fake = working.bot.db, working.fake
    fake.fail("POST", rf"/channels/{working.channel_id}/messages", status=403, code=50001, message="Missing Access")
    reminder = await db.reminders.create(
        working.bob.user_id,
        content="never arrives",
        remind_at=datetime.now(UTC) + timedelta(milliseconds=300),
        guild_id=working.guild_id,
        channel_id=working.channel_id,
        max_attempts=1,
    )

    async def failed_job() -> list[object]:
        jobs = await db.jobs.failed(kind="reminder_delivery")
        return [j for j in jobs if j.payload.get("reminder_id") == reminder.reminder_id]

    (job,) = await until(failed_job, "the delivery job to fail")
    assert "Missing Access" in (job.last_error or "")  # type: ignore[attr-defined]
    stored = await db.reminders.get(reminder.reminder_id)
    assert stored is not None
    assert stored.status.value == "failed"
    assert "Missing Access" in (stored.last_error or "")


async def test_an_expired_jail_gives_the_saved_roles_back_at_discord(working: Harness) -> None:
    db, fake = working.bot.db, working.fake
    await db.guild_config.update(working.guild_id, jail_role_id=working.jail_role_id)
    await working.say(working.mod, f"$jail {working.alice.mention} 1s think it over")
    member = fake.members[(working.guild_id, working.alice.user_id)]
    assert member["roles"] == [str(working.jail_role_id)]

    async def closed() -> list[tuple[str, str]] | None:
        history = await db.cases.history(working.guild_id, working.alice.user_id)
        return [(c.type.value, c.status.value) for c in history] if len(history) == 2 else None

    assert await until(closed, "the closing case") == [("UNJAIL", "active"), ("JAIL", "expired")]
    assert member["roles"] == [str(working.regular_role_id)]
    assert not await db.cases.is_jailed(working.guild_id, working.alice.user_id)
