"""Integration rules: create, change and remove a guild's feeds, each with its recurring fetch job.

The fetch itself (HTTP with conditional requests, parsing, the once-only
claim of new items, delivery and back-off) is ``IntegrationFetching``, which
this controller inherits so that ``db.integrations`` keeps one face.

Every change is audited in its own transaction; a secret (the webhook URL or
the GitHub token) is audited as "set", never with its value.
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import col

from guildbase.controllers.integration_fetch import IntegrationFetching, check_target, read_model
from guildbase.db.audit import locked_values, record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.validation import changes_of, page_limit, snowflake, text, validate
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.integrations import (
    DEFAULT_INTERVAL_SECONDS,
    INTEGRATION_FETCH,
    MAX_PER_GUILD,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    Integration,
    IntegrationCreate,
    IntegrationDelivery,
    IntegrationFetchPayload,
    IntegrationRead,
    IntegrationSource,
    IntegrationUpdate,
)

__all__ = ["IntegrationController"]

_SECRETS = ("webhook_url", "github_token")
_AUDITED = ("name", "source", "url", "delivery", "channel_id", "interval_seconds", "is_enabled", *_SECRETS)


def _shown(values: dict[str, Any]) -> dict[str, Any]:
    """Audit values with each secret replaced by whether it is set (its value never reaches the log)."""
    return {key: ("set" if value else None) if key in _SECRETS else value for key, value in values.items()}


def _job_key(integration_id: int) -> str:
    return f"integration:{integration_id}"


class IntegrationController(IntegrationFetching):
    """A guild's feeds: configuration here, fetching in ``IntegrationFetching``."""

    async def create(
        self,
        guild_id: int,
        *,
        name: str,
        source: IntegrationSource | str,
        url: str,
        delivery: IntegrationDelivery | str = IntegrationDelivery.CHANNEL,
        channel_id: int | None = None,
        webhook_url: str | None = None,
        github_token: str | None = None,
        interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
        is_enabled: bool = True,
    ) -> IntegrationRead:
        """Add a feed and schedule its fetch every ``interval_seconds``, in one transaction.

        Raises:
            ValidationError: a field breaks its rule (a bad URL, a channel
                delivery without ``channel_id``, a webhook without its URL in
                ``secret``, a GitHub source that is not ``owner/repo``).
            ConflictError: the guild has a feed of that name, or already has
                ``MAX_PER_GUILD`` feeds.
        """
        guild_id = snowflake("guild_id", guild_id)
        fields = {
            "guild_id": guild_id,
            "name": _name(name),
            "source": source,
            "url": url,
            "delivery": delivery,
            "channel_id": channel_id,
            "webhook_url": webhook_url,
            "github_token": github_token,
            "interval_seconds": interval_seconds,
            "is_enabled": is_enabled,
        }
        checked = validate(IntegrationCreate, fields)
        check_target(
            checked.source,
            checked.url,
            delivery=checked.delivery,
            channel_id=checked.channel_id,
            webhook_url=checked.webhook_url,
            github_token=checked.github_token,
        )
        async with self._write() as session:
            count = await session.scalar(
                select(func.count()).select_from(Integration).where(col(Integration.guild_id) == guild_id)
            )
            if (count or 0) >= MAX_PER_GUILD:
                msg = f"this server already has {MAX_PER_GUILD} feeds, the most it may have; remove one first"
                raise ConflictError(msg)
            row = Integration.model_validate(checked)
            session.add(row)
            await session.flush()
            await session.refresh(row)
            integration_id = int(row.integration_id or 0)
            await record_audit(
                session,
                AuditAction.INTEGRATION_CREATE,
                AuditEntity.INTEGRATION,
                integration_id,
                guild_id=guild_id,
                after=_shown({name: getattr(row, name) for name in _AUDITED}),
            )
            await self._db.jobs.enqueue_in(
                session,
                INTEGRATION_FETCH,
                payload=IntegrationFetchPayload(guild_id=guild_id, integration_id=integration_id),
                dedupe_key=_job_key(integration_id),
                every=timedelta(seconds=row.interval_seconds),
                guild_id=guild_id,
            )
            return read_model(row)

    async def get(self, guild_id: int, name: str) -> IntegrationRead | None:
        """The guild's feed called ``name``, or None."""
        guild_id = snowflake("guild_id", guild_id)
        name = _name(name)
        async with self._read() as session:
            row = await session.scalar(
                select(Integration).where(col(Integration.guild_id) == guild_id, col(Integration.name) == name)
            )
            return None if row is None else read_model(row)

    async def list(self, guild_id: int, *, limit: int = MAX_PER_GUILD) -> list[IntegrationRead]:
        """The guild's feeds by name."""
        guild_id = snowflake("guild_id", guild_id)
        limit = page_limit(limit, MAX_PER_GUILD)
        async with self._read() as session:
            rows = await session.scalars(
                select(Integration)
                .where(col(Integration.guild_id) == guild_id)
                .order_by(col(Integration.name))
                .limit(limit)
            )
            return [read_model(row) for row in rows]

    async def update(
        self, guild_id: int, name: str, changes: IntegrationUpdate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> IntegrationRead:
        """Change a feed's channel, interval, switch, webhook URL or GitHub token; a new interval reschedules its job.

        Raises:
            NotFoundError: no feed of that name.
            ValidationError: a change breaks a rule (a channel for a webhook delivery …).
        """
        guild_id = snowflake("guild_id", guild_id)
        name = _name(name)
        given = changes_of(changes, IntegrationUpdate) | fields
        values = validate(IntegrationUpdate, given).model_dump(include=set(given))
        async with self._write() as session:
            row = await session.scalar(
                select(Integration)
                .where(col(Integration.guild_id) == guild_id, col(Integration.name) == name)
                .with_for_update()
            )
            if row is None:
                raise NotFoundError(f"name: this server has no feed called {name!r}")
            before = {key: getattr(row, key) for key in _AUDITED}
            merged = {**before, **values}
            check_target(
                row.source,
                row.url,
                delivery=row.delivery,
                channel_id=merged["channel_id"],
                webhook_url=merged["webhook_url"],
                github_token=merged["github_token"],
            )
            for key, value in values.items():
                setattr(row, key, value)
            if values.get("is_enabled") is True:
                row.failure_count, row.retry_after, row.last_error = 0, None, None  # switched on: try at once
            session.add(row)
            await session.flush()
            await record_audit(
                session,
                AuditAction.INTEGRATION_UPDATE,
                AuditEntity.INTEGRATION,
                row.integration_id or 0,
                guild_id=guild_id,
                before=_shown(before),
                after=_shown({key: getattr(row, key) for key in _AUDITED}),
            )
            if "interval_seconds" in values and row.integration_id is not None:
                await self._db.jobs.cancel_in(session, INTEGRATION_FETCH, _job_key(row.integration_id))
                await self._db.jobs.enqueue_in(
                    session,
                    INTEGRATION_FETCH,
                    payload=IntegrationFetchPayload(guild_id=guild_id, integration_id=row.integration_id),
                    dedupe_key=_job_key(row.integration_id),
                    every=timedelta(seconds=row.interval_seconds),
                    guild_id=guild_id,
                )
            return read_model(row)

    async def remove(self, guild_id: int, name: str) -> bool:
        """Delete a feed, its seen items and its fetch job; False when there was none."""
        guild_id = snowflake("guild_id", guild_id)
        name = _name(name)
        async with self._write() as session:
            columns = (*_AUDITED, "integration_id")
            before = await locked_values(session, Integration, columns, guild_id=guild_id, name=name)
            if not before:
                return False
            integration_id = int(before.pop("integration_id"))
            await session.execute(delete(Integration).where(col(Integration.integration_id) == integration_id))
            await self._db.jobs.cancel_in(session, INTEGRATION_FETCH, _job_key(integration_id))
            await record_audit(
                session,
                AuditAction.INTEGRATION_DELETE,
                AuditEntity.INTEGRATION,
                integration_id,
                guild_id=guild_id,
                before=_shown(before),
            )
            return True

    async def reset_state(self, guild_id: int, name: str) -> IntegrationRead:
        """Forget the ETag, Last-Modified and back-off, so the next fetch asks for everything again.

        Items already seen stay seen: resetting never reposts them.

        Raises:
            NotFoundError: no feed of that name.
        """
        guild_id = snowflake("guild_id", guild_id)
        name = _name(name)
        async with self._write() as session:
            row = await session.scalar(
                update(Integration)
                .where(col(Integration.guild_id) == guild_id, col(Integration.name) == name)
                .values(
                    etag=None,
                    last_modified=None,
                    failure_count=0,
                    retry_after=None,
                    last_error=None,
                    updated_at=func.now(),
                    **actor_columns(Integration, "update"),
                )
                .returning(Integration)
            )
            if row is None:
                raise NotFoundError(f"name: this server has no feed called {name!r}")
            await record_audit(
                session,
                AuditAction.INTEGRATION_UPDATE,
                AuditEntity.INTEGRATION,
                row.integration_id or 0,
                guild_id=guild_id,
                before={"fetch_state": "kept"},
                after={"fetch_state": "reset"},
            )
            return read_model(row)


def _name(name: object) -> str:
    """A feed name as stored: lower case (``News`` finds ``news``), letters, digits, ``-`` and ``_``."""
    checked = text("name", name, min_length=1, max_length=NAME_MAX_LENGTH).lower()
    if not NAME_PATTERN.fullmatch(checked):
        msg = f"must be letters, digits, '-' or '_', starting with a letter or digit, got {checked[:40]!r}"
        raise ValidationError.single("name", "pattern", msg)
    return checked
