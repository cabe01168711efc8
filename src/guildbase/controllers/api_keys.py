"""API keys (R10.5): create (the token shown once), verify (constant-time, scoped), revoke, list.

A token reads ``gb_<prefix>_<secret>``: the 12-character prefix finds the row,
the secret (256 random bits) is checked against the stored SHA-256 with
``hmac.compare_digest``, so the comparison takes the same time whatever the
guess. An unknown prefix is compared against a dummy hash, so a miss costs what
a hit costs.

``verify`` refuses a malformed, unknown, wrong, revoked or expired key, or one
used outside its guilds or actions, with ``ApiKeyRefusedError`` naming why;
every refusal (and every accepted use) is a security event, committed before
the error is raised. Creating and revoking a key are permission changes: each
writes an audit row per guild in the key's scope, in the same transaction.
"""

import builtins
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.controllers.base import Controller
from guildbase.controllers.security import checked_ip, record_security_event
from guildbase.db.audit import record_audit
from guildbase.db.context import current_actor
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    flag,
    optional_aware,
    optional_snowflake,
    page_limit,
    positive,
    snowflake,
    snowflakes,
    text,
    validate_enum,
)
from guildbase.errors import NotFoundError, PermissionDeniedError, ValidationError, shown
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.security import (
    API_KEY_NAME_MAX_LENGTH,
    API_KEY_PREFIX_LENGTH,
    MAX_KEY_GUILDS,
    ApiAction,
    ApiKey,
    ApiKeyCreated,
    ApiKeyRead,
    SecurityEventKind,
)

__all__ = ["TOKEN_MAX_LENGTH", "ApiKeyController", "ApiKeyRefusedError", "hash_secret"]

TOKEN_MAX_LENGTH = 200
_SCHEME = "gb"
_KEYS: Any = ApiKey.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
_DUMMY_HASH = hashlib.sha256(b"no such key").digest()
MAX_KEYS = 500


