"""Security events (R10.4): record logins, refusals, key use and rotation; query them by user, IP, guild and time.

``record_security_event`` is the one write path: controllers call it on the
unit of work they already hold (an API key's use commits with its
``last_used_at``), adapters call ``db.security.record``. The insert runs in a
savepoint, so a row in a month with no partition yet (the maintenance job
creates them ahead, ``maintain_partitions``) creates that month and retries
without aborting the caller's transaction.

The table is append-only (a trigger refuses ``UPDATE`` and ``DELETE``);
retention drops whole months (``maintain_partitions``). Queries return the
newest first.
"""

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db import partitions
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    aware,
    integer,
    mapping,
    moment,
    optional_aware,
    optional_positive,
    optional_snowflake,
    page_limit,
    snowflake,
    validate_enum,
)
from guildbase.errors import ValidationError, shown
from guildbase.models.security import SECURITY_RETENTION_MONTHS, SecurityEvent, SecurityEventKind, SecurityEventRead

__all__ = ["MAX_EVENTS", "SecurityController", "checked_ip", "record_security_event"]

MAX_EVENTS = 1000
TABLE = "security_event"
_EVENTS: Any = SecurityEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models


def checked_ip(field: str, value: object) -> str | None:
    """An IPv4 or IPv6 address as text (``None`` stays ``None``), refused by name otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError.single(field, "ip", f"must be an IP address as text, got {shown(value)}")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValidationError.single(field, "ip", f"must be an IPv4 or IPv6 address, got {shown(value)}") from None


async def record_security_event(
    session: AsyncSession,
    kind: SecurityEventKind,
    *,
    user_id: int | None = None,
    guild_id: int | None = None,
    ip: str | None = None,
    api_key_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> None:
    """Append one event on ``session`` (checked values; it commits with the caller's transaction)."""
    at = occurred_at or utcnow()
    values: dict[str, Any] = {
        "occurred_at": at,
        "kind": kind,
        "user_id": user_id,
        "guild_id": guild_id,
        "ip": ip,
        "api_key_id": api_key_id,
        "detail": dict(detail or {}),
    }
    try:
        async with session.begin_nested():
            await session.execute(insert(SecurityEvent).values(values))
    except IntegrityError as error:
        cause = error.orig.__cause__ if error.orig is not None else None
        if not partitions.is_missing_partition(cause or error.orig or error):
            raise
        month = partitions.month_of(at)
        await session.execute(text("SELECT partition_ensure(CAST(:t AS regclass), :m)"), {"t": TABLE, "m": month})
        async with session.begin_nested():
            await session.execute(insert(SecurityEvent).values(values))


def _read(rows: Any) -> list[SecurityEventRead]:
    return [
        SecurityEventRead.model_validate(
            {**row._mapping, "ip": None if row.ip is None else str(row.ip)}  # noqa: SLF001 - Row's public mapping
        )
        for row in rows
    ]


class SecurityController(Controller):
    """The security event trail: ``record`` and the four ways an investigation asks."""

    async def record(
        self,
        kind: SecurityEventKind | str,
        *,
        user_id: int | None = None,
        guild_id: int | None = None,
        ip: str | None = None,
        api_key_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Append an event (a login, a logout, a refusal, a privacy request …); ``detail`` never holds a secret."""
        checked: dict[str, Any] = {
            "user_id": optional_snowflake("user_id", user_id),
            "guild_id": optional_snowflake("guild_id", guild_id),
            "ip": checked_ip("ip", ip),
            "api_key_id": optional_positive("api_key_id", api_key_id),
            "detail": mapping("detail", detail),
            "occurred_at": optional_aware("occurred_at", occurred_at),
        }
        event_kind = validate_enum("kind", SecurityEventKind, kind)
        async with self._write() as session:
            await record_security_event(session, event_kind, **checked)

    async def by_user(
        self, user_id: int, *, since: datetime | None = None, until: datetime | None = None, limit: int = 100
    ) -> list[SecurityEventRead]:
        """A user's events (their logins, their keys' refusals …), newest first."""
        stmt = select(_EVENTS).where(col(SecurityEvent.user_id) == snowflake("user_id", user_id))
        return await self._page(stmt, since, until, limit)

    async def by_ip(
        self, ip: str, *, since: datetime | None = None, until: datetime | None = None, limit: int = 100
    ) -> list[SecurityEventRead]:
        """Everything seen from one address (e.g. failed logins of many accounts), newest first."""
        address = checked_ip("ip", ip)
        if address is None:
            raise ValidationError.single("ip", "ip", "must be an IP address, got None")
        stmt = select(_EVENTS).where(col(SecurityEvent.ip) == address)
        return await self._page(stmt, since, until, limit)

    async def by_guild(
        self, guild_id: int, *, since: datetime | None = None, until: datetime | None = None, limit: int = 100
    ) -> list[SecurityEventRead]:
        """A guild's events (dashboard denials, its keys' use), newest first."""
        stmt = select(_EVENTS).where(col(SecurityEvent.guild_id) == snowflake("guild_id", guild_id))
        return await self._page(stmt, since, until, limit)

    async def between(
        self, since: datetime, until: datetime, *, kind: SecurityEventKind | str | None = None, limit: int = 100
    ) -> list[SecurityEventRead]:
        """Every event in ``[since, until)``, optionally of one kind, newest first."""
        stmt = select(_EVENTS)
        if kind is not None:
            stmt = stmt.where(col(SecurityEvent.kind) == validate_enum("kind", SecurityEventKind, kind))
        return await self._page(stmt, aware("since", since), aware("until", until), limit)

    async def maintain_partitions(self, *, months_ahead: int = 3, now: datetime | None = None) -> dict[str, list[str]]:
        """Create this month's and the next ``months_ahead`` partitions; drop months past retention.

        Retention keeps ``SECURITY_RETENTION_MONTHS`` whole months before the
        current one; whole partitions go (the trigger refuses row deletes).
        """
        ahead = integer("months_ahead", months_ahead, minimum=0, maximum=24)
        current = partitions.month_of(moment("now", now))
        async with self._fast() as unit:
            created, dropped = await partitions.maintain(
                unit.connection, TABLE, current, months_ahead=ahead, keep_months=SECURITY_RETENTION_MONTHS
            )
        return {"created": created, "dropped": dropped}

    async def _page(
        self, stmt: Select[Any], since: datetime | None, until: datetime | None, limit: int
    ) -> list[SecurityEventRead]:
        start, end = optional_aware("since", since), optional_aware("until", until)
        size = page_limit(limit, MAX_EVENTS)
        if start is not None:
            stmt = stmt.where(col(SecurityEvent.occurred_at) >= start)
        if end is not None:
            stmt = stmt.where(col(SecurityEvent.occurred_at) < end)
        stmt = stmt.order_by(col(SecurityEvent.occurred_at).desc(), col(SecurityEvent.event_id).desc()).limit(size)
        async with self._write() as session:
            return _read((await session.execute(stmt)).all())
