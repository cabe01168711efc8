"""Moderation domain: cases, notes, and the trail of every change made to them.

Design decisions (compared with the legacy ``Case`` / ``Note`` tables):

- Numbers come from ``guild_counter`` in the inserting transaction, with
  ``uq_mod_case_guild_id_number`` / ``uq_note_guild_id_number`` as the backstop.
  A number is the guild's own timeline: it is handed out under the counter
  row's lock, so it orders a guild's cases exactly as they were committed.
  History is therefore ordered and paginated by ``number`` (a unique keyset
  within the guild), where the legacy schema sorted by a ``created_at`` that
  concurrent transactions could tie or invert.
- ``status`` (active / expired / voided) replaces the legacy boolean
  ``case_status``; ``processed_at`` replaces ``case_tempban_expired``.
  Expiry is the job runner's (``CASE_EXPIRY`` jobs, enqueued with the case,
  cancelled by a void), so a case carries no claim column or due index of its
  own (migration 0008 dropped the retired ``claim_due`` loop's).
- The legacy ``index(case_number, guild_id)`` duplicated its own unique key and
  is dropped; ``index(case_created_at DESC)`` becomes guild-leading.
- Changes (creation, reason edits, voids, expiries, note edits and deletes)
  go to the generic ``audit_log`` (``models/audit.py``) with before/after
  JSONB, the acting user and the source; migration 0009 moved the rows of the
  old domain-local ``moderation_change`` there and dropped it.
- The JSONB column is ``details`` because ``metadata`` is reserved by
  SQLAlchemy's declarative base.
- ``user_id`` / ``moderator_id`` carry no foreign key, as in the legacy schema:
  a hackban targets users the bot has never seen as members.
"""

import enum
from datetime import datetime
from typing import Annotated, Any

import pydantic
from pydantic import ValidationInfo, field_validator
from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, PrimaryKeyConstraint, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, SoftDeleteMixin, TimestampMixin
from guildbase.db.types import (
    READ_ONLY,
    Snowflake,
    UTCDateTime,
    UTCDateTimeType,
    any_case,
    orm_identity,
    pg_enum,
    snowflake_field,
)
from guildbase.models.core import GUILD_FK, REASON_MAX_LENGTH
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import STAMPS, Erase, keep, personal_data

NOTE_MAX_LENGTH = 2000
MAX_ROLE_IDS = 250  # Discord's limit on roles per guild


class CaseType(enum.StrEnum):
    """Every legacy ``CaseType`` label, stored as-is so legacy rows import unchanged."""

    BAN = "BAN"
    UNBAN = "UNBAN"
    HACKBAN = "HACKBAN"
    TEMPBAN = "TEMPBAN"
    KICK = "KICK"
    SNIPPETBAN = "SNIPPETBAN"
    TIMEOUT = "TIMEOUT"
    UNTIMEOUT = "UNTIMEOUT"
    WARN = "WARN"
    JAIL = "JAIL"
    UNJAIL = "UNJAIL"
    SNIPPETUNBAN = "SNIPPETUNBAN"
    UNTEMPBAN = "UNTEMPBAN"
    POLLBAN = "POLLBAN"
    POLLUNBAN = "POLLUNBAN"


class CaseStatus(enum.StrEnum):
    """Where a case is in its life; only ``active`` cases can expire or be claimed."""

    ACTIVE = "active"
    EXPIRED = "expired"
    VOIDED = "voided"


class Restriction(enum.StrEnum):
    """A standing restriction whose state follows the latest case of its pair."""

    JAIL = "jail"
    SNIPPET = "snippet"
    POLL = "poll"


REQUIRES_EXPIRY = frozenset({CaseType.TEMPBAN, CaseType.TIMEOUT})
"""Types that are temporary by definition: ``expires_at`` is mandatory."""

MAY_EXPIRE = REQUIRES_EXPIRY | {CaseType.JAIL}
"""Types that may carry ``expires_at`` (a JAIL is timed only when one is given)."""

