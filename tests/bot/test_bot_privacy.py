"""The privacy cog (R10.2) through discord.py's dispatch: a member's copy by DM, an owner's erase."""

from harness import Harness, logged_commands


async def test_mydata_sends_the_members_data_as_a_file_in_their_dms(harness: Harness) -> None:
    await harness.bot.db.notes.create(harness.guild_id, harness.alice.user_id, harness.mod.user_id, "watch")
    await harness.say(harness.alice, "$mydata")
    assert harness.last_reply() == "I sent you your data in a DM."
    dm_channel = harness.alice.user_id + 1  # the fake's DM channel ID for a user
    assert len(harness.fake.sent_to(dm_channel)) == 1
    (call,) = harness.fake.calls("POST", f"/channels/{dm_channel}/messages")
    assert call.body == {"multipart": True}  # the JSON file rides as an attachment
    (request,) = await harness.bot.db.privacy.requests(harness.alice.user_id)
    assert (request.kind.value, request.requested_by, request.counts["note"]) == (
        "export",
        harness.alice.user_id,
        {"export": 1},
    )


async def test_only_owners_erase_and_only_with_confirm(harness: Harness) -> None:
    db, alice = harness.bot.db, harness.alice.user_id
    await db.notes.create(harness.guild_id, alice, harness.mod.user_id, "watch")
    await harness.say(harness.bob, f"$privacyerase {alice} confirm")
    assert harness.last_reply() == "Only the bot's owners can do that."
    await harness.say(harness.mod, f"$privacyerase {alice}")
    assert "Repeat with `confirm`" in harness.last_reply()
    assert await db.privacy.requests(alice) == []
    await harness.say(harness.mod, f"$privacyerase {alice} confirm")
    assert harness.last_reply().startswith(f"User {alice} erased. Rows ")
    assert "delete: " in harness.last_reply()
    assert (await db.privacy.locate(alice)).remaining == {}
    (request,) = await db.privacy.requests(alice)
    assert request.requested_by == harness.mod.user_id
    erases = [row for row in await logged_commands(harness, harness.mod) if row.command == "privacyerase"]
    assert [row.params for row in erases] == [{}, {}]  # the log keeps no trace of whom
    assert (await db.privacy.locate(alice)).remaining == {}
    await harness.say(harness.mod, "$privacyerase 0 confirm")
    assert "**user_id**: must be a Discord snowflake" in harness.last_reply()
