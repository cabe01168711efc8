"""Security domain (R10.4, R10.5): the append-only security event trail, and API keys.

Design decisions:

- ``security_event`` is range-partitioned by ``occurred_at``, one UTC month
  per partition, through the generic functions of ``db.partitions`` (the
  event trail's). It is append-only: a trigger (migration 0014) refuses every
  ``UPDATE`` and ``DELETE``; retention drops whole partitions
  (``partition_drop_before``), which no row trigger sees. No foreign keys: an
  event outlives the user, guild or key it names.
- The kinds are one enum (``SecurityEventKind``); what else is known about an
  event (the key's prefix, why it was refused, counts) is in ``detail``
  (JSONB), never a secret or a token.
- ``api_key`` stores a lookup ``prefix`` and the SHA-256 of a 256-bit random
  secret, never the secret: the whole token (``gb_<prefix>_<secret>``) is shown
  once, at creation. A leaked table lets no one in: the secret is random, so its
  hash cannot be reversed or guessed, and a fast hash is enough (no password
  stretching needed for 256 bits of entropy).
- A key's scope is explicit on both axes: the guilds it may act in
  (``guild_ids``, at least one) and the actions it may perform (``actions``, at
  least one ``ApiAction``); there is no wildcard. It may expire
  (``expires_at``) and be revoked (``revoked_at`` / ``revoked_by``, kept: a
  revoked key stays listed so its use afterwards is recognised as misuse).
"""

import enum
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, pg_enum, snowflake_field
from guildbase.privacy.policy import STAMPS, Erase, keep, personal_data

__all__ = [
    "API_KEY_NAME_MAX_LENGTH",
    "API_KEY_PREFIX_LENGTH",
    "MAX_KEY_GUILDS",
    "SECURITY_RETENTION_MONTHS",
    "ApiAction",
    "ApiKey",
    "ApiKeyCreated",
    "ApiKeyRead",
    "SecurityEvent",
    "SecurityEventKind",
    "SecurityEventRead",
]

API_KEY_PREFIX_LENGTH = 12
API_KEY_NAME_MAX_LENGTH = 100
MAX_KEY_GUILDS = 100
SECURITY_RETENTION_MONTHS = 24
"""Whole months of security events kept (investigations look back far; the current month not counted)."""


class SecurityEventKind(enum.StrEnum):
    """What a security event records; the stored label is the value."""

    LOGIN = "login"
    LOGOUT = "logout"
    LOGIN_FAILED = "login_failed"
    ACCESS_DENIED = "access_denied"
    DASHBOARD_PERMISSION_DENIED = "dashboard_permission_denied"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    API_KEY_USED = "api_key_used"
    API_KEY_REFUSED = "api_key_refused"
    KEY_ROTATION = "key_rotation"
    PRIVACY_REQUEST = "privacy_request"


class ApiAction(enum.StrEnum):
    """What an API key may do in the guilds of its scope."""

    GUILD_READ = "guild:read"
    CONFIG_READ = "config:read"
    CONFIG_WRITE = "config:write"
    MEMBERS_READ = "members:read"
    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    LEVELS_READ = "levels:read"
    LEVELS_WRITE = "levels:write"
    EVENTS_READ = "events:read"
    AUDIT_READ = "audit:read"


class SecurityEvent(SQLModel, table=True):
    """One security-relevant moment: who, from where, in which guild, through which key, and what."""

    __tablename__ = "security_event"
    __table_args__ = (
        # By user, by IP, by guild over a period (partial: most events lack one of them), and by time alone.
        Index(
            "ix_security_event_user_id_occurred_at",
            "user_id",
            "occurred_at",
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index("ix_security_event_ip_occurred_at", "ip", "occurred_at", postgresql_where=text("ip IS NOT NULL")),
        Index(
            "ix_security_event_guild_id_occurred_at",
            "guild_id",
            "occurred_at",
            postgresql_where=text("guild_id IS NOT NULL"),
        ),
        Index("ix_security_event_occurred_at", "occurred_at"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    event_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    occurred_at: datetime = Field(
        primary_key=True, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()")}
    )
    kind: SecurityEventKind = Field(sa_type=pg_enum(SecurityEventKind, "security_event_kind"))
    user_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    guild_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    ip: str | None = Field(default=None, sa_type=INET)
    api_key_id: int | None = Field(default=None, sa_type=BigInteger)
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")}
    )


class SecurityEventRead(SQLModel):
    """A security event as the queries return it (``ip`` as text)."""

    model_config = READ_ONLY

    event_id: int
    occurred_at: datetime
    kind: SecurityEventKind
    user_id: int | None
    guild_id: int | None
    ip: str | None
    api_key_id: int | None
    detail: dict[str, Any]


class ApiKey(TimestampMixin, AuditMixin, table=True):
    """An API key: its lookup prefix, the hash of its secret, its scope, expiry, revocation and last use."""

    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint(f"char_length(prefix) = {API_KEY_PREFIX_LENGTH}", name="prefix_length"),
        CheckConstraint("octet_length(secret_hash) = 32", name="secret_hash_is_sha256"),
        CheckConstraint(f"char_length(name) BETWEEN 1 AND {API_KEY_NAME_MAX_LENGTH}", name="name_length"),
        CheckConstraint("cardinality(guild_ids) > 0", name="guild_ids_not_empty"),
        CheckConstraint("cardinality(actions) > 0", name="actions_not_empty"),
    )

    key_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    prefix: str = Field(sa_type=Text, unique=True)
    secret_hash: bytes = Field(sa_type=LargeBinary)
    name: str = Field(sa_type=Text)
    guild_ids: list[int] = Field(sa_type=ARRAY(BigInteger))
    actions: list[str] = Field(sa_type=ARRAY(Text))
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    revoked_by: Snowflake | None = snowflake_field(default=None, nullable=True)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


class ApiKeyRead(SQLModel):
    """An API key as listed: never its secret or hash."""

    model_config = READ_ONLY

    key_id: int
    prefix: str
    name: str
    guild_ids: list[int]
    actions: list[ApiAction]
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: int | None
    last_used_at: datetime | None
    created_at: datetime
    created_by: int | None


class ApiKeyCreated(SQLModel):
    """What ``create`` returns: the key, and its token, shown this once (it is not stored)."""

    model_config = READ_ONLY

    key: ApiKeyRead
    token: SecretStr


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    ApiKey,
    "API keys admins made for scripts and dashboards: who made and revoked them.",
    retention="until revoked and deleted by an admin",
    not_user={"guild_ids": "the guilds a key may act in (its scope), not people"},
    revoked_by=Erase.ANONYMISE,
    **STAMPS,
)

personal_data(
    SecurityEvent,
    "The security trail: logins, refusals, key use (R10.4).",
    retention="SECURITY_RETENTION_MONTHS, then the month's partition is dropped",
    not_user={"api_key_id": "the key used, not a person"},
    user_id=keep(
        "legitimate interest and legal claims (GDPR Art. 6(1)(f), 17(3)(e)): an append-only security trail "
        "proves who accessed what; it is dropped with its partition at the end of its retention"
    ),
    detail=keep("part of the same append-only security record (GDPR Art. 6(1)(f), 17(3)(e))"),
)
