"""Autoresponders (R15.2): triggers, templates, cooldowns, batched hit counts, audit, and cache across processes."""

import asyncio
from datetime import timedelta

import pytest

from guildbase import Database, Settings
from guildbase.db.context import acting_as
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.testing import ids

GUILD, CHANNEL, OTHER_CHANNEL, USER, OTHER_USER, ROLE, MOD = ids.take(7)


@pytest.fixture
async def guild(db: Database) -> int:
    await db.guilds.join(GUILD, name="Guild")
    return GUILD


async def test_a_trigger_answers_with_its_template_filled_in(db: Database, guild: int) -> None:
    created = await db.autoresponders.create(
        guild, "hello", ["Hi {user}, welcome to {guild} ({channel})"], match_type="word"
    )
    answer = await db.autoresponders.respond(guild, CHANNEL, USER, "well HELLO there", guild_name="Test Guild")
    assert answer is not None
    assert answer.autoresponder_id == created.autoresponder_id
    assert answer.text == f"Hi <@{USER}>, welcome to Test Guild (<#{CHANNEL}>)"
    assert await db.autoresponders.respond(guild, CHANNEL, USER, "othello") is None


async def test_one_response_is_picked_at_random_from_the_list(db: Database, guild: int) -> None:
    await db.autoresponders.create(guild, "roll", ["one", "two", "three"], match_type="exact")
    seen = {(await db.autoresponders.respond(guild, CHANNEL, USER, "roll")).text for _ in range(60)}  # type: ignore[union-attr]
    assert seen == {"one", "two", "three"}


async def test_scope_and_disabled_triggers(db: Database, guild: int) -> None:
    scoped = await db.autoresponders.create(
        guild, "ping", ["pong"], channel_ids=[CHANNEL], role_ids=[ROLE], exempt_role_ids=[MOD]
    )
    assert await db.autoresponders.respond(guild, CHANNEL, USER, "ping", [ROLE]) is not None
    assert await db.autoresponders.respond(guild, OTHER_CHANNEL, USER, "ping", [ROLE]) is None
    assert await db.autoresponders.respond(guild, CHANNEL, USER, "ping") is None
    assert await db.autoresponders.respond(guild, CHANNEL, USER, "ping", [ROLE, MOD]) is None
    await db.autoresponders.update(guild, scoped.autoresponder_id, is_enabled=False)
    assert await db.autoresponders.respond(guild, CHANNEL, USER, "ping", [ROLE]) is None


async def test_a_cooldown_holds_back_the_user_or_the_channel(db: Database, guild: int) -> None:
    await db.autoresponders.create(guild, "faq", ["read the faq"], cooldown=timedelta(minutes=5))
    await db.autoresponders.create(
        guild, "rules", ["read the rules"], cooldown=timedelta(minutes=5), cooldown_scope="channel"
    )
    assert await db.autoresponders.respond(guild, CHANNEL, USER, "faq") is not None
    assert await db.autoresponders.respond(guild, CHANNEL, USER, "faq") is None
    assert await db.autoresponders.respond(guild, CHANNEL, OTHER_USER, "faq") is not None  # per user
    assert await db.autoresponders.respond(guild, CHANNEL, USER, "rules") is not None
    assert await db.autoresponders.respond(guild, CHANNEL, OTHER_USER, "rules") is None  # per channel
    assert await db.autoresponders.respond(guild, OTHER_CHANNEL, OTHER_USER, "rules") is not None


async def test_hits_are_buffered_then_written_in_one_statement(db: Database, guild: int) -> None:
    first = await db.autoresponders.create(guild, "a", ["x"], match_type="exact")
    second = await db.autoresponders.create(guild, "b", ["y"], match_type="exact")
    for content in ["a", "a", "b", "a"]:
        await db.autoresponders.respond(guild, CHANNEL, USER, content)
    assert await db.autoresponders.flush_hits() == 4
    stored = {r.autoresponder_id: r.hits for r in await db.autoresponders.list_for(guild)}
    assert stored == {first.autoresponder_id: 3, second.autoresponder_id: 1}
    assert await db.autoresponders.flush_hits() == 0


async def test_bad_patterns_duplicates_and_unknown_triggers_are_refused(db: Database, guild: int) -> None:
    with pytest.raises(ValidationError) as caught:
        await db.autoresponders.create(guild, r"(a)\1", ["x"], match_type="regex")
    assert caught.value.fields == ["pattern"]
    await db.autoresponders.create(guild, "dup", ["x"])
    with pytest.raises(ConflictError):
        await db.autoresponders.create(guild, "dup", ["y"])
    with pytest.raises(NotFoundError):
        await db.autoresponders.update(guild, 10**12, is_enabled=False)
    assert await db.autoresponders.delete(guild, 10**12) is False


async def test_every_change_is_audited_with_its_actor(db: Database, guild: int) -> None:
    with acting_as(MOD):
        created = await db.autoresponders.create(guild, "hey", ["hi"])
        await db.autoresponders.set_responses(guild, created.autoresponder_id, ["hello"])
        assert await db.autoresponders.delete(guild, created.autoresponder_id)
    trail = list(reversed(await db.audit.for_entity("autoresponder", created.autoresponder_id)))
    assert [(row.action.value, row.actor_id) for row in trail] == [
        ("autoresponder_create", MOD),
        ("autoresponder_update", MOD),
        ("autoresponder_delete", MOD),
    ]
    assert trail[1].before == {"responses": ["hi"]}
    assert trail[1].after == {"responses": ["hello"]}


async def test_a_change_in_one_process_reaches_another_within_a_second(pooled_db: Database, settings: Settings) -> None:
    """Two facades with their own in-process caches: the second recompiles as soon as the first writes."""
    guild_id = ids()
    await pooled_db.guilds.join(guild_id)
    other = await Database(settings).connect()
    try:
        assert await other.autoresponders.respond(guild_id, CHANNEL, USER, "sup") is None  # empty matcher cached
        before = await other.autoresponders.matcher(guild_id)
        await pooled_db.autoresponders.create(guild_id, "sup", ["hey"])
        async with asyncio.timeout(1.0):
            while await other.autoresponders.matcher(guild_id) is before:  # noqa: ASYNC110 - another facade's cache
                await asyncio.sleep(0.01)
        answer = await other.autoresponders.respond(guild_id, CHANNEL, USER, "sup")
        assert answer is not None
        assert answer.text == "hey"
    finally:
        await other.close()
