"""Who is acting right now, so audit columns fill themselves.

Adapters (a cog, a web route, a CLI command) set the acting Discord user once
per request with ``acting_as``; every write inside that context records the
user in ``created_by`` / ``updated_by`` without each call passing it along.
A context variable keeps concurrent requests in one process apart.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from guildbase.db.types import validate_snowflake

_acting_user: ContextVar[int | None] = ContextVar("guildbase_acting_user", default=None)


def current_actor() -> int | None:
    """The Discord user ID writes are attributed to, or None outside any context."""
    return _acting_user.get()


@contextmanager
def acting_as(user_id: int | None) -> Iterator[None]:
    """Attribute every write in this block (and tasks it starts) to ``user_id``."""
    token = _acting_user.set(None if user_id is None else validate_snowflake(user_id))
    try:
        yield
    finally:
        _acting_user.reset(token)
