"""Redis key conventions shared by every service."""

NAMESPACE = "gb"
CACHE_VERSION = 1


def invalidation_channel(db: int) -> str:
    """``gb:invalidate:<db>``: the pub/sub channel for cache invalidations of one Redis db.

    Pub/sub channels are server-wide, not per db: without the number, two bots
    (or a bot and its staging copy, or two test runs) on different dbs of one
    server would drop each other's local cache entries.
    """
    return f"{NAMESPACE}:invalidate:{db}"


def guild_key(guild_id: int, *parts: str | int) -> str:
    """``gb:v1:{g:<guild_id>}:<parts…>`` — the key for something cached per guild.

    The ``{g:…}`` hash tag keeps a guild's keys on one Redis Cluster slot; the
    version segment is bumped when a cached shape changes.
    """
    suffix = ":".join(str(part) for part in parts)
    return f"{NAMESPACE}:v{CACHE_VERSION}:{{g:{guild_id}}}:{suffix}"


def global_key(scope: str, *parts: str | int) -> str:
    """``gb:v1:{<scope>}:<parts…>`` — the key for something cached bot-wide, not per guild.

    The scope is the hash tag, so a value and its generation key share a slot.
    """
    suffix = ":".join(str(part) for part in parts)
    return f"{NAMESPACE}:v{CACHE_VERSION}:{{{scope}}}:{suffix}"
