"""Who is acting right now, and through what, so audit columns and audit rows fill themselves.

Adapters (a cog, a web route, a CLI command, the job runner) set the acting
Discord user once per request with ``acting_as``, and where the request came
from with ``audit_context``; every write inside that context records the user
in ``created_by`` / ``updated_by`` and, through ``db.audit.record_audit``, the
actor, the source and the correlation ID in ``audit_log``, without each call
passing them along. Context variables keep concurrent requests in one process
apart, and tasks started inside a block inherit them.
"""

import enum
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from guildbase.db.types import validate_snowflake

__all__ = [
    "AuditSource",
    "acting_as",
    "audit_context",
    "current_actor",
    "current_correlation",
    "current_source",
]

CORRELATION_MAX_LENGTH = 64


class AuditSource(enum.StrEnum):
    """Where a write came from; stored in ``audit_log.source`` (the label is the value)."""

    BOT = "bot"
    DASHBOARD = "dashboard"
    CLI = "cli"
    JOB = "job"
    API_KEY = "api_key"


_acting_user: ContextVar[int | None] = ContextVar("guildbase_acting_user", default=None)
_source: ContextVar[AuditSource | None] = ContextVar("guildbase_audit_source", default=None)
_correlation: ContextVar[str | None] = ContextVar("guildbase_correlation_id", default=None)


def current_actor() -> int | None:
    """The Discord user ID writes are attributed to, or None outside any context."""
    return _acting_user.get()


def current_source() -> AuditSource | None:
    """The adapter the current writes came through, or None (a script using the library directly)."""
    return _source.get()


def current_correlation() -> str | None:
    """The ID that ties together every audit row of one request (a command, a job, a CLI call)."""
    return _correlation.get()


@contextmanager
def acting_as(user_id: int | None) -> Iterator[None]:
    """Attribute every write in this block (and tasks it starts) to ``user_id``."""
    token = _acting_user.set(None if user_id is None else validate_snowflake(user_id))
    try:
        yield
    finally:
        _acting_user.reset(token)


@contextmanager
def audit_context(source: AuditSource | str, *, correlation_id: str | None = None) -> Iterator[str]:
    """Record every audit row written in this block as coming from ``source``, under one correlation ID.

    ``correlation_id`` names the request (a Discord interaction or message ID,
    ``job:<id>``); a fresh random one is made when it is not given. The block
    yields the ID in force. Raises ``ValueError`` for an unknown source or an
    empty or over-long ID: adapters call this, with values they choose.
    """
    checked = AuditSource(source)
    correlation = uuid.uuid4().hex if correlation_id is None else str(correlation_id)
    if not 0 < len(correlation) <= CORRELATION_MAX_LENGTH:
        msg = f"correlation_id: must be 1-{CORRELATION_MAX_LENGTH} characters, got {len(correlation)}"
        raise ValueError(msg)
    source_token = _source.set(checked)
    correlation_token = _correlation.set(correlation)
    try:
        yield correlation
    finally:
        _correlation.reset(correlation_token)
        _source.reset(source_token)
