"""Feature toggles obeyed: which operations each per-guild toggle gates, and the gate itself.

A guild turns a feature off with ``db.guild_config.set_feature(guild, feature,
enabled=False)``. From then on every operation a *member* triggers in that
domain (earning XP, asking for a rank, going AFK, starring, setting a
reminder, saving a bookmark) refuses before it writes anything, naming the
feature. Configuration and admin calls (settings, hand edits, clean-up,
delivery and expiry jobs) are never gated: staff can prepare a feature before
turning it on and tidy up after turning it off. ``docs/features.md`` lists
every gated operation and its outcome.

A gate is declared once, on the method, with ``@gated(feature)``:

- by default it reads the guild's feature map from the cache (local LRU →
  Redis → PostgreSQL, dropped everywhere by ``set_feature``; a hit costs no
  round trip) before the method runs, and raises ``FeatureDisabledError``;
- ``when_off=`` gives a per-message check its "nothing to do" answer instead
  of an error (the AFK lookup of a message's author and mentions);
- ``in_statement=True`` declares that the method's own SQL reads the toggle
  (the XP award: no extra round trip), so the decorator only records it;
- ``inline=True`` declares that the method checks the gate itself, with
  ``open_now`` (a dict lookup) and, when that does not say "on", ``require``
  (the per-event writers of ``db.events``: no extra coroutine per event); the
  decorator records it with the same outcome, and the test that drives every
  gated operation with the feature off holds it to that.

A hit costs one dict lookup: ``is_on`` mirrors the guild's cached feature map
into a table of the local cache keyed by guild ID (``LocalCache.mirror``), so
it expires, and is dropped on invalidation, with the cache entry itself.

``GATED`` is the registry of every declared gate; the docs table and the test
that drives every ``Feature`` member read it. A feature whose domain has no
controller yet is listed in ``AWAITING_DOMAIN`` with the facade attribute its
domain will live on; the same test fails once that controller exists and no
operation of it is gated.
"""

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import monotonic
from typing import Any, Concatenate, ParamSpec, TypeVar

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.controllers.guild_config import feature_states, features_key
from guildbase.db.validation import snowflake
from guildbase.errors import FeatureDisabledError
from guildbase.models.core import DEFAULT_FEATURES, Feature

__all__ = ["AWAITING_DOMAIN", "FEATURE_TABLE", "GATED", "GatedOperation", "gated", "is_on", "open_now", "require"]

C = TypeVar("C", bound=Controller)
P = ParamSpec("P")
R = TypeVar("R")

RAISES = "raises FeatureDisabledError"
FEATURE_TABLE = "features"
"""The local cache's mirror table of feature maps by guild ID (``LocalCache.table``)."""


@dataclass(frozen=True, slots=True)
class GatedOperation:
    """One gated controller method: ``Class.method``, and what it does while the feature is off."""

    feature: Feature
    name: str
    outcome: str


GATED: dict[Feature, list[GatedOperation]] = {feature: [] for feature in Feature}
"""Every ``@gated`` method by feature, in declaration order (filled as controller modules import)."""

AWAITING_DOMAIN: dict[Feature, str] = {
    Feature.AUTOMOD: "automation",
    Feature.WELCOME: "welcome",
}
"""Features with no domain controller yet → the ``Database`` attribute that domain will add.

Their toggles are stored and readable (the bot's global check reads them);
the domain that lands on that attribute gates its member operations here.
"""


def open_now(db: UnitOfWork, guild_id: int, value: str, default: bool) -> bool:
    """True when the mirrored feature map of ``guild_id`` says the feature ``value`` is on; no I/O, no await.

    False means "off, or not known here yet": the caller then awaits
    ``require``, which reads through the cache (and mirrors the map for the
    next call). Only validated IDs are keys of the table; callers check
    ``type(guild_id) is int`` first (``True`` and ``1.0`` hash like ``1``).
    """
    hot = db.cache.local.table(FEATURE_TABLE).get(guild_id)
    return hot is not None and hot[0] > monotonic() and hot[1].get(value, default)


async def is_on(db: UnitOfWork, guild_id: int, feature: Feature) -> bool:
    """Whether ``feature`` is on in the (validated) guild, from the cached feature map."""
    states = await feature_states(db, guild_id)
    local = db.cache.local
    local.mirror(features_key(guild_id), local.table(FEATURE_TABLE), guild_id)
    return states.get(feature.value, DEFAULT_FEATURES[feature])


async def require(db: UnitOfWork, guild_id: int, feature: Feature) -> None:
    """Raise ``FeatureDisabledError`` unless ``feature`` is on in the (validated) guild."""
    if not await is_on(db, guild_id, feature):
        raise FeatureDisabledError(feature.value, guild_id)


def gated(
    feature: Feature, *, when_off: Callable[[], Any] | None = None, in_statement: bool = False, inline: bool = False
) -> Callable[[Callable[Concatenate[C, P], Awaitable[R]]], Callable[Concatenate[C, P], Awaitable[R]]]:
    """Gate a controller method on ``feature`` of the guild named by its ``guild_id`` argument.

    The guild ID is validated first (a bad one raises ``ValidationError`` on
    ``guild_id``, as the method itself would). A call without a guild (a DM
    reminder) is not gated. ``when_off`` makes the method return
    ``when_off()`` instead of raising; ``in_statement`` and ``inline`` only
    record the gate (the method's SQL, or its own code, checks it).
    """
    value, default = feature.value, DEFAULT_FEATURES[feature]

    def decorate(method: Callable[Concatenate[C, P], Awaitable[R]]) -> Callable[Concatenate[C, P], Awaitable[R]]:
        outcome = RAISES if when_off is None else f"returns {when_off()!r}"
        if in_statement:
            outcome = "reported by the result"
        GATED[feature].append(GatedOperation(feature, method.__qualname__, outcome))
        if in_statement or inline:
            return method
        names = list(inspect.signature(method).parameters)
        position = names.index("guild_id") - 1  # after ``self``; a method without guild_id fails here, at import

        @functools.wraps(method)
        async def gate(self: C, /, *args: P.args, **kwargs: P.kwargs) -> R:
            guild_id = args[position] if len(args) > position else kwargs.get("guild_id")
            if type(guild_id) is int and open_now(self._db, guild_id, value, default):
                return await method(self, *args, **kwargs)
            if guild_id is not None:
                checked = snowflake("guild_id", guild_id)
                if not await is_on(self._db, checked, feature):
                    if when_off is None:
                        raise FeatureDisabledError(feature.value, checked)
                    return when_off()  # type: ignore[no-any-return]
            return await method(self, *args, **kwargs)

        return gate

    return decorate
