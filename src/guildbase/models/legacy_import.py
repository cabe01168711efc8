"""Legacy import bookkeeping (R3.5): checkpoints per source and table, and every row the import could not keep.

``guildbase import-legacy`` commits each batch of a legacy table together with
its checkpoint row and the issues of that batch, in one transaction: a run
killed at any point leaves the database at the end of a whole batch, and the
next run continues after ``last_key``. The report of a finished import is
read back from these two tables, so it is the same whether the import ran
once or was interrupted and resumed.

- ``legacy_import_checkpoint``: one row per (source, legacy table): the last
  legacy key done, whether the table is finished, and the cumulative counts
  (read, written, merged into an existing row, skipped).
- ``legacy_import_issue``: one row per legacy row and reason that was skipped,
  merged or adjusted (a value cut, renamed or kept elsewhere); ``original``
  holds what could not be stored, so nothing is lost silently.
"""

from datetime import datetime

from sqlalchemy import BigInteger, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.types import UTCDateTimeType
from guildbase.privacy.policy import Erase, personal_data

__all__ = ["LegacyImportCheckpoint", "LegacyImportIssue"]


class LegacyImportCheckpoint(SQLModel, table=True):
    """How far the import of one legacy table from one source got, and what it did."""

    __tablename__ = "legacy_import_checkpoint"

    source: str = Field(primary_key=True, sa_type=Text)
    table_name: str = Field(primary_key=True, sa_type=Text)
    last_key: str | None = Field(default=None, sa_type=Text)
    is_done: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    rows_read: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    rows_written: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    rows_merged: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    rows_skipped: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    updated_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


class LegacyImportIssue(SQLModel, table=True):
    """One legacy row the import skipped, merged or changed, and why."""

    __tablename__ = "legacy_import_issue"

    source: str = Field(primary_key=True, sa_type=Text)
    table_name: str = Field(primary_key=True, sa_type=Text)
    legacy_key: str = Field(primary_key=True, sa_type=Text)
    reason: str = Field(primary_key=True, sa_type=Text)
    action: str = Field(sa_type=Text)
    original: dict[str, object] | None = Field(default=None, sa_type=JSONB)
    created_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


personal_data(
    LegacyImportIssue,
    "What the legacy import could not keep as it was: a legacy row's key, the reason and the original values.",
    retention="until the operator deletes the import's report rows",
    original=Erase.DELETE,
)
