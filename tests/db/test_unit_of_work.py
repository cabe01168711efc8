"""After-commit work belongs to the unit of work: it runs after commit, never on rollback, whichever path wrote."""

import json
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from guildbase import Database, NotConnectedError, Settings
from guildbase.controllers.guild_config import config_key, features_key
from guildbase.controllers.moderation import summary_key
from guildbase.db.types import utcnow
from guildbase.db.unit_of_work import after_commit, invalidate_after_commit
from guildbase.db.validation import validate
from guildbase.models.core import Feature, GuildConfig, GuildFeature
from guildbase.models.moderation import CaseCreate, CaseType, Restriction
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
MOD = BLOCK + 201


class Boom(Exception):
    pass


async def test_after_commit_work_runs_once_committed_and_never_on_rollback(db: Database) -> None:
    ran: list[str] = []

    async def note(what: str) -> None:
        ran.append(what)

    with pytest.raises(Boom):
        async with db.session() as session:
            after_commit(session, lambda: note("rolled back"))
            raise Boom
    async with db.session() as session:
        after_commit(session, lambda: note("first"))
        after_commit(session, lambda: note("second"))
        assert ran == []  # nothing before the commit
    assert ran == ["first", "second"]

    with pytest.raises(Boom):
        async with db._driver() as unit:
            after_commit(unit, lambda: note("driver rolled back"))
            raise Boom
    async with db._driver(transaction=False) as unit:
        after_commit(unit, lambda: note("driver"))
        assert ran == ["first", "second"]
    assert ran == ["first", "second", "driver"]


async def _invalidations(pubsub: aioredis.client.PubSub) -> list[list[str]]:
    """Every invalidation message published so far (waits for the batch in flight to arrive)."""
    messages = []
    while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
        messages.append(json.loads(message["data"]))
    return messages


async def test_a_key_made_stale_twice_in_one_unit_is_invalidated_once(db: Database) -> None:
    await db.guilds.join(GUILD)
    async with db.redis.pubsub() as pubsub:
        await pubsub.subscribe(db.cache.channel)
        await _invalidations(pubsub)
        await db.guild_config.add_prefix(GUILD, "!")  # an ORM flush on the config row, and the controller's own key
        assert await _invalidations(pubsub) == [[config_key(GUILD)]]

        with pytest.raises(Boom):
            async with db.session() as session:
                invalidate_after_commit(session, config_key(GUILD))
                raise Boom
        assert await _invalidations(pubsub) == []


async def test_model_crud_on_a_guildbase_session_invalidates_what_it_makes_stale(db: Database) -> None:
    await db.guilds.join(GUILD)
    assert (await db.guild_config.get(GUILD)).prefix == "$"
    assert (await db.guild_config.features(GUILD))[Feature.LEVELS] is True
    async with db.session() as session:
        await GuildConfig.update(session, GUILD, {"prefix": "?"})
        await GuildFeature.upsert(session, {"guild_id": GUILD, "feature": Feature.LEVELS, "is_enabled": False})
    assert (await db.guild_config.get(GUILD)).prefix == "?"
    assert (await db.guild_config.features(GUILD))[Feature.LEVELS] is False


async def test_composed_in_methods_invalidate_their_own_keys_when_the_callers_unit_commits(
    db: Database, redis_client: aioredis.Redis
) -> None:
    await db.guilds.join(GUILD)
    jail = await db.cases.create(GUILD, USER, MOD, CaseType.JAIL, expires_at=utcnow() + timedelta(hours=1))
    assert (await db.cases.restrictions(GUILD, USER))[Restriction.JAIL] is True  # the summary is cached now
    assert await redis_client.exists(summary_key(GUILD, USER)) == 1
    closing = validate(CaseCreate, {"guild_id": GUILD, "type": CaseType.UNJAIL, "user_id": USER, "moderator_id": MOD})
    with pytest.raises(Boom):
        async with db.session() as session:
            await db.cases.mark_expired_in(session, GUILD, jail.number)
            raise Boom
    assert await redis_client.exists(summary_key(GUILD, USER)) == 1  # rolled back: nothing was stale
    async with db.session() as session:
        await db.cases.mark_expired_in(session, GUILD, jail.number)
        await db.cases.create_in(session, closing)
    assert (await db.cases.restrictions(GUILD, USER))[Restriction.JAIL] is False
    assert (await db.cases.counts(GUILD, USER))[CaseType.UNJAIL] == 1


async def test_deleting_a_guild_drops_its_cached_config_and_features(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guild_config.get(GUILD)
    await db.guild_config.features(GUILD)
    assert await db.redis.exists(config_key(GUILD), features_key(GUILD)) == 2
    assert await db.guilds.delete(GUILD) is True
    assert await db.redis.exists(config_key(GUILD), features_key(GUILD)) == 0


async def test_an_unconnected_database_raises_not_connected(settings: Settings) -> None:
    database = Database(settings)
    for use in (lambda: database.cache, lambda: database.redis, lambda: database.ratelimits, lambda: database.engine):
        with pytest.raises(NotConnectedError, match=r"await db.connect\(\)"):
            use()
    with pytest.raises(NotConnectedError):
        async with database.session():
            pass
