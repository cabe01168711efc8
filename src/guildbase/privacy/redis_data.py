"""What Redis holds about a user, for export and erase: web sessions, leaderboard entries, keys naming them.

Redis keeps three kinds of personal data (``services/``):

- dashboard sessions (``WebSessionStore``): found and ended through the store
  itself, so however it keys them (raw or hashed IDs), this module keeps up;
- leaderboard entries (``LeaderboardStore``): the user is a *member* of each
  guild's sorted sets, never in a key name, so every board key is scanned
  (``gb:v1:{g:*}:lb:*``) and the user's member removed from each; a board
  rebuilt later reads PostgreSQL, where the user's XP is gone;
- every other key whose *name* holds the user ID as a whole number: rate-limit
  windows (``gb:rl:LIMITER/{u:<id>}/…``, ``…/cmd/<name>/<id>/…``), cached
  per-user values (``gb:v1:{g:…}:cases:<id>:summary``). They are listed by
  name in the export (their content is counters and cache copies of rows
  the export already holds) and deleted by the erase.

SCAN, never KEYS: an erase is rare, and must not block a Redis that serves the bot.
"""

import re
from collections.abc import AsyncIterator
from typing import Any

from guildbase.services.keys import CACHE_VERSION, NAMESPACE
from guildbase.services.redis import RedisClient
from guildbase.services.websessions import WebSessionStore

__all__ = ["erase_redis", "export_redis"]

_BOARD = re.compile(rf"^{NAMESPACE}:v{CACHE_VERSION}:\{{g:(\d+)\}}:lb:([^:]+):(.+)$")
_BATCH = 500
_MEMBER_WIDTH = 19  # services.leaderboard stores members as zero-padded IDs


def _member(user_id: int) -> str:
    return f"{user_id:0{_MEMBER_WIDTH}d}"


async def _scan(client: RedisClient, pattern: str) -> AsyncIterator[str]:
    async for key in client.scan_iter(match=pattern, count=_BATCH):
        yield str(key)


async def _boards(client: RedisClient) -> list[str]:
    return [key async for key in _scan(client, f"{NAMESPACE}:v{CACHE_VERSION}:{{g:*}}:lb:*") if _BOARD.match(key)]


async def _board_scores(client: RedisClient, user_id: int) -> list[tuple[str, float]]:
    """(board key, score) of every board holding the user."""
    found: list[tuple[str, float]] = []
    keys = await _boards(client)
    for start in range(0, len(keys), _BATCH):
        chunk = keys[start : start + _BATCH]
        async with client.pipeline(transaction=False) as pipe:
            for key in chunk:
                pipe.type(key)
            kinds = await pipe.execute()
        sets = [key for key, kind in zip(chunk, kinds, strict=True) if str(kind) == "zset"]
        async with client.pipeline(transaction=False) as pipe:
            for key in sets:
                pipe.zscore(key, _member(user_id))
            scores = await pipe.execute()
        found += [(key, float(score)) for key, score in zip(sets, scores, strict=True) if score is not None]
    return found


async def _named_keys(client: RedisClient, user_id: int) -> list[str]:
    """Keys whose name holds the user ID as a whole number (not a longer number that contains it)."""
    whole = re.compile(rf"(?<!\d){user_id}(?!\d)")
    return sorted({key async for key in _scan(client, f"*{user_id}*") if whole.search(key)})


async def export_redis(client: RedisClient, sessions: WebSessionStore, user_id: int) -> dict[str, Any]:
    """The user's Redis data, JSON-ready: sessions (without their secret IDs), board entries, named keys."""
    live = await sessions.list_for_user(user_id)
    boards = []
    for key, score in await _board_scores(client, user_id):
        parsed = _BOARD.match(key)
        if parsed is not None:
            boards.append({"guild_id": parsed.group(1), "board": parsed.group(3), "xp": int(score)})
    named = []
    for key in await _named_keys(client, user_id):
        kind, ttl = str(await client.type(key)), int(await client.ttl(key))
        named.append({"key": key, "type": kind, "expires_in_seconds": ttl if ttl >= 0 else None})
    return {
        "web_sessions": [
            {"created_at": s.created_at.isoformat(), "last_seen_at": s.last_seen_at.isoformat(), "data": s.data}
            for s in live
        ],
        "leaderboards": boards,
        "keys": named,
    }


async def erase_redis(client: RedisClient, sessions: WebSessionStore, user_id: int) -> dict[str, int]:
    """End the user's sessions, take them off every board, delete every key naming them; counts of each."""
    ended = await sessions.revoke_all(user_id)
    boards = [key for key, _ in await _board_scores(client, user_id)]
    async with client.pipeline(transaction=False) as pipe:
        for key in boards:
            pipe.zrem(key, _member(user_id))
        await pipe.execute()
    named = await _named_keys(client, user_id)
    deleted = 0
    for start in range(0, len(named), _BATCH):
        deleted += int(await client.delete(*named[start : start + _BATCH]))
    return {"web_sessions": ended, "leaderboard_entries": len(boards), "keys": deleted}