PAIRS: dict[Restriction, tuple[CaseType, CaseType]] = {
    Restriction.JAIL: (CaseType.JAIL, CaseType.UNJAIL),
    Restriction.SNIPPET: (CaseType.SNIPPETBAN, CaseType.SNIPPETUNBAN),
    Restriction.POLL: (CaseType.POLLBAN, CaseType.POLLUNBAN),
}
PAIR_TYPES = frozenset(t for pair in PAIRS.values() for t in pair)


def _labels(types: frozenset[CaseType]) -> str:
    return ", ".join(f"'{t.value}'" for t in sorted(types))


CaseTypeInput = Annotated[CaseType, any_case(CaseType)]


# -- mod_case -------------------------------------------------------------------
class CaseBase(SQLModel):
    # Part of the table's key (case_id, guild_id); ignored by the models that are not tables.
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    type: CaseTypeInput = Field(sa_type=pg_enum(CaseType, "mod_case_type"))
    user_id: Snowflake = snowflake_field()
    moderator_id: Snowflake = snowflake_field()
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)
    role_ids: list[Snowflake] = Field(
        default_factory=list,
        max_length=MAX_ROLE_IDS,
        sa_type=ARRAY(BigInteger),
        sa_column_kwargs={"server_default": "{}", "default": None},
    )
    expires_at: UTCDateTime | None = Field(default=None, sa_type=UTCDateTimeType)
    mod_log_message_id: Snowflake | None = snowflake_field(default=None)
    details: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=JSONB,
        sa_column_kwargs={"server_default": text("'{}'::jsonb"), "default": None},
    )


class CaseCreate(CaseBase):
    """Input for a new case; expiry rules are checked here, before any write."""

    model_config = {"extra": "forbid"}

    @field_validator("expires_at")
    @classmethod
    def _expiry_fits_type(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        case_type = info.data.get("type")
        if case_type is None:  # the type itself was invalid and is reported on its own
            return value
        if case_type in REQUIRES_EXPIRY and value is None:
            msg = f"is required for a {case_type} case (a temporary punishment must end)"
            raise ValueError(msg)
        if value is not None and case_type not in MAY_EXPIRE:
            allowed = ", ".join(sorted(MAY_EXPIRE))
            msg = f"must be empty for a {case_type} case; only {allowed} can expire"
            raise ValueError(msg)
        return value


class CaseReasonUpdate(SQLModel):
    reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)


