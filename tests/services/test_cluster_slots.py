"""No multi-key command, pipeline transaction or script of guildbase crosses Redis Cluster slots.

Two proofs. Statically: every key builder in the package is found by reading
the source (a new one fails this test until it is listed here), and the keys
each builder makes together (a value and its generation, a board and its
``:ready`` marker, every key of one guild) hash to one slot, computed with
redis-py's own ``key_slot``; nothing opens a MULTI/EXEC transaction. Live: the
real code paths run on the 3-node cluster, where redis-py refuses a command
naming two slots before sending it and the server answers ``CROSSSLOT``; no
such error (nor any Redis failure the services would hide) occurs, and every
key they left behind sits in its guild's (or user's) slot.
"""

import ast
from pathlib import Path

import pytest
from limits import parse
from redis.crc import key_slot

from guildbase.controllers.autoresponders import autoresponders_key
from guildbase.controllers.blacklist import blacklist_key
from guildbase.controllers.filters import filters_key
from guildbase.controllers.guild_config import config_key, features_key
from guildbase.controllers.matchers import cooldown_key
from guildbase.controllers.mod_settings import mod_settings_key
from guildbase.controllers.moderation_queries import summary_key
from guildbase.controllers.permission_store import permissions_key
from guildbase.controllers.polls import open_polls_key
from guildbase.controllers.premium_state import owner_key, tiers_key
from guildbase.models.core import BlacklistTarget
from guildbase.models.premium import OwnerType
from guildbase.services.invalidation import generation_key
from guildbase.services.keys import NAMESPACE, global_key, guild_key, invalidation_channel
from guildbase.services.leaderboard import Period, board_key, window
from guildbase.services.websessions import _handle_key, _user_index_key, session_handle
from guildbase.testing import ids, shifted_now

BLOCK = ids.block()
GUILD, USER, OTHER_USER, MOD = BLOCK + 1, BLOCK + 2, BLOCK + 3, BLOCK + 4
PACKAGE = Path(__file__).resolve().parents[2] / "src" / "guildbase"
KEY_HELPERS = {"guild_key", "global_key"}


def _slot(key: str) -> int:
    return key_slot(key.encode())


def _guild_slot(guild_id: int) -> int:
    return _slot(f"{{g:{guild_id}}}")


GUILD_KEYS = {
    "controllers/autoresponders.py:autoresponders_key": lambda g: [autoresponders_key(g)],
    "controllers/filters.py:filters_key": lambda g: [filters_key(g)],
    "controllers/guild_config.py:config_key": lambda g: [config_key(g)],
    "controllers/guild_config.py:features_key": lambda g: [features_key(g)],
    "controllers/matchers.py:cooldown_key": lambda g: [cooldown_key(g, 7, USER), cooldown_key(g, 8, OTHER_USER)],
    "controllers/mod_settings.py:mod_settings_key": lambda g: [mod_settings_key(g)],
    "controllers/moderation_queries.py:summary_key": lambda g: [summary_key(g, USER), summary_key(g, OTHER_USER)],
    "controllers/permission_store.py:permissions_key": lambda g: [permissions_key(g)],
    "controllers/polls.py:open_polls_key": lambda g: [open_polls_key(g)],
    "controllers/premium_state.py:owner_key": lambda g: [owner_key(OwnerType.GUILD, g)],
    "services/leaderboard.py:board_key": lambda g: [
        board_key(g, window(period, shifted_now()), "0123456789ab") for period in Period
    ],
}
"""Per-guild key builders → the keys they make for guild ``g``: all must share the guild's slot."""

GLOBAL_KEYS = {
    "controllers/blacklist.py:blacklist_key": [blacklist_key(target) for target in BlacklistTarget],
    "controllers/premium_state.py:tiers_key": [tiers_key()],
    "controllers/premium_state.py:owner_key": [owner_key(OwnerType.USER, USER)],
}
"""Bot-wide key builders: each key is read with its generation key, which must share its slot."""

