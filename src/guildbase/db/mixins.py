"""Column mixins every model can combine: timestamps, soft delete, audit, IDs.

They are built with ``sa_type`` + ``sa_column_kwargs`` (never a shared
``sa_column``) so each table gets its own Column objects.
"""

import enum
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import field_validator
from sqlalchemy import ColumnElement, func
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from guildbase.db.context import current_actor
from guildbase.db.types import SnowflakeType, UTCDateTimeType, utcnow, validate_snowflake

__all__ = [
    "ACTING",
    "Actor",
    "AuditMixin",
    "DiscordIDMixin",
    "SoftDeleteMixin",
    "TimestampMixin",
    "Write",
    "actor_columns",
    "live",
    "live_sql",
    "soft_delete_values",
    "stamp",
]


class _Acting(enum.Enum):
    ACTING = "acting"


ACTING = _Acting.ACTING
"""Default of ``actor``: the user set by ``acting_as`` (``db.context.current_actor``)."""

Actor = int | _Acting | None
"""Who a write is attributed to: a user ID, ``ACTING`` (the acting user) or None (nobody)."""

Write = Literal["insert", "update", "delete"]
"""What a write does to a row; a soft delete is a ``delete``."""


class TimestampMixin(SQLModel):
    """``created_at`` / ``updated_at`` kept by PostgreSQL, not by client clocks."""

    created_at: datetime | None = Field(
        default=None,
        sa_type=UTCDateTimeType,
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )
    updated_at: datetime | None = Field(
        default=None,
        sa_type=UTCDateTimeType,
        sa_column_kwargs={"server_default": func.now(), "onupdate": func.now(), "nullable": False},
    )


class SoftDeleteMixin(SQLModel):
    """Rows are marked deleted instead of removed, and hidden from default queries.

    Every ORM ``select`` through a guildbase session skips rows with
    ``deleted_at`` set; pass ``execution_options(include_deleted=True)`` (or
    ``include_deleted=True`` to the CRUD methods) to see them.
    """

    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    deleted_by: int | None = Field(default=None, sa_type=SnowflakeType)

    @property
    def is_deleted(self) -> bool:
        """Whether the row is soft-deleted."""
        return self.deleted_at is not None

    def mark_deleted(self, *, actor: Actor = ACTING) -> None:
        """Soft-delete in memory, attributed to ``actor`` (default: the acting user); flush to persist."""
        self.deleted_at = utcnow()
        stamp(self, "delete", actor=actor)

    def mark_restored(self) -> None:
        """Undo ``mark_deleted``; flush to persist."""
        self.deleted_at = None
        self.deleted_by = None


def live(model: type[SoftDeleteMixin]) -> ColumnElement[bool]:
    """``<table>.deleted_at IS NULL``: the one criterion that hides soft-deleted rows.

    ORM selects get it from the session (``db.session``); a Core statement or
    a statement compiled for the hot path (``db.fast.prepare``) puts it in its
    ``WHERE`` itself; text SQL embeds ``live_sql(model)``. The same criterion
    is the ``index_where`` of an upsert on a live-only unique index.
    """
    column: ColumnElement[Any] = model.__table__.c.deleted_at  # type: ignore[attr-defined]
    return column.is_(None)


def live_sql(model: type[SoftDeleteMixin]) -> str:
    """``live(model)`` rendered for PostgreSQL, for hand-written SQL: ``note.deleted_at IS NULL``."""
    return str(live(model).compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


def soft_delete_values(model: type[SoftDeleteMixin], *, actor: Actor = ACTING) -> dict[str, Any]:
    """The values of a soft delete in a Core ``UPDATE``: ``deleted_at`` now, and the actor columns."""
    return {"deleted_at": func.now(), **actor_columns(model, "delete", actor=actor)}


class AuditMixin(SQLModel):
    """``created_by`` / ``updated_by``: who inserted the row, and who wrote it last.

    Every write path fills them from ``actor_columns``: ORM objects on flush
    (``db.session``), Core statements and prepared SQL by spreading its result
    into their values. ``updated_by`` is the last acting user who wrote the
    row; a write made with nobody acting leaves it as it was.
    """

    created_by: int | None = Field(default=None, sa_type=SnowflakeType)
    updated_by: int | None = Field(default=None, sa_type=SnowflakeType)


def actor_columns(model: type[Any], write: Write, *, actor: Actor = ACTING) -> dict[str, int | None]:
    """The actor columns ``write`` sets on a row of ``model``, and their value: the one way to stamp.

    - ``insert``: ``created_by`` and ``updated_by`` (AuditMixin tables);
    - ``update``: ``updated_by``, only when someone is acting: a write made by
      nobody (a job, the expiry worker) leaves the last acting user in place;
    - ``delete`` (soft): as ``update``, plus ``deleted_by`` (SoftDeleteMixin tables).

    Tables without those mixins get ``{}``, so a statement can always spread
    the result: ``insert(Model).values(**data, **actor_columns(Model, "insert"))``.
    ``actor`` overrides the acting user (a method's explicit ``actor_id``).
    """
    who = current_actor() if actor is ACTING else actor
    columns: dict[str, int | None] = {}
    if issubclass(model, AuditMixin):
        if write == "insert":
            columns["created_by"] = who
        if write == "insert" or who is not None:
            columns["updated_by"] = who
    if write == "delete" and issubclass(model, SoftDeleteMixin):
        columns["deleted_by"] = who
    return columns


def stamp(obj: SQLModel, write: Write, *, actor: Actor = ACTING) -> None:
    """Set ``actor_columns`` on an ORM object (the flush event does this for every write)."""
    for name, value in actor_columns(type(obj), write, actor=actor).items():
        setattr(obj, name, value)


class DiscordIDMixin(SQLModel):
    """Validates every field named in ``__snowflake_fields__`` as a snowflake.

    Use it on Create/Update schemas whose ID fields are plain ``int`` (for
    example, inherited from a legacy model); new fields should use the
    ``Snowflake`` type directly.
    """

    __snowflake_fields__: ClassVar[tuple[str, ...]] = ()

    @field_validator("*", mode="after")
    @classmethod
    def _check_snowflakes(cls, value: Any, info: Any) -> Any:
        if info.field_name in cls.__snowflake_fields__ and value is not None:
            return validate_snowflake(value)
        return value
