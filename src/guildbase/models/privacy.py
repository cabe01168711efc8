"""Privacy domain: the record of every export and erase of a user's data (R10.2).

Design decisions:

- One row per request (``privacy_request``), written before any data is read
  or erased, in its own committed transaction: a request that fails midway
  still leaves its row, with status ``failed`` and the error's class.
- The row holds who asked, about whom, when, the outcome and the row counts
  per table and action (``{"member": {"delete": 3}}``), never the data itself:
  it is the proof that the request was done, and must not undo the erase.
- Status ``erased`` means the database part committed (one transaction) and
  the Redis clean-up has not finished yet; running the erase again finishes it
  (every step is idempotent).
- The erase's audit row (``privacy_erase``, entity ``privacy_request``) names
  the request, not the user; the request row is kept by its own policy.
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, pg_enum, snowflake_field
from guildbase.privacy.policy import keep, personal_data

__all__ = ["PrivacyRequest", "PrivacyRequestKind", "PrivacyRequestRead", "PrivacyRequestStatus"]


class PrivacyRequestKind(enum.StrEnum):
    """What was asked for: a copy of the user's data, or its erasure."""

    EXPORT = "export"
    ERASE = "erase"


class PrivacyRequestStatus(enum.StrEnum):
    """Where a request is; ``erased``: the database part is done, Redis is not yet."""

    PENDING = "pending"
    ERASED = "erased"
    DONE = "done"
    FAILED = "failed"


class PrivacyRequest(SQLModel, table=True):
    """One export or erase of one user's data, and its outcome."""

    __tablename__ = "privacy_request"
    __table_args__ = (
        # "Was this user erased, and when": the requests about one user, newest last.
        Index("ix_privacy_request_user_id_requested_at", "user_id", "requested_at"),
    )

    request_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    kind: PrivacyRequestKind = Field(sa_type=pg_enum(PrivacyRequestKind, "privacy_request_kind"))
    user_id: Snowflake = snowflake_field()
    requested_by: Snowflake = snowflake_field()
    status: PrivacyRequestStatus = Field(
        default=PrivacyRequestStatus.PENDING,
        sa_type=pg_enum(PrivacyRequestStatus, "privacy_request_status"),
        sa_column_kwargs={"server_default": PrivacyRequestStatus.PENDING.value},
    )
    counts: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")}
    )
    error: str | None = Field(default=None, sa_type=Text)
    requested_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


personal_data(
    PrivacyRequest,
    "The record of each export and erase: who asked, about whom, when, the outcome and the row counts.",
    retention="kept: it is the proof the request was honoured (nothing in guildbase deletes it)",
    not_user={"counts": "row counts per table and action, never an ID"},
    user_id=keep("proof that the erase or export was done (GDPR Art. 5(2) accountability, Art. 12(3) and 17)"),
    requested_by=keep("who asked for it, for the same accountability"),
)


class PrivacyRequestRead(SQLModel):
    """A request as ``db.privacy`` returns it; ``counts`` is ``{table: {action: rows}}`` plus ``redis``."""

    model_config = READ_ONLY

    request_id: int
    kind: PrivacyRequestKind
    user_id: int
    requested_by: int
    status: PrivacyRequestStatus
    counts: dict[str, Any]
    error: str | None
    requested_at: datetime
    finished_at: datetime | None

    @property
    def total(self) -> int:
        """Database rows the request touched (Redis entries not included)."""
        return sum(
            int(count)
            for table, actions in self.counts.items()
            if table != "redis" and isinstance(actions, dict)
            for count in actions.values()
        )
