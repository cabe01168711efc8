"""Moderation cog through discord.py's dispatch: the Discord call at the fake, the case in PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from harness import Harness


async def cases(world: Harness) -> list[tuple[int, str, int]]:
    found = await world.bot.db.cases.recent(world.guild_id)
    return sorted((c.number, c.type.value, c.user_id) for c in found)


async def test_warn_records_a_case_and_answers_with_it(harness: Harness) -> None:
    await harness.say(harness.mod, f"$warn {harness.alice.mention} spamming links")
    assert await cases(harness) == [(1, "WARN", harness.alice.user_id)]
    case = await harness.bot.db.cases.get(harness.guild_id, 1)
    assert case is not None
    assert case.reason == "spamming links"
    assert case.moderator_id == harness.mod.user_id
    assert case.created_by == harness.mod.user_id
    assert "Case #1: WARN" in harness.last_reply()


async def test_kick_removes_the_member_at_discord_and_records_it(harness: Harness) -> None:
    await harness.slash(harness.mod, "kick", member=harness.bob, reason="raid")
    assert harness.fake.calls("DELETE", rf"/guilds/{harness.guild_id}/members/{harness.bob.user_id}")
    assert await cases(harness) == [(1, "KICK", harness.bob.user_id)]
    assert "Case #1: KICK" in harness.last_reply()


async def test_ban_and_unban_a_user_who_is_not_a_member(harness: Harness) -> None:
    await harness.say(harness.mod, f"$ban {harness.stranger.user_id} ban evasion")
    assert (harness.guild_id, harness.stranger.user_id) in harness.fake.bans
    await harness.say(harness.mod, f"$unban {harness.stranger.user_id} appeal accepted")
    assert (harness.guild_id, harness.stranger.user_id) not in harness.fake.bans
    assert await cases(harness) == [(1, "BAN", harness.stranger.user_id), (2, "UNBAN", harness.stranger.user_id)]


async def test_tempban_stores_its_expiry_from_a_human_duration(harness: Harness) -> None:
    before = datetime.now(UTC)
    await harness.say(harness.mod, f"$tempban {harness.alice.mention} 1h30m cool down")
    case = await harness.bot.db.cases.get(harness.guild_id, 1)
    assert case is not None
    assert case.type.value == "TEMPBAN"
    assert case.expires_at is not None
    assert before + timedelta(minutes=90) <= case.expires_at <= datetime.now(UTC) + timedelta(minutes=90)
    assert (harness.guild_id, harness.alice.user_id) in harness.fake.bans


async def test_timeout_edits_the_member_and_records_the_case(harness: Harness) -> None:
    await harness.slash(harness.mod, "timeout", member=harness.alice, duration="10m", reason="heated")
    (edit,) = harness.fake.calls("PATCH", rf"/guilds/{harness.guild_id}/members/{harness.alice.user_id}")
    until = datetime.fromisoformat(edit.body["communication_disabled_until"])
    assert timedelta(minutes=9) < until - datetime.now(UTC) <= timedelta(minutes=10)
    assert await cases(harness) == [(1, "TIMEOUT", harness.alice.user_id)]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("$tempban {alice} soon spam", "**duration**: 'soon' is not a duration"),
        ("$timeout {alice} 0m spam", "**duration**: must be longer than zero"),
        ("$timeout {alice} 30d spam", "at most 28 days"),
        ("$warn 123456789012345678 spam", "I can't find `123456789012345678`"),
        ("$warn nobody spam", "I can't find `nobody`"),
        ("$warn", "`member` is missing."),
        ("$warn {alice} " + "x" * 600, "**reason**: "),
    ],
)
async def test_bad_input_gets_a_clear_reply_and_writes_nothing(harness: Harness, command: str, reply: str) -> None:
    await harness.say(harness.mod, command.format(alice=harness.alice.mention))
    assert reply in harness.last_reply()
    assert await cases(harness) == []
    assert harness.fake.bans == set()
    assert harness.fake.calls("PATCH", r"/guilds/\d+/members/\d+") == []


async def test_a_member_without_the_permission_is_refused(harness: Harness) -> None:
    await harness.say(harness.alice, f"$ban {harness.bob.mention} no reason")
    assert harness.last_reply() == "You need the ban members permission for this."
    assert await cases(harness) == []
    assert harness.fake.bans == set()


async def test_a_ban_discord_refuses_voids_its_case(harness: Harness) -> None:
    harness.fake.fail("PUT", r"/guilds/\d+/bans/\d+")
    await harness.say(harness.mod, f"$ban {harness.alice.mention} spam")
    assert "Discord refused that" in harness.last_reply()
    case = await harness.bot.db.cases.get(harness.guild_id, 1)
    assert case is not None
    assert case.status.value == "voided"
    assert (await harness.bot.db.cases.counts(harness.guild_id, harness.alice.user_id))[case.type] == 0


async def test_case_view_edit_reason_and_a_missing_number(harness: Harness) -> None:
    await harness.say(harness.mod, f"$warn {harness.alice.mention} first")
    await harness.slash(harness.mod, "reason", number=1, reason="corrected")
    assert "corrected" in harness.last_reply()
    changes = await harness.bot.db.cases.changes(harness.guild_id, 1)
    assert [(c.before, c.after, c.actor_id) for c in changes] == [
        ({"reason": "first"}, {"reason": "corrected"}, harness.mod.user_id)
    ]
    await harness.say(harness.mod, "$case 1")
    assert "corrected" in harness.last_reply()
    await harness.say(harness.mod, "$case 7")
    assert harness.last_reply() == "There is no case #7 in this server."
    await harness.say(harness.mod, "$reason 7 nope")
    assert "case #7 does not exist" in harness.last_reply()
    await harness.say(harness.mod, "$case seven")
    assert 'Converting to "int" failed' in harness.last_reply()


async def test_case_numbers_autocomplete_from_the_newest_cases(harness: Harness) -> None:
    for reason in ("one", "two", "three"):
        await harness.say(harness.mod, f"$warn {harness.alice.mention} {reason}")
    choices = await harness.autocomplete(harness.mod, "case", "number", number="")
    assert [c["value"] for c in choices] == [3, 2, 1]
    assert choices[0]["name"].startswith("#3 WARN three")


async def test_long_case_lists_are_paginated_with_buttons(harness: Harness) -> None:
    for number in range(12):
        await harness.bot.db.cases.create(
            harness.guild_id, harness.alice.user_id, harness.mod.user_id, "warn", reason=f"r{number}"
        )
    await harness.say(harness.mod, "$cases warn")
    page = harness.fake.sent[-1]
    assert page["embeds"][0]["footer"]["text"] == "Page 1/2"
    buttons = page["components"][0]["components"]
    assert [b["label"] for b in buttons] == ["◀", "▶"]
    assert buttons[0]["disabled"] is True


async def test_notes_and_history(harness: Harness) -> None:
    await harness.say(harness.mod, f"$note {harness.bob.mention} watch this one")
    assert harness.last_reply() == f"Note #1 saved for {harness.bob.mention}."
    await harness.say(harness.mod, f"$notes {harness.bob.mention}")
    assert "**#1** watch this one" in harness.last_reply()
    await harness.say(harness.mod, f"$warn {harness.bob.mention} once")
    await harness.say(harness.mod, f"$warn {harness.bob.mention} twice")
    await harness.slash(harness.mod, "history", user=harness.bob)
    history = harness.last_reply()
    assert "Counts: warn 2" in history
    assert history.index("twice") < history.index("once")
    notes = await harness.bot.db.notes.list_for_user(harness.guild_id, harness.bob.user_id)
    assert [n.content for n in notes] == ["watch this one"]


async def test_the_page_buttons_turn_pages_for_the_invoker_only(harness: Harness) -> None:
    for number in range(12):
        await harness.bot.db.cases.create(
            harness.guild_id, harness.alice.user_id, harness.mod.user_id, "warn", reason=f"r{number}"
        )
    await harness.say(harness.mod, "$cases")
    page = harness.fake.sent[-1]
    await harness.click(harness.alice, page, "▶")
    assert harness.last_interaction_response()["data"]["content"] == "Only the person who asked can turn these pages."
    await harness.click(harness.mod, page, "▶")
    response = harness.last_interaction_response()
    assert response["type"] == 7  # update the message in place
    assert response["data"]["embeds"][0]["footer"]["text"] == "Page 2/2"
    assert "r1" in response["data"]["embeds"][0]["description"]
