"""Jobs domain: one durable queue for everything that must happen later, exactly once in effect.

Design decisions:

- One generic ``job`` table, not a claim loop per domain table. Expiring a
  TEMPBAN, delivering a reminder, ending an AFK and the maintenance jobs of
  later issues all share one claim statement, one lease, one retry policy,
  one ``jobs status`` query and one ``jobs retry ID``.
- A domain enqueues its own job from Python, in the unit of work that writes
  its row (``db.jobs.enqueue_in(session, KIND, …)``): the job commits or rolls
  back with the row. Nothing about a domain lives in this table: a kind is a
  ``JobKind`` (a name and a pydantic payload model) declared next to the
  domain's models, and what the job points at is in its typed ``payload``, so
  a new domain adds timed work with no migration (0007 removed the per-domain
  triggers and the ``case_id`` / ``reminder_id`` / ``user_id`` columns).
- ``guild_id`` is the one reference column, with a cascading foreign key: a
  deleted guild takes its jobs with it. ``dedupe_key`` names what a job is
  about (``"<case_id>"``, ``"<guild_id>:<user_id>"``), so ``cancel_in`` can find it.
- A trigger on ``job`` calls ``pg_notify('guildbase_jobs', kind)`` when a job
  becomes pending; PostgreSQL delivers it at commit, so idle runners wake the
  moment a sooner item exists and never for work they cannot see yet.
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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import pydantic
from pydantic import field_validator
from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.mixins import TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTime, UTCDateTimeType, any_case, pg_enum, snowflake_field
from guildbase.errors import FieldError, ValidationError
from guildbase.models.core import GUILD_FK
from guildbase.privacy.policy import Erase, personal_data

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


P = TypeVar("P", bound=pydantic.BaseModel)


def check_kind_name(field: str, name: str) -> str:
    """A kind name is 1-64 characters of ``a-z0-9_.``, starting with a letter (``ticket.autoclose``)."""
    if not (isinstance(name, str) and 1 <= len(name) <= KIND_MAX_LENGTH and re.fullmatch(KIND_PATTERN, name)):
        shown = repr(name)[:80]
        msg = f"must be 1-{KIND_MAX_LENGTH} characters of a-z, 0-9, '_' and '.', starting with a letter; got {shown}"
        raise ValidationError.single(field, "pattern", msg)
    return name


@dataclass(frozen=True, slots=True)
class JobKind(Generic[P]):
    """A kind of timed work and the typed payload its jobs carry, declared once next to its domain.

    ``JobKind("ticket.autoclose", AutoClosePayload)`` is all a domain adds to get
    timed work: its controller calls ``db.jobs.enqueue_in(session, KIND, payload=…)``
    in the unit of work that writes its row, and the bot registers a handler
    for it (``registry.register(KIND, handler)``), which receives the payload
    validated by the same model. No column, trigger or migration.

    Attributes:
        name: the ``job.kind`` string.
        payload: the pydantic model of ``job.payload``; validated when a job is
            enqueued and again when it runs.
    """

    name: str
    payload: type[P]

    def __post_init__(self) -> None:
        check_kind_name("kind", self.name)

    def parse(self, payload: "P | Mapping[str, Any]") -> P:
        """The payload as its model; errors name ``payload.<field>``."""
        if isinstance(payload, self.payload):
            return payload
        data = payload.model_dump() if isinstance(payload, pydantic.BaseModel) else payload
        try:
            return self.payload.model_validate(data)
        except pydantic.ValidationError as error:
            raise _prefixed(ValidationError.from_pydantic(error)) from None

    def dump(self, payload: "P | Mapping[str, Any]") -> dict[str, Any]:
        """The validated payload as JSON-ready data (what is stored in ``job.payload``)."""
        return self.parse(payload).model_dump(mode="json")


def _prefixed(error: ValidationError) -> ValidationError:
    return ValidationError([FieldError(f"payload.{e.field}", e.rule, e.message) for e in error.errors])


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


personal_data(
    Job,
    "Timed work; a payload may name a user (an AFK's expiry).",
    retention="pending until run; finished jobs until the purge job removes them",
    payload=Erase.DELETE,
    dedupe_key=Erase.DELETE,
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

    guild_id: int | None = Field(default=None, gt=0, lt=2**63)
    """The guild the job belongs to: deleting the guild deletes the job."""


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