class Case(CaseBase, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """One moderation action; never deleted, only voided (the trail must stay whole)."""

    __tablename__ = "mod_case"
    __table_args__ = (
        # guild_id in every key (co-location by guild: ``guildbase.scaleout``); the id first serves lookups by id.
        PrimaryKeyConstraint("case_id", "guild_id"),
        UniqueConstraint("guild_id", "number"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint(f"type NOT IN ({_labels(REQUIRES_EXPIRY)}) OR expires_at IS NOT NULL", name="expiry_required"),
        CheckConstraint(f"expires_at IS NULL OR type IN ({_labels(MAY_EXPIRE)})", name="expiry_allowed"),
        # History by user / moderator / type, newest first: the keyset is the number.
        Index("ix_mod_case_guild_id_user_id_number", "guild_id", "user_id", "number"),
        Index("ix_mod_case_guild_id_moderator_id_number", "guild_id", "moderator_id", "number"),
        Index("ix_mod_case_guild_id_type_number", "guild_id", "type", "number"),
        Index("ix_mod_case_guild_id_created_at", "guild_id", "created_at", "case_id"),
        # Partial: restriction state and jail roles read the latest pair case of one
        # user; pair cases are a small slice of all cases.
        Index(
            "ix_mod_case_guild_id_user_id_pair",
            "guild_id",
            "user_id",
            "number",
            postgresql_where=text(f"type IN ({_labels(PAIR_TYPES)})"),
        ),
    )
    __mapper_args__ = orm_identity("case_id")

    case_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    number: int = Field(sa_type=BigInteger)
    status: Annotated[CaseStatus, any_case(CaseStatus)] = Field(
        default=CaseStatus.ACTIVE,
        sa_type=pg_enum(CaseStatus, "mod_case_status"),
        sa_column_kwargs={"server_default": CaseStatus.ACTIVE.value},
    )
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


personal_data(
    Case,
    "Moderation cases: who was warned, banned or timed out, by whom, and why.",
    retention="kept: a guild's moderation record has no end date unless the guild deletes it",
    personal={"reason": "the moderator's reason"},
    user_id=keep(
        "legitimate interest (GDPR Art. 6(1)(f)) and legal claims (Art. 17(3)(e)): a ban or warning must "
        "outlive an erase request, or erasure becomes ban evasion"
    ),
    moderator_id=Erase.ANONYMISE,
    details=Erase.ANONYMISE,
    **STAMPS,
)


class CaseSummary(SQLModel):
    """What a bot checks about a user on most commands: case counts and pair restrictions.

    Cached per (guild, user) and dropped by every write that changes it, so a
    new case for one user leaves every other user's cached summary alone.
    """

    counts: dict[CaseType, int]
    restrictions: dict[Restriction, bool]


class CaseRead(CaseBase):
    model_config = READ_ONLY

    case_id: int
    number: int
    status: CaseStatus
    processed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: int | None = None
    updated_by: int | None = None


class CaseOverview(SQLModel):
    """A moderator's view of one user: the newest cases and the summary, read in one statement."""

    cases: list[CaseRead]
    summary: CaseSummary


# -- note ---------------------------------------------------------------------------
class NoteBase(SQLModel):
    # Part of the table's key (note_id, guild_id); ignored by the models that are not tables.
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    user_id: Snowflake = snowflake_field()
    moderator_id: Snowflake = snowflake_field()
    content: str = Field(min_length=1, max_length=NOTE_MAX_LENGTH)


class NoteCreate(NoteBase):
    model_config = {"extra": "forbid"}


class NoteEdit(SQLModel):
    content: str = Field(min_length=1, max_length=NOTE_MAX_LENGTH)


class Note(NoteBase, TimestampMixin, AuditMixin, SoftDeleteMixin, CRUDMixin, table=True):
    """A moderator's private remark about a user; deleting keeps the number taken."""

    __table_args__ = (
        # guild_id in every key (co-location by guild: ``guildbase.scaleout``); the id first serves lookups by id.
        PrimaryKeyConstraint("note_id", "guild_id"),
        UniqueConstraint("guild_id", "number"),
        CheckConstraint("number > 0", name="number_positive"),
        Index("ix_note_guild_id_user_id_number", "guild_id", "user_id", "number"),
    )
    __mapper_args__ = orm_identity("note_id")

    note_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    number: int = Field(sa_type=BigInteger)


personal_data(
    Note,
    "Staff notes about a member.",
    retention="until staff delete them (soft delete keeps them as history)",
    personal={"content": "what staff wrote about the member"},
    user_id=Erase.DELETE,
    moderator_id=Erase.ANONYMISE,
    deleted_by=Erase.ANONYMISE,
    **STAMPS,
)


class NoteRead(NoteBase):
    model_config = READ_ONLY

    note_id: int
    number: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    updated_by: int | None = None


class CaseExpiryPayload(pydantic.BaseModel):
    """What a case's expiry job carries: the case, by guild and number."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    guild_id: int = pydantic.Field(gt=0, lt=2**63)
    number: int = pydantic.Field(ge=1)


CASE_EXPIRY: dict[CaseType, JobKind[CaseExpiryPayload]] = {
    case_type: JobKind(f"{case_type.value.lower()}_expiry", CaseExpiryPayload) for case_type in sorted(MAY_EXPIRE)
}
"""The expiry job kind of each type that may expire (``tempban_expiry``, ``timeout_expiry``, ``jail_expiry``)."""
