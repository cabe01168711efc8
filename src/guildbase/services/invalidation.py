"""The Redis commands that make cache keys stale everywhere, for one batch of invalidations.

Making a key stale takes three things (``services.cache``): a new random
generation for it, so a reader that loaded before the write can never store
its old value where anyone serves it; the deletion of the value, so Redis does
not keep dead bytes until they expire; and a message on the invalidation
channel, so every process drops its local copy. As separate commands that is
two per key plus one ``PUBLISH`` per batch, and with redis-py every command is
a reply to read and parse in this process: on a numbered write (a case, a
note) the invalidation cost more of this process's CPU than the statement
itself (the W2 profile in ``docs/performance.md``).

On one Redis server all of it is ONE ``EVAL`` of ``DROP_SCRIPT``: the
generations, the deletions and the message, run atomically by the server, one
reply. A Redis Cluster cannot run it (a script names keys of one slot, and
the message goes out by ``SPUBLISH`` on the channel's own shard), and the
in-process Redis runs no scripts; both get the same work as plain commands.
Either way the message is the JSON list of the keys, in the order first named.
"""

import json
import secrets
from collections.abc import Iterable
from typing import Any

__all__ = ["DROP_SCRIPT", "GENERATION_TTL_MS", "drop_commands", "generation_key"]

GENERATION_TTL_MS = 7 * 86_400 * 1000
"""How long a key's generation outlives its last write; cached values must expire sooner (``cache_ttl_seconds``)."""

DROP_SCRIPT = """
local count = #KEYS / 2
local ttl = ARGV[count + 1]
for index = 1, count do
    redis.call('SET', KEYS[2 * index], ARGV[index], 'PX', ttl)
    redis.call('DEL', KEYS[2 * index - 1])
end
return redis.call('PUBLISH', ARGV[count + 2], ARGV[count + 3])
"""
"""KEYS: each value key followed by its generation key. ARGV: the new generations, their TTL, channel, message."""


def generation_key(key: str) -> str:
    """Where ``key``'s current generation lives (same hash tag, so same Cluster slot)."""
    return f"{key}:gen"


def drop_commands(keys: Iterable[str], channel: str, *, scripted: bool, publish: str) -> list[tuple[Any, ...]]:
    """The commands that make ``keys`` stale everywhere: one ``EVAL`` when ``scripted``, else two per key and a publish.

    ``publish`` is the publishing command of the client (``PUBLISH``, or
    ``SPUBLISH`` on a cluster). A key named twice is dropped once.
    """
    unique = list(dict.fromkeys(keys))
    generations = [secrets.token_hex(8) for _ in unique]
    message = json.dumps(unique)
    if scripted:
        pairs = [name for key in unique for name in (key, generation_key(key))]
        return [("EVAL", DROP_SCRIPT, len(pairs), *pairs, *generations, GENERATION_TTL_MS, channel, message)]
    commands: list[tuple[Any, ...]] = []
    for key, generation in zip(unique, generations, strict=True):
        commands.append(("SET", generation_key(key), generation, "PX", GENERATION_TTL_MS))
        commands.append(("DEL", key))
    commands.append((publish, channel, message))
    return commands
