import hashlib
import json
from datetime import UTC

import redis.asyncio as aioredis

from guildbase.db.types import utcnow
from guildbase.services.websessions import WebSessionStore, session_handle
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
USER = BLOCK + 101


async def test_session_id_is_opaque_and_resolves_to_its_user(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client)
    session = await store.create(USER, {"guilds": ["1"]})
    assert session.session_id is not None
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
    key = f"gb:v1:session:{session_handle(session.session_id or '')}"
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
    assert drop.session_id is not None
    await redis_client.delete(f"gb:v1:session:{drop.handle}")  # what expiry does
    assert await store.get(drop.session_id) is None
    assert [s.handle for s in await store.list_for_user(USER)] == [keep.handle]
    assert await redis_client.scard(f"gb:v1:{{u:{USER}}}:sessions") == 1


async def test_revoke_one_and_revoke_all(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client)
    sessions = [await store.create(USER) for _ in range(4)]
    ids = [s.session_id or "" for s in sessions]
    assert await store.revoke(ids[0]) is True
    assert await store.revoke(ids[0]) is False
    assert {s.handle for s in await store.list_for_user(USER)} == {s.handle for s in sessions[1:]}
    assert await store.revoke_handle(sessions[1].handle) is True  # "log out that device", from a listing
    assert await store.get(ids[1]) is None
    assert await store.revoke_all(USER) == 2
    assert await store.list_for_user(USER) == []
    assert all([await store.get(session_id) is None for session_id in ids])


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
    assert [s.session_id for s in listed] == [None]  # a listing knows handles only


async def test_sessions_stored_as_epoch_seconds_by_older_releases_still_read(redis_client: aioredis.Redis) -> None:
    moment = utcnow().replace(microsecond=0)
    stored = {"user_id": str(USER), "created_at": moment.timestamp(), "last_seen_at": moment.timestamp(), "data": {}}
    await redis_client.set(f"gb:v1:session:{session_handle('legacy')}", json.dumps(stored))
    session = await WebSessionStore(redis_client).get("legacy", touch=False)
    assert session is not None
    assert session.created_at == moment
    assert session.created_at.tzinfo is UTC


async def test_redis_holds_only_the_hash_of_a_session_id_never_the_id(redis_client: aioredis.Redis) -> None:
    store = WebSessionStore(redis_client)
    session = await store.create(USER, {"theme": "dark"})
    assert session.session_id is not None
    assert session.handle == hashlib.sha256(session.session_id.encode()).hexdigest()
    await store.get(session.session_id)
    stored = [key async for key in redis_client.scan_iter("*")]
    values = [
        str(await redis_client.get(k))
        if await redis_client.type(k) == "string"
        else str(await redis_client.smembers(k))
        for k in stored
    ]
    assert sorted(stored) == sorted([f"gb:v1:session:{session.handle}", f"gb:v1:{{u:{USER}}}:sessions"])
    assert not [text for text in [*stored, *values] if session.session_id in text]
    assert await store.get(session.handle) is None  # the hash is not a credential
