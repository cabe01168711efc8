"""Audit domain: one row for every change to configuration, permissions, cases, tickets or premium.

Design decisions:

- One table for every domain (``audit_log``), written by one helper
  (``guildbase.db.audit.record_audit``) in the same transaction as the change,
  so a rolled-back write leaves no row and a committed one always has its row.
- ``before`` / ``after`` hold the changed fields only (JSONB): an insert has an
  empty ``before``, a delete an empty ``after``.
- The entity is a type (``AuditEntity``) and an ID stored as text, because
  entities are keyed differently: a case by ``case_id``, a feature toggle by
  its name, a blacklist entry by ``user:<id>``. The conventions are in
  ``docs/audit.md``.
- ``guild_id`` has no foreign key, on purpose: the trail must outlive what it
  records (the row saying who deleted a guild survives the guild). Global
  changes (the global blacklist) have no guild: ``None`` in Python, stored as
  guild 0 (``db.types.GuildKeyType``), so the table can be distributed by
  ``guild_id`` (migration 0027, ``guildbase.scaleout``).
- ``source`` and ``correlation_id`` come from ``db.context.audit_context``, set
  once by the adapter (bot command, CLI, job runner, dashboard); a script that
  sets nothing leaves them NULL.
- The moderation change trail (``moderation_change`` until migration 0009)
  lives here: ``db.cases.changes()`` / ``db.notes.changes()`` read it back.
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.context import CORRELATION_MAX_LENGTH, AuditSource
from guildbase.db.types import READ_ONLY, SnowflakeType, UTCDateTimeType, optional_guild_field, orm_identity, pg_enum
from guildbase.privacy.policy import Erase, personal_data

__all__ = [
    "AUDIT_REASON_MAX_LENGTH",
    "ENTITY_ID_MAX_LENGTH",
    "AuditAction",
    "AuditEntity",
    "AuditLog",
    "AuditLogRead",
    "AuditSource",
]

AUDIT_REASON_MAX_LENGTH = 512
ENTITY_ID_MAX_LENGTH = 100


class AuditAction(enum.StrEnum):
    """What an audit row records; the stored label is the value."""

    GUILD_JOIN = "guild_join"
    GUILD_LEAVE = "guild_leave"
    GUILD_DELETE = "guild_delete"
    CONFIG_UPDATE = "config_update"
    PREFIX_ADD = "prefix_add"
    PREFIX_REMOVE = "prefix_remove"
    FEATURE_SET = "feature_set"
    BLACKLIST_ADD = "blacklist_add"
    BLACKLIST_REMOVE = "blacklist_remove"
    MEMBER_BLACKLIST = "member_blacklist"
    CASE_CREATE = "case_create"
    CASE_REASON = "case_reason"
    CASE_VOID = "case_void"
    CASE_EXPIRE = "case_expire"
    CASE_PROCESSED = "case_processed"
    CASE_MOD_LOG = "case_mod_log"
    NOTE_CREATE = "note_create"
    NOTE_EDIT = "note_edit"
    NOTE_DELETE = "note_delete"
    LEVEL_CONFIG = "level_config"
    LEVEL_ROLE_SET = "level_role_set"
    LEVEL_ROLE_REMOVE = "level_role_remove"
    LEVEL_MULTIPLIER_SET = "level_multiplier_set"
    LEVEL_MULTIPLIER_REMOVE = "level_multiplier_remove"
    XP_SET = "xp_set"
    XP_RESET = "xp_reset"
    XP_BLACKLIST = "xp_blacklist"
    XP_UNBLACKLIST = "xp_unblacklist"
    STARBOARD_CONFIG = "starboard_config"
    MOD_SETTINGS = "mod_settings"
    API_KEY_CREATE = "api_key_create"
    API_KEY_REVOKE = "api_key_revoke"
    PRIVACY_EXPORT = "privacy_export"
    PRIVACY_ERASE = "privacy_erase"
    PERMISSION_RANKS = "permission_ranks"
    PERMISSION_RULE_ADD = "permission_rule_add"
    PERMISSION_RULE_REMOVE = "permission_rule_remove"
    PERMISSION_RULE_EXPIRE = "permission_rule_expire"
    TICKET_PANEL = "ticket_panel"
    TICKET_OPEN = "ticket_open"
    TICKET_CHANGE = "ticket_change"
    TICKET_CLOSE = "ticket_close"
    TICKET_REOPEN = "ticket_reopen"
    TICKET_RATE = "ticket_rate"
    PREMIUM_TIER_SET = "premium_tier_set"
    PREMIUM_SKU_SET = "premium_sku_set"
    SUBSCRIPTION_CREATE = "subscription_create"
    SUBSCRIPTION_STATUS = "subscription_status"
    SUBSCRIPTION_SYNC = "subscription_sync"
    TRIAL_START = "trial_start"
    PAYMENT_RECORD = "payment_record"
    PAYMENT_REFUND = "payment_refund"
    PREMIUM_KEY_CREATE = "premium_key_create"
    PREMIUM_KEY_REDEEM = "premium_key_redeem"
    SNIPPET_CREATE = "snippet_create"
    SNIPPET_EDIT = "snippet_edit"
    SNIPPET_DELETE = "snippet_delete"
    SNIPPET_ALIAS = "snippet_alias"
    CUSTOM_COMMAND_CREATE = "custom_command_create"
    CUSTOM_COMMAND_EDIT = "custom_command_edit"
    CUSTOM_COMMAND_DELETE = "custom_command_delete"
    POLL_CREATE = "poll_create"
    POLL_CLOSE = "poll_close"
    POLL_DELETE = "poll_delete"
    AUTORESPONDER_CREATE = "autoresponder_create"
    AUTORESPONDER_UPDATE = "autoresponder_update"
    AUTORESPONDER_DELETE = "autoresponder_delete"
    FILTER_CREATE = "filter_create"
    FILTER_UPDATE = "filter_update"
    FILTER_DELETE = "filter_delete"
    CHANNEL_SLOWMODE = "channel_slowmode"
    CHANNEL_LOCK = "channel_lock"
    CHANNEL_UNLOCK = "channel_unlock"
    INTEGRATION_CREATE = "integration_create"
    INTEGRATION_UPDATE = "integration_update"
    INTEGRATION_DELETE = "integration_delete"


class AuditEntity(enum.StrEnum):
    """The kind of thing an audit row is about; ``entity_id`` says which one (docs/audit.md)."""

    GUILD = "guild"
    GUILD_CONFIG = "guild_config"
    GUILD_FEATURE = "guild_feature"
    GLOBAL_BLACKLIST = "global_blacklist"
    MEMBER = "member"
    CASE = "case"
    NOTE = "note"
    MEMBER_LEVEL = "member_level"
    LEVEL_CONFIG = "level_config"
    LEVEL_ROLE = "level_role"
    LEVEL_MULTIPLIER = "level_multiplier"
    STARBOARD = "starboard"
    MOD_SETTINGS = "mod_settings"
    API_KEY = "api_key"
    PRIVACY_REQUEST = "privacy_request"
    PERMISSION_RANKS = "permission_ranks"
    PERMISSION_RULE = "permission_rule"
    TICKET = "ticket"
    TICKET_PANEL = "ticket_panel"
    PREMIUM_TIER = "premium_tier"
    PREMIUM_SKU = "premium_sku"
    SUBSCRIPTION = "subscription"
    PAYMENT = "payment"
    PREMIUM_KEY = "premium_key"
    SNIPPET = "snippet"
    CUSTOM_COMMAND = "custom_command"
    POLL = "poll"
    AUTORESPONDER = "autoresponder"
    MESSAGE_FILTER = "message_filter"
    CHANNEL = "channel"
    INTEGRATION = "integration"


class AuditLog(SQLModel, table=True):
    """One recorded change: who, through what, to which entity, the changed fields, and why."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(f"char_length(entity_id) BETWEEN 1 AND {ENTITY_ID_MAX_LENGTH}", name="entity_id_length"),
        CheckConstraint(f"char_length(reason) <= {AUDIT_REASON_MAX_LENGTH}", name="reason_length"),
        CheckConstraint(
            f"char_length(correlation_id) BETWEEN 1 AND {CORRELATION_MAX_LENGTH}", name="correlation_id_length"
        ),
        # The history of one entity, oldest first (``db.cases.changes``, ``db.audit.for_entity``).
        Index("ix_audit_log_entity", "entity_type", "entity_id", "audit_id"),
        # What one person did; partial: rows with nobody acting (jobs, expiry) are never asked for by actor.
        Index(
            "ix_audit_log_actor_id_created_at", "actor_id", "created_at", postgresql_where=text("actor_id IS NOT NULL")
        ),
        # A guild's changes over a period (the dashboard's audit page).
        Index("ix_audit_log_guild_id_created_at", "guild_id", "created_at"),
    )

    __mapper_args__ = orm_identity("audit_id")

    audit_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    created_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )
    guild_id: int | None = optional_guild_field(primary_key=True)
    """None for a global change (stored as guild 0, ``db.types.GuildKeyType``)."""
    actor_id: int | None = Field(default=None, sa_type=SnowflakeType)
    source: AuditSource | None = Field(default=None, sa_type=pg_enum(AuditSource, "audit_source"))
    action: AuditAction = Field(sa_type=pg_enum(AuditAction, "audit_action"))
    entity_type: AuditEntity = Field(sa_type=pg_enum(AuditEntity, "audit_entity"))
    entity_id: str = Field(sa_type=Text)
    before: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")}
    )
    after: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")}
    )
    reason: str | None = Field(default=None, sa_type=Text)
    correlation_id: str | None = Field(default=None, sa_type=Text)


personal_data(
    AuditLog,
    "The audit trail (R6.3): who changed configuration, permissions or cases, and what changed.",
    retention="kept: the trail outlives what it records",
    keep_rows="entity_type = 'privacy_request'",
    keep_reason=(
        "the trail of privacy requests themselves: proof of who asked for an export or an erase and that it "
        "was done (GDPR Art. 5(2) accountability, Art. 12(3))"
    ),
    actor_id=Erase.ANONYMISE,
    entity_id=Erase.ANONYMISE,
    before=Erase.ANONYMISE,
    after=Erase.ANONYMISE,
)


class AuditLogRead(SQLModel):
    """An audit row as queries return it; ``before`` / ``after`` hold only the fields that changed."""

    model_config = READ_ONLY

    audit_id: int
    created_at: datetime
    guild_id: int | None
    actor_id: int | None
    source: AuditSource | None
    action: AuditAction
    entity_type: AuditEntity
    entity_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str | None
    correlation_id: str | None
