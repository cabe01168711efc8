"""Jobs domain: one durable queue for everything that must happen later, exactly once in effect.

Design decisions:

- One generic ``job`` table, not a claim loop per domain table. Expiring a
  TEMPBAN, delivering a reminder, ending an AFK and the maintenance jobs of
  later issues all share one claim statement, one lease, one retry policy,
  one ``jobs status`` query and one ``jobs retry ID``.
- Domain rows enqueue their own job: triggers on ``mod_case``, ``reminder``
  and ``afk`` (migration 0005) insert, replace or delete the job row in the
  same transaction as the domain write, whoever the writer is (a controller,
  the legacy importer, a bulk COPY). A trigger on ``job`` calls
  ``pg_notify('guildbase_jobs', kind)``, which PostgreSQL delivers at commit,
  so idle runners wake the moment a sooner item exists.
- References are real columns with cascading foreign keys (``case_id``,
  ``reminder_id``, ``guild_id``): a deleted guild takes its jobs with it.
  An AFK job is identified by ``kind = 'afk_expiry'`` + (``guild_id``, ``user_id``).
- ``attempts`` only ever grows for one row and is fenced on every outcome
  (``status = 'running' AND attempts = :attempt AND locked_by = :worker``), so
  a worker whose lease ran out cannot overwrite the outcome of a newer attempt.
  ``retry`` raises ``max_attempts`` instead of resetting ``attempts``.
- A recurring job (``interval_seconds``) is one row per run: finishing a run
  inserts the next one, so every run keeps its own attempts and error.
- ``kind`` is free text, not an enum: adapters and later issues register new
  kinds without a migration.
"""

import enum
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import field_validator
from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.mixins import TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTime, UTCDateTimeType, any_case, pg_enum, snowflake_field
from guildbase.models.core import GUILD_FK

KIND_MAX_LENGTH = 64
KIND_PATTERN = r"^[a-z][a-z0-9_.]*$"
DEDUPE_KEY_MAX_LENGTH = 200
WORKER_MAX_LENGTH = 200
ERROR_MAX_LENGTH = 2000
DEFAULT_MAX_ATTEMPTS = 5
MAX_ATTEMPTS_LIMIT = 100
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
NOTIFY_CHANNEL = "guildbase_jobs"
"""The LISTEN/NOTIFY channel; the payload is the job's kind."""


class JobStatus(enum.StrEnum):
    """Where a job is: waiting (``pending``), leased by a worker (``running``), or finished."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BuiltinKind(enum.StrEnum):
    """The kinds the migration's triggers enqueue; their handlers live in ``guildbase.jobs.handlers``."""

    TEMPBAN_EXPIRY = "tempban_expiry"
    TIMEOUT_EXPIRY = "timeout_expiry"
    JAIL_EXPIRY = "jail_expiry"
    REMINDER_DELIVERY = "reminder_delivery"
    AFK_EXPIRY = "afk_expiry"


class JobFields(SQLModel):
    kind: str = Field(min_length=1, max_length=KIND_MAX_LENGTH)
    run_at: UTCDateTime = Field(sa_type=UTCDateTimeType)
    payload: dict[str, Any] = Field(
        default_factory=dict,
        sa_type=JSONB,
        sa_column_kwargs={"server_default": text("'{}'::jsonb"), "default": None},
    )
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=DEDUPE_KEY_MAX_LENGTH)
    """At most one pending or running job per (kind, dedupe_key); finished ones are history."""
    max_attempts: int = Field(
        default=DEFAULT_MAX_ATTEMPTS, sa_type=Integer, sa_column_kwargs={"server_default": str(DEFAULT_MAX_ATTEMPTS)}
    )
    """The attempt count at which the job gives up; ``retry`` raises it, attempts never go down."""
    interval_seconds: int | None = Field(default=None, ge=1, le=MAX_INTERVAL_SECONDS, sa_type=Integer)
    """Set on recurring jobs: finishing a run schedules the next one this much later."""


