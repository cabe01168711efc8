"""Snippets through discord.py's dispatch: saved, shown by name or alias (``$faq``), suggested on a miss, locked."""

from harness import Harness


async def test_a_snippet_is_saved_shown_by_alias_and_counted(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, "$snippetadd Faq Read the pinned messages first.")
    assert harness.last_reply() == "Snippet `Faq` saved."
    await harness.say(harness.bob, "$snippetalias faq pins")
    assert harness.last_reply() == "`Faq` also answers to: `pins`."
    await harness.say(harness.bob, "$snippet PINS")
    assert harness.last_reply() == "Read the pinned messages first."
    await harness.say(harness.bob, "$faq")  # a prefix and the name, no command word
    assert harness.last_reply() == "Read the pinned messages first."
    await harness.slash(harness.bob, "snippet", name="faq")
    found = await db.snippets.get(harness.guild_id, "faq")
    assert found is not None
    assert (found.uses, found.author_id, found.aliases) == (3, harness.alice.user_id, ["pins"])


async def test_a_miss_suggests_close_names_and_an_unknown_word_stays_quiet(harness: Harness) -> None:
    await harness.say(harness.alice, "$snippetadd guides Be kind.")  # not "rules": the permissions cog has that
    await harness.say(harness.bob, "$snippet guide")
    assert harness.last_reply() == "No snippet `guide` here. Did you mean: `guides`?"
    before = len(harness.replies())
    await harness.say(harness.bob, "$nosuchthing at all")
    assert len(harness.replies()) == before


async def test_a_bad_or_taken_name_is_refused_and_nothing_is_written(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, "$snippetadd <@123> hi")
    assert "**name**" in harness.last_reply()
    assert "must not contain" in harness.last_reply()
    await harness.say(harness.alice, "$snippetadd ban nope")  # a built-in command
    assert "built-in command" in harness.last_reply()
    await harness.say(harness.alice, "$snippetadd faq one")
    await harness.say(harness.bob, "$snippetadd FAQ two")
    assert "already a snippet" in harness.last_reply()
    assert await db.snippets.count(harness.guild_id) == 1


async def test_a_locked_snippet_is_changed_only_by_its_author_or_staff(harness: Harness) -> None:
    db = harness.bot.db
    await harness.say(harness.alice, "$snippetadd faq v1")
    await harness.say(harness.bob, "$snippetlock faq")
    assert "Manage Messages" in harness.last_reply() or "permission" in harness.last_reply()
    await harness.say(harness.mod, "$snippetlock faq")
    assert harness.last_reply() == "Snippet `faq` locked."
    await harness.say(harness.bob, "$snippetedit faq vandalised")
    assert "locked" in harness.last_reply()
    await harness.say(harness.alice, "$snippetedit faq v2")
    assert harness.last_reply() == "Snippet `faq` updated."
    await harness.say(harness.bob, "$snippetdel faq")
    assert "locked" in harness.last_reply()
    await harness.say(harness.mod, "$snippetdel faq")
    assert harness.last_reply() == "Snippet `faq` deleted."
    assert await db.snippets.get(harness.guild_id, "faq") is None


async def test_snippet_text_never_pings_and_the_list_shows_aliases(harness: Harness) -> None:
    await harness.say(harness.alice, "$snippetadd ping-all @everyone look")
    await harness.say(harness.bob, "$snippet ping-all")
    sent = harness.fake.sent[-1]
    assert sent["content"] == "@everyone look"
    call = harness.fake.calls("POST", rf"/channels/{harness.channel_id}/messages")[-1]
    assert call.body["allowed_mentions"]["parse"] == []
    await harness.say(harness.alice, "$snippetalias ping-all pa")
    await harness.say(harness.bob, "$snippets")
    assert "`ping-all` (pa)" in harness.last_reply()
