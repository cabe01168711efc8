"""Column mixins every model can combine: timestamps, soft delete, audit, IDs.

They are built with ``sa_type`` + ``sa_column_kwargs`` (never a shared
``sa_column``) so each table gets its own Column objects.
"""

from datetime import datetime
from typing import Any, ClassVar

from pydantic import field_validator
from sqlalchemy import func
from sqlmodel import Field, SQLModel

from guildbase.db.context import current_actor
from guildbase.db.types import SnowflakeType, UTCDateTimeType, utcnow, validate_snowflake

__all__ = ["AuditMixin", "DiscordIDMixin", "SoftDeleteMixin", "TimestampMixin"]


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

    def mark_deleted(self) -> None:
        """Soft-delete in memory, attributed to the acting user; flush to persist."""
        self.deleted_at = utcnow()
        self.deleted_by = current_actor()

    def mark_restored(self) -> None:
        """Undo ``mark_deleted``; flush to persist."""
        self.deleted_at = None
        self.deleted_by = None


class AuditMixin(SQLModel):
    """``created_by`` / ``updated_by``: filled on flush from ``acting_as``."""

    created_by: int | None = Field(default=None, sa_type=SnowflakeType)
    updated_by: int | None = Field(default=None, sa_type=SnowflakeType)


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