class ApiKeyRefusedError(PermissionDeniedError):
    """``verify`` refused the key; ``reason`` says why (a security event recorded it)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"token: API key refused ({reason})")


def hash_secret(secret: str) -> bytes:
    """What is stored of a secret: its SHA-256 (the secret is 256 random bits, so no stretching is needed)."""
    return hashlib.sha256(secret.encode()).digest()


def _parse(token: str) -> tuple[str, str] | None:
    scheme, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != _SCHEME or len(prefix) != API_KEY_PREFIX_LENGTH or not secret:
        return None
    return prefix, secret


def _actions(values: object) -> list[ApiAction]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise ValidationError.single("actions", "list", f"must be a list of API actions, got {shown(values)}")
    checked = [validate_enum(f"actions.{index}", ApiAction, value) for index, value in enumerate(values)]
    if not checked:
        raise ValidationError.single("actions", "min_items", "must hold at least one API action, got none")
    return sorted(set(checked))


def _refusal(row: Any, secret: str | None, guild_id: int, action: ApiAction, now: datetime) -> str | None:  # noqa: PLR0911 - one reason each
    """Why the key is refused, or None when it may do ``action`` in ``guild_id`` now."""
    stored = _DUMMY_HASH if row is None else bytes(row.secret_hash)
    matches = hmac.compare_digest(hash_secret(secret or ""), stored)
    if secret is None:
        return "malformed"
    if row is None:
        return "unknown key"
    if not matches:
        return "wrong secret"
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    if guild_id not in row.guild_ids:
        return "guild out of scope"
    if action.value not in row.actions:
        return "action out of scope"
    return None


async def _audit_scope(session: AsyncSession, action: AuditAction, key: ApiKeyRead, **change: Any) -> None:
    """One audit row per guild in the key's scope, so each guild's audit page shows it."""
    for guild_id in key.guild_ids:
        await record_audit(session, action, AuditEntity.API_KEY, key.key_id, guild_id=guild_id, **change)


class ApiKeyController(Controller):
    """API keys for the dashboard's API and scripts: scoped per guild and per action."""

    async def create(
        self,
        name: str,
        *,
        guild_ids: Sequence[int],
        actions: Sequence[ApiAction | str],
        expires_at: datetime | None = None,
    ) -> ApiKeyCreated:
        """A new key for ``guild_ids`` and ``actions``; its token is in the result, shown this once."""
        label = text("name", name, min_length=1, max_length=API_KEY_NAME_MAX_LENGTH)
        guilds = sorted(set(snowflakes("guild_ids", guild_ids, max_items=MAX_KEY_GUILDS)))
        if not guilds:
            raise ValidationError.single("guild_ids", "min_items", "must hold at least one guild ID, got none")
        allowed = _actions(actions)
        expiry = optional_aware("expires_at", expires_at)
        if expiry is not None and expiry <= utcnow():
            raise ValidationError.single("expires_at", "future", f"must be in the future, got {expiry.isoformat()}")
        prefix, secret = secrets.token_hex(API_KEY_PREFIX_LENGTH // 2), secrets.token_urlsafe(32)
        values = {
            "prefix": prefix,
            "secret_hash": hash_secret(secret),
            "name": label,
            "guild_ids": guilds,
            "actions": [action.value for action in allowed],
            "expires_at": expiry,
            **actor_columns(ApiKey, "insert"),
        }
        async with self._write() as session:
            row = (await session.execute(insert(_KEYS).values(values).returning(*_KEYS.c))).one()
            key = ApiKeyRead.model_validate(row._mapping)  # noqa: SLF001 - Row's public mapping
            after = {"name": label, "prefix": prefix, "guild_ids": guilds, "actions": values["actions"]}
            await _audit_scope(session, AuditAction.API_KEY_CREATE, key, after={**after, "expires_at": expiry})
            await record_security_event(
                session,
                SecurityEventKind.API_KEY_CREATED,
                user_id=current_actor(),
                api_key_id=key.key_id,
                detail={"prefix": prefix, "name": label},
            )
        return ApiKeyCreated(key=key, token=SecretStr(f"{_SCHEME}_{prefix}_{secret}"))

    async def verify(self, token: str, *, guild_id: int, action: ApiAction | str, ip: str | None = None) -> ApiKeyRead:
        """The key if ``token`` may do ``action`` in ``guild_id``; else ``ApiKeyRefusedError`` and an event.

        An accepted use sets ``last_used_at`` and records ``api_key_used``; a
        refusal records ``api_key_refused`` with the reason (never the token).
        """
        given = text("token", token, max_length=TOKEN_MAX_LENGTH)
        guild = snowflake("guild_id", guild_id)
        wanted = validate_enum("action", ApiAction, action)
        address = checked_ip("ip", ip)
        parsed = _parse(given)
        now = utcnow()
        async with self._write() as session:
            row = None
            if parsed is not None:
                row = (await session.execute(select(_KEYS).where(_KEYS.c.prefix == parsed[0]))).one_or_none()
            reason = _refusal(row, None if parsed is None else parsed[1], guild, wanted, now)
            event: dict[str, Any] = {
                "user_id": None if row is None else row.created_by,
                "guild_id": guild,
                "ip": address,
                "api_key_id": None if row is None else row.key_id,
            }
            detail: dict[str, Any] = {"action": wanted.value}
            if parsed is not None:
                detail["prefix"] = parsed[0]
            if reason is not None:
                kind = SecurityEventKind.API_KEY_REFUSED
                await record_security_event(session, kind, **event, detail={**detail, "reason": reason})
            else:
                assert row is not None  # noqa: S101 - _refusal refuses a missing row
                used = update(_KEYS).where(_KEYS.c.key_id == row.key_id).values(last_used_at=now)
                row = (await session.execute(used.returning(*_KEYS.c))).one()
                await record_security_event(session, SecurityEventKind.API_KEY_USED, **event, detail=detail)
        if reason is not None or row is None:
            raise ApiKeyRefusedError(reason or "unknown key")
        return ApiKeyRead.model_validate(row._mapping)  # noqa: SLF001 - Row's public mapping

    async def revoke(self, key_id: int) -> ApiKeyRead:
        """Revoke a key for good (it stays listed); revoking a revoked key changes nothing."""
        key_id = positive("key_id", key_id)
        async with self._write() as session:
            stmt = select(_KEYS).where(_KEYS.c.key_id == key_id).with_for_update()
            row = (await session.execute(stmt)).one_or_none()
            if row is None:
                msg = f"key_id: no API key {key_id}"
                raise NotFoundError(msg)
            if row.revoked_at is not None:
                return ApiKeyRead.model_validate(row._mapping)  # noqa: SLF001 - Row's public mapping
            values = {"revoked_at": func.now(), "revoked_by": current_actor(), **actor_columns(ApiKey, "update")}
            revoke = update(_KEYS).where(_KEYS.c.key_id == key_id).values(values).returning(*_KEYS.c)
            key = ApiKeyRead.model_validate((await session.execute(revoke)).one()._mapping)  # noqa: SLF001
            await _audit_scope(
                session,
                AuditAction.API_KEY_REVOKE,
                key,
                before={"revoked_at": None},
                after={"revoked_at": key.revoked_at},
            )
            await record_security_event(
                session,
                SecurityEventKind.API_KEY_REVOKED,
                user_id=current_actor(),
                api_key_id=key_id,
                detail={"prefix": key.prefix},
            )
        return key

    async def list(
        self, *, guild_id: int | None = None, include_revoked: bool = False, limit: int = 100
    ) -> builtins.list[ApiKeyRead]:
        """Keys, newest first: all of them, or those whose scope holds ``guild_id``; revoked ones on request."""
        guild = optional_snowflake("guild_id", guild_id)
        revoked = flag("include_revoked", include_revoked)
        size = page_limit(limit, MAX_KEYS)
        stmt = select(_KEYS)
        if guild is not None:
            stmt = stmt.where(_KEYS.c.guild_ids.contains([guild]))
        if not revoked:
            stmt = stmt.where(_KEYS.c.revoked_at.is_(None))
        stmt = stmt.order_by(_KEYS.c.key_id.desc()).limit(size)
        async with self._write() as session:
            rows = (await session.execute(stmt)).mappings().all()
        return read_all(ApiKeyRead, rows)