class Job(JobFields, TimestampMixin, table=True):
    """One unit of deferred work and its delivery state."""

    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="attempts_within_budget"),
        CheckConstraint(
            "status <> 'running' OR (locked_until IS NOT NULL AND locked_by IS NOT NULL)", name="running_is_leased"
        ),
        CheckConstraint("num_nonnulls(case_id, reminder_id) <= 1", name="one_target"),
        CheckConstraint("interval_seconds IS NULL OR interval_seconds > 0", name="interval_positive"),
        # Partial: the claim scan only looks at pending jobs, a small slice once history accumulates.
        Index("ix_job_due", "run_at", postgresql_where=text("status = 'pending'")),
        # Partial: lease recovery only looks at running jobs, a handful at any moment.
        Index("ix_job_lease", "locked_until", postgresql_where=text("status = 'running'")),
        # Partial: `jobs status` counts unfinished jobs per kind; done jobs are the bulk and never counted.
        Index("ix_job_kind_status", "kind", "status", postgresql_where=text("status <> 'done'")),
        # Partial: guild deletion cascades here; maintenance jobs and DM reminders have no guild.
        Index("ix_job_guild_id", "guild_id", postgresql_where=text("guild_id IS NOT NULL")),
        # Partial unique: one live job per dedupe key; finished runs stay as history under the same key.
        Index(
            "uq_job_kind_dedupe_key",
            "kind",
            "dedupe_key",
            unique=True,
            postgresql_where=text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL"),
        ),
        # Partial unique: the AFK triggers find (and replace) the one expiry job of an AFK.
        Index(
            "uq_job_afk",
            "guild_id",
            "user_id",
            unique=True,
            postgresql_where=text("kind = 'afk_expiry'"),
        ),
    )

    job_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    status: Annotated[JobStatus, any_case(JobStatus)] = Field(
        default=JobStatus.PENDING,
        sa_type=pg_enum(JobStatus, "job_status"),
        sa_column_kwargs={"server_default": JobStatus.PENDING.value},
    )
    attempts: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")})
    last_error: str | None = Field(default=None, sa_type=Text)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    """End of the running worker's lease; after it, another worker may take the job."""
    locked_by: str | None = Field(default=None, sa_type=String(WORKER_MAX_LENGTH))
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    guild_id: Snowflake | None = snowflake_field(default=None, foreign_key=GUILD_FK, ondelete="CASCADE")
    user_id: Snowflake | None = snowflake_field(default=None)
    case_id: int | None = Field(
        default=None, sa_type=BigInteger, foreign_key="mod_case.case_id", ondelete="CASCADE", unique=True
    )
    reminder_id: int | None = Field(
        default=None, sa_type=BigInteger, foreign_key="reminder.reminder_id", ondelete="CASCADE", unique=True
    )


class JobCreate(JobFields):
    """Input of ``db.jobs.enqueue``."""

    model_config = {"extra": "forbid"}

    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1, le=MAX_ATTEMPTS_LIMIT)

    @field_validator("kind")
    @classmethod
    def _kind_is_a_name(cls, value: str) -> str:
        if not re.fullmatch(KIND_PATTERN, value):
            msg = "must be lowercase letters, digits, '_' and '.', starting with a letter"
            raise ValueError(msg)
        return value


class JobRead(JobFields):
    model_config = READ_ONLY

    job_id: int
    status: JobStatus
    attempts: int
    last_error: str | None
    locked_until: datetime | None
    locked_by: str | None
    finished_at: datetime | None
    guild_id: int | None
    user_id: int | None
    case_id: int | None
    reminder_id: int | None
    created_at: datetime
    updated_at: datetime


class JobKindStatus(SQLModel):
    """One row of ``guildbase jobs status``."""

    kind: str
    due: int
    """Pending and due now (waiting for a worker)."""
    scheduled: int
    """Pending, due later."""
    running: int
    failed: int
