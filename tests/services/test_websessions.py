import json
from datetime import UTC

import redis.asyncio as aioredis

from guildbase.db.types import utcnow
from guildbase.services.websessions import WebSessionStore
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
USER = BLOCK + 101


async def test_session_id_is_opaque_and_resolves_to_its_user(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client)
    session = await store.create(USER, {"guilds": ["1"]})
    assert str(USER) not in session.session_id
    assert len(session.session_id) >= 43
    found = await store.get(session.session_id)
    assert found is not None
    assert found.user_id == USER
    assert found.data == {"guilds": ["1"]}
    assert await store.get("forged-" + session.session_id) is None


async def test_each_use_pushes_the_expiry_forward(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client, ttl=100)
    session = await store.create(USER)
    key = f"gb:v1:session:{session.session_id}"
    await redis_client.expire(key, 5)
    await store.get(session.session_id)
    assert await redis_client.ttl(key) > 90
    await redis_client.expire(key, 5)
    await store.get(session.session_id, touch=False)
    assert await redis_client.ttl(key) <= 5


async def test_expired_sessions_are_gone_and_pruned_from_the_listing(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client)
    keep = await store.create(USER)
    drop = await store.create(USER)
    await redis_client.delete(f"gb:v1:session:{drop.session_id}")  # what expiry does
    assert await store.get(drop.session_id) is None
    assert [s.session_id for s in await store.list_for_user(USER)] == [keep.session_id]
    assert await redis_client.scard(f"gb:v1:{{u:{USER}}}:sessions") == 1


async def test_revoke_one_and_revoke_all(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client)
    sessions = [await store.create(USER) for _ in range(3)]
    assert await store.revoke(sessions[0].session_id) is True
    assert await store.revoke(sessions[0].session_id) is False
    assert {s.session_id for s in await store.list_for_user(USER)} == {s.session_id for s in sessions[1:]}
    assert await store.revoke_all(USER) == 2
    assert await store.list_for_user(USER) == []
    assert all([await store.get(s.session_id) is None for s in sessions])


async def test_update_replaces_data_of_a_live_session_only(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client)
    session = await store.create(USER, {"theme": "dark"})
    updated = await store.update(session.session_id, {"theme": "light"})
    assert updated is not None
    assert updated.data == {"theme": "light"}
    await store.revoke(session.session_id)
    assert await store.update(session.session_id, {"theme": "x"}) is None


async def test_session_times_are_aware_utc_datetimes_like_everything_else(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client)
    before = utcnow()
    session = await store.create(USER)
    assert session.created_at.tzinfo is UTC
    assert before <= session.created_at <= utcnow()
    touched = await store.get(session.session_id)
    assert touched is not None
    assert touched.created_at == session.created_at
    assert touched.last_seen_at.tzinfo is UTC
    assert touched.last_seen_at >= session.last_seen_at
    listed = await store.list_for_user(USER)
    assert [s.created_at for s in listed] == [session.created_at]


async def test_sessions_stored_as_epoch_seconds_by_older_releases_still_read(redis_client: aioredis.Redis) -> None:
    moment = utcnow().replace(microsecond=0)
    stored = {"user_id": str(USER), "created_at": moment.timestamp(), "last_seen_at": moment.timestamp(), "data": {}}
    await redis_client.set("gb:v1:session:legacy", json.dumps(stored))
    session = await WebSessionStore(redis_client).get("legacy", touch=False)
    assert session is not None
    assert session.created_at == moment
    assert session.created_at.tzinfo is UTC