OTHER_BUILDERS = {
    "services/keys.py:guild_key",
    "services/keys.py:global_key",
    "services/keys.py:invalidation_channel",
    "services/websessions.py:_handle_key",
    "services/websessions.py:_user_index_key",
    "privacy/redis_data.py:_boards",
    "services/ratelimit.py:__init__",
    "web/sessions.py:_login_key",  # one key per login attempt (GET, SET, DELETE alone): no slot to share
}
"""Builders covered by the tests below (the key helpers, sessions, the rate-limit prefix, a SCAN pattern)."""


def _builders() -> set[str]:
    """``path:function`` of every function that builds a Redis key (calls a key helper or names the namespace)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            if names & (KEY_HELPERS | {"NAMESPACE"}):
                found.add(f"{path.relative_to(PACKAGE).as_posix()}:{node.name}")
    return found


def test_every_key_builder_in_the_package_is_checked_here() -> None:
    checked = set(GUILD_KEYS) | set(GLOBAL_KEYS) | OTHER_BUILDERS
    helpers = {"services/keys.py:guild_key", "services/keys.py:global_key"}
    assert _builders() - helpers <= checked, "a new Redis key builder: add it here with its slot rule"
    assert _builders() >= checked - helpers, "a listed builder is gone: drop it here"


# Named IDs: GUILD comes from the clock, and xdist's workers must collect the same test names.
@pytest.mark.parametrize(
    "guild_id", [GUILD, GUILD + 1, 2**63 - 1, 10**17], ids=["a-guild", "the-next-guild", "largest", "smallest-17-digit"]
)
def test_every_key_of_a_guild_hashes_to_the_guilds_slot(guild_id: int) -> None:
    keys = [key for build in GUILD_KEYS.values() for key in build(guild_id)]
    keys += [generation_key(key) for key in keys] + [
        key + ":ready" for key in GUILD_KEYS["services/leaderboard.py:board_key"](guild_id)
    ]
    assert {_slot(key) for key in keys} == {_guild_slot(guild_id)}
    assert guild_key(guild_id, "anything", 1) != guild_key(guild_id + 1, "anything", 1)


def test_keys_read_together_share_a_slot() -> None:
    """A cached value and its generation (one MGET); a session index and its user (one slot per user)."""
    for keys in GLOBAL_KEYS.values():
        for key in keys:
            assert _slot(key) == _slot(generation_key(key)), key
    assert _slot(global_key("premium", "a")) == _slot(global_key("premium", "b"))
    assert _slot(_user_index_key(USER)) == _slot(f"{{u:{USER}}}")
    # A session's data key is found by its handle alone: single-key commands, any slot.
    assert "{" not in _handle_key(session_handle("x"))
    assert "{" not in invalidation_channel(0)  # one shard channel; SPUBLISH/SSUBSCRIBE name only it


def test_rate_limit_windows_are_one_key_in_the_slot_of_their_guild_or_user() -> None:
    """``limits``' moving window is one list per bucket, changed by a one-key script: the hash tag picks its slot."""
    item = parse("5/minute")
    assert _slot(f"{NAMESPACE}:rl:{item.key_for(f'{{g:{GUILD}}}', 'guild')}") == _guild_slot(GUILD)
    assert _slot(f"{NAMESPACE}:rl:{item.key_for(f'{{g:{GUILD}}}', 'cmd', 'rank', USER)}") == _guild_slot(GUILD)
    assert _slot(f"{NAMESPACE}:rl:{item.key_for(f'{{u:{USER}}}', 'user')}") == _slot(f"{{u:{USER}}}")


def test_nothing_opens_a_transaction_or_names_keys_of_two_slots_in_one_command() -> None:
    """No Redis MULTI/EXEC (``pipeline()`` defaults to one, ``transaction=True``, ``multi``, ``watch``) anywhere."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                transactional = any(
                    kw.arg == "transaction" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
                    for kw in node.keywords
                )
                if node.func.attr in {"multi", "watch"} or (
                    node.func.attr == "pipeline" and (transactional or not node.keywords)
                ):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
