"""The permission check log (R22.5): every denial and a sample of allows, buffered, one binary COPY per batch.

The writer is a ``db.bulk.BufferedWriter`` like the command log's (bounded
memory, nothing lost on a failed flush, ``close`` writes everything accepted
or raises ``RowsLostError`` holding the rest); batches go through
``db.partitions.copy_into``, so a row in a month without a partition creates
that month and the batch is retried. ``Database.close`` closes it, and the
bot flushes it on shutdown, after the last command's check.

How many allows are kept is ``GUILDBASE_PERMISSION_LOG_ALLOW_RATE`` (1.0, all,
by default); denials are always kept.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from random import random

from sqlalchemy import text

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.db.bulk import BufferedWriter, Row
from guildbase.db.partitions import copy_into
from guildbase.db.rows import read_all
from guildbase.db.types import utcnow
from guildbase.db.validation import instances, optional_aware, page_limit, snowflake
from guildbase.errors import ValidationError
from guildbase.models.permissions import PermissionCheckRead

__all__ = ["CHECK_COLUMNS", "MAX_CHECK_PAGE", "PermissionCheckLog"]

CHECK_COLUMNS = (
    "checked_at",
    "guild_id",
    "user_id",
    "channel_id",
    "command",
    "is_allowed",
    "decided_by",
    "rule_id",
    "required_rank",
    "member_rank",
)
MAX_CHECK_PAGE = 100

_RECENT_SQL = text("""
SELECT check_id, checked_at, guild_id, user_id, channel_id, command, is_allowed, decided_by, rule_id,
       required_rank, member_rank
FROM permission_check
WHERE guild_id = :guild_id AND checked_at >= :since
ORDER BY checked_at DESC, check_id DESC
LIMIT :limit
""")


class PermissionCheckLog(Controller):
    """The check log's writer and its reads; ``db.permissions`` inherits them."""

    def __init__(self, db: UnitOfWork) -> None:
        super().__init__(db)
        self._check_writer: BufferedWriter | None = None

    @property
    def check_writer(self) -> BufferedWriter:
        """The process's check-log writer (created on first use, closed by ``Database.close``)."""
        if self._check_writer is None or self._check_writer.closed:
            settings = self._db.settings
            self._check_writer = BufferedWriter(
                self.write_checks,
                name="permission check rows",
                batch_size=settings.log_flush_rows,
                max_pending=max(settings.log_flush_rows, settings.log_max_pending_rows),
                interval=settings.log_flush_seconds,
                retry_delay=settings.log_retry_seconds,
                max_retry_delay=settings.log_retry_max_seconds,
            )
        return self._check_writer

    def _sampled(self, allowed: bool) -> bool:
        """Whether this check goes to the log: every denial, allows at the configured rate."""
        if not allowed:
            return True
        rate = self._db.settings.permission_log_allow_rate
        return rate >= 1.0 or random() < rate  # noqa: S311 - sampling, not security

    async def write_checks(self, rows: Sequence[Row]) -> None:
        """One batch of checks: one binary COPY into ``permission_check`` (missing months are created).

        ``check`` queues ``checked_at`` as epoch seconds (a float), turned into a timestamp here, per batch.
        """
        checked = instances("rows", rows, tuple)
        for index, row in enumerate(checked):
            if len(row) != len(CHECK_COLUMNS):
                msg = f"must be a tuple of {len(CHECK_COLUMNS)} values, got {len(row)}"
                raise ValidationError.single(f"rows.{index}", "row", msg)
        records = [(datetime.fromtimestamp(r[0], UTC), *r[1:]) if type(r[0]) is float else r for r in checked]
        await copy_into(self._fast, "permission_check", CHECK_COLUMNS, records)

    async def flush(self) -> int:
        """Write the queued checks now; returns how many were written."""
        return 0 if self._check_writer is None else await self._check_writer.flush()

    async def close(self) -> None:
        """Write every queued check and stop accepting more (``Database.close`` calls this).

        Raises:
            RowsLostError: PostgreSQL could not take the rows; the error holds them.
        """
        if self._check_writer is not None:
            await self._check_writer.close()

    async def recent_checks(
        self, guild_id: int, *, since: datetime | None = None, limit: int = 50
    ) -> list[PermissionCheckRead]:
        """The guild's newest logged checks (default: the last 7 days), newest first."""
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "since": optional_aware("since", since) or utcnow() - timedelta(days=7),
            "limit": page_limit(limit, MAX_CHECK_PAGE),
        }
        async with self._write() as session:
            rows = (await session.execute(_RECENT_SQL, params)).mappings().all()
        return read_all(PermissionCheckRead, rows)
