"""Which cached keys a row's write makes stale, whichever path wrote it.

A controller registers the keys it makes stale on its unit of work
(``db.unit_of_work.invalidate_after_commit``). Model CRUD (``GuildConfig.update
(session, …)`` in a script) has no controller, so the module that owns a
cache key also declares, once, which table rows feed it::

    stale_keys(GuildConfig, lambda row: (config_key(row.guild_id),))

Every ORM flush on a guildbase session (create, update, delete, restore) and
every CRUD ``upsert`` then adds the keys of the rows it touched to the same
set, and the unit of work publishes them after commit, like a controller's.
Core statements (``session.execute(update(GuildConfig)…)``) carry no rows to
look at: code that writes through them registers its keys itself, as the
controllers do.
"""

from collections.abc import Callable, Iterable
from typing import Any

from guildbase.db.unit_of_work import Unit, invalidate_after_commit

KeysOf = Callable[[Any], Iterable[str]]

_REGISTRY: dict[type, KeysOf] = {}


def stale_keys(model: type, keys_of: KeysOf) -> None:
    """Declare that writing a row of ``model`` makes ``keys_of(row)`` stale."""
    _REGISTRY[model] = keys_of


def mark_stale(unit: Unit, rows: Iterable[object]) -> None:
    """Register the keys made stale by writing ``rows`` (rows of undeclared models are ignored)."""
    for row in rows:
        keys_of = _REGISTRY.get(type(row))
        if keys_of is not None:
            invalidate_after_commit(unit, *keys_of(row))


def keys_of_table(table: str) -> KeysOf | None:
    """The keys declared for the model stored in ``table``: for Core writers that know tables, not models.

    ``db.privacy``'s erase rewrites rows of every table with SQL built from
    the metadata; it asks here which of them feed a cache.
    """
    for model, keys_of in _REGISTRY.items():
        if getattr(getattr(model, "__table__", None), "name", None) == table:
            return keys_of
    return None
