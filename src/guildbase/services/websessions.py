"""Web dashboard sessions in Redis: opaque ids, stored hashed, sliding expiry, revocation.

The cookie holds only a random id (256 bits from ``secrets``), never a user
id, so it reveals nothing and cannot be forged. Redis never holds that id: the
session is stored under the SHA-256 of it (its ``handle``), so a Redis dump,
``MONITOR`` or a replica gives no one a session to ride. The data lives with a
TTL that is pushed forward on every use; a per-user index set of handles makes
"log out everywhere" and "list my sessions" cheap, and a listed session is
ended by its handle (``revoke_handle``: "log out that device").

Times are aware UTC datetimes, like everywhere else in guildbase; Redis holds
them as ISO 8601 text (sessions written as epoch seconds by older releases
still read correctly).
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from guildbase.db.types import utcnow, validate_snowflake
from guildbase.services.keys import CACHE_VERSION, NAMESPACE
from guildbase.services.redis import RedisClient

DEFAULT_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class WebSession:
    """What a request handler sees: who, since when, and the stored data.

    ``session_id`` (the cookie's value) is known only where the caller gave it
    (``create``, ``get``); a listing has only the ``handle``.
    """

    session_id: str | None
    handle: str
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    data: dict[str, Any]


def _moment(stored: str | float) -> datetime:
    """A stored time: ISO 8601 text, or the epoch seconds older releases wrote."""
    if isinstance(stored, int | float):
        return datetime.fromtimestamp(stored, UTC)
    return datetime.fromisoformat(stored).astimezone(UTC)


def _payload(user_id: int, created_at: datetime, last_seen_at: datetime, data: dict[str, Any]) -> str:
    return json.dumps(
        {
            "user_id": str(user_id),
            "created_at": created_at.isoformat(),
            "last_seen_at": last_seen_at.isoformat(),
            "data": data,
        }
    )


def session_handle(session_id: str) -> str:
    """What Redis stores of a session id: its SHA-256, hex (the id itself is never stored)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _handle_key(handle: str) -> str:
    return f"{NAMESPACE}:v{CACHE_VERSION}:session:{handle}"


def _session_key(session_id: str) -> str:
    return _handle_key(session_handle(session_id))


def _user_index_key(user_id: int) -> str:
    return f"{NAMESPACE}:v{CACHE_VERSION}:{{u:{user_id}}}:sessions"


class WebSessionStore:
    """Create, read (sliding), list and revoke dashboard sessions."""

    def __init__(self, client: RedisClient, *, ttl: int = DEFAULT_TTL_SECONDS) -> None:
        self.client = client
        self.ttl = ttl

    async def create(self, user_id: int, data: dict[str, Any] | None = None) -> WebSession:
        """Start a session for ``user_id``; returns it with its new opaque id."""
        user_id = validate_snowflake(user_id)
        now = utcnow()
        session_id = secrets.token_urlsafe(32)
        session = WebSession(session_id, session_handle(session_id), user_id, now, now, dict(data or {}))
        payload = _payload(user_id, now, now, session.data)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(_handle_key(session.handle), payload, ex=self.ttl)
            pipe.sadd(_user_index_key(user_id), session.handle)
            pipe.expire(_user_index_key(user_id), self.ttl)
            await pipe.execute()
        return session

    async def get(self, session_id: str, *, touch: bool = True) -> WebSession | None:
        """The live session, or None; ``touch`` pushes its expiry forward (sliding)."""
        return await self._by_handle(session_handle(session_id), session_id, touch=touch)

    async def _by_handle(self, handle: str, session_id: str | None, *, touch: bool) -> WebSession | None:
        raw = await self.client.get(_handle_key(handle))
        if raw is None:
            return None
        stored = json.loads(raw)
        session = WebSession(
            session_id,
            handle,
            int(stored["user_id"]),
            _moment(stored["created_at"]),
            _moment(stored["last_seen_at"]),
            stored["data"],
        )
        if touch:
            seen = utcnow()
            payload = _payload(session.user_id, session.created_at, seen, session.data)
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.set(_handle_key(handle), payload, ex=self.ttl, xx=True)
                pipe.expire(_user_index_key(session.user_id), self.ttl)
                await pipe.execute()
            session = WebSession(session_id, handle, session.user_id, session.created_at, seen, session.data)
        return session

    async def update(self, session_id: str, data: dict[str, Any]) -> WebSession | None:
        """Replace the session's data (e.g. a refreshed guild list); None if it expired."""
        current = await self.get(session_id, touch=False)
        if current is None:
            return None
        payload = _payload(current.user_id, current.created_at, utcnow(), data)
        written = await self.client.set(_session_key(session_id), payload, ex=self.ttl, xx=True)
        return None if not written else await self.get(session_id, touch=False)

    async def revoke(self, session_id: str) -> bool:
        """End one session (log out); False if it did not exist."""
        return await self.revoke_handle(session_handle(session_id))

    async def revoke_handle(self, handle: str) -> bool:
        """End the session a listing shows by its ``handle`` (log out that device); False if it did not exist."""
        current = await self._by_handle(handle, None, touch=False)
        if current is None:
            return False
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.delete(_handle_key(handle))
            pipe.srem(_user_index_key(current.user_id), handle)
            await pipe.execute()
        return True

    async def revoke_all(self, user_id: int) -> int:
        """End every session of a user (log out everywhere); returns how many were live."""
        handles = [str(i) for i in await self.client.smembers(_user_index_key(user_id))]
        if not handles:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
            for handle in handles:
                pipe.delete(_handle_key(handle))
            pipe.delete(_user_index_key(user_id))
            results = await pipe.execute()
        return sum(int(deleted) for deleted in results[:-1])

    async def list_for_user(self, user_id: int) -> list[WebSession]:
        """The user's live sessions (by handle: no id is stored), newest first; expired ones leave the index."""
        handles = sorted(str(i) for i in await self.client.smembers(_user_index_key(user_id)))
        sessions = []
        stale = []
        for handle in handles:
            session = await self._by_handle(handle, None, touch=False)
            if session is None:
                stale.append(handle)
            else:
                sessions.append(session)
        if stale:
            await self.client.srem(_user_index_key(user_id), *stale)
        return sorted(sessions, key=lambda s: s.created_at, reverse=True)
