"""The per-user case summary is cached, and only the affected user's entry is dropped."""

from datetime import timedelta

import redis.asyncio as aioredis

from guildbase import Database
from guildbase.controllers.moderation import summary_key
from guildbase.db.types import utcnow
from guildbase.models.moderation import CaseType, Restriction
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
ALICE = BLOCK + 101
BOB = BLOCK + 102
MOD = BLOCK + 201


async def test_a_new_case_drops_only_that_users_cached_summary(db: Database, redis_client: aioredis.Redis) -> None:
    await db.guilds.join(GUILD)
    await db.cases.create(GUILD, ALICE, MOD, CaseType.WARN)
    await db.cases.create(GUILD, BOB, MOD, CaseType.WARN)
    assert (await db.cases.counts(GUILD, ALICE))[CaseType.WARN] == 1
    assert (await db.cases.counts(GUILD, BOB))[CaseType.WARN] == 1
    assert await redis_client.exists(summary_key(GUILD, ALICE), summary_key(GUILD, BOB)) == 2

    await db.cases.create(GUILD, ALICE, MOD, CaseType.KICK)
    assert await redis_client.exists(summary_key(GUILD, ALICE)) == 0
    assert await redis_client.exists(summary_key(GUILD, BOB)) == 1
    assert (await db.cases.counts(GUILD, ALICE))[CaseType.KICK] == 1


async def test_void_and_expiry_refresh_the_cached_restrictions(db: Database) -> None:
    await db.guilds.join(GUILD)
    jail = await db.cases.create(GUILD, ALICE, MOD, CaseType.JAIL, expires_at=utcnow() + timedelta(hours=1))
    assert await db.cases.is_jailed(GUILD, ALICE) is True
    assert await db.cases.mark_expired(GUILD, jail.number) is True
    assert await db.cases.is_jailed(GUILD, ALICE) is False

    ban = await db.cases.create(GUILD, BOB, MOD, CaseType.SNIPPETBAN)
    assert (await db.cases.restrictions(GUILD, BOB))[Restriction.SNIPPET] is True
    await db.cases.void(GUILD, ban.number)
    assert (await db.cases.restrictions(GUILD, BOB))[Restriction.SNIPPET] is False
    assert (await db.cases.counts(GUILD, BOB))[CaseType.SNIPPETBAN] == 0
