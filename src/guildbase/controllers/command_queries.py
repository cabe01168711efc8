"""Command usage queries of ``db.logs``: by period, guild, member and command (R13.4).

A ``command`` filter names a command or a group: ``"mod"`` matches ``mod``
itself and every subcommand (``mod ban``, ``mod warn``), because the log keeps
qualified names. Reports over many days read the daily rollup
(``command_stat_daily``); questions the rollup cannot answer (who ran what)
read ``command_log``, whose monthly partitions a period narrows down to.
"""

from datetime import date, datetime, timedelta

from sqlalchemy import text

from guildbase.controllers.base import Controller
from guildbase.db.fast import prepare
from guildbase.db.record_rows import check_columns
from guildbase.db.rows import read_all
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    calendar_date,
    integer,
    optional_aware,
    optional_snowflake,
    optional_text,
    page_limit,
    snowflake,
)
from guildbase.errors import ValidationError
from guildbase.models.logs import ALL_GUILDS, COMMAND_MAX_LENGTH, CommandLogRead, CommandStat, CommandUserStat

__all__ = ["MAX_PAGE", "MAX_REPORT_DAYS", "STATS_STATEMENT", "CommandQueries"]

MAX_PAGE = 100
MAX_REPORT_DAYS = 366
_COMMAND_FILTER = "(CAST(:command AS text) IS NULL OR command = :command OR starts_with(command, :command || ' '))"

_STATS_SQL = text(f"""
SELECT day, command, uses, failures,
       CASE WHEN uses = 0 THEN 0 ELSE duration_ms_total::float8 / uses END AS average_duration_ms
FROM command_stat_daily
WHERE guild_id = :guild_id AND day >= :since AND day < :until AND {_COMMAND_FILTER}
ORDER BY day, command
""")  # noqa: S608 - a constant filter
STATS_STATEMENT = prepare(_STATS_SQL)
"""The usage report's statement (public for the benchmark's limit, which runs it on raw asyncpg)."""

_RECENT_SQL = text(f"""
SELECT log_id, created_at, user_id, NULLIF(guild_id, 0) AS guild_id, channel_id, command, params, is_success,
       error, duration_ms
FROM command_log
WHERE (CAST(:guild_id AS bigint) IS NULL OR guild_id = :guild_id)
  AND (CAST(:user_id AS bigint) IS NULL OR user_id = :user_id)
  AND created_at >= :since AND created_at < :until AND {_COMMAND_FILTER}
ORDER BY created_at DESC
LIMIT :limit
""")  # noqa: S608 - a constant filter

_USERS_SQL = text(f"""
SELECT user_id, count(*) AS uses, count(*) FILTER (WHERE NOT is_success) AS failures,
       avg(duration_ms)::float8 AS average_duration_ms
FROM command_log
WHERE guild_id = :guild_id AND created_at >= :since AND created_at < :until AND {_COMMAND_FILTER}
GROUP BY user_id
ORDER BY uses DESC, user_id
LIMIT :limit
""")  # noqa: S608 - a constant filter


def _command(command: str | None) -> str | None:
    """A command or group name with single spaces, as the log stores qualified names; None for every command."""
    checked = optional_text("command", command, max_length=COMMAND_MAX_LENGTH)
    if checked is None:
        return None
    words = checked.split()
    if not words:
        raise ValidationError.single("command", "blank", "must name a command, got only whitespace")
    return " ".join(words)


def _period(since: datetime | None, until: datetime | None, *, default_days: int) -> tuple[datetime, datetime]:
    end = optional_aware("until", until) or utcnow() + timedelta(seconds=1)
    start = optional_aware("since", since) or end - timedelta(days=default_days)
    if start >= end:
        raise ValidationError.single("since", "before_until", f"must be before until ({end.isoformat()})")
    return start, end


class CommandQueries(Controller):
    """The read side of the command log; ``db.logs`` inherits it."""

    async def recent_commands(
        self,
        *,
        guild_id: int | None = None,
        user_id: int | None = None,
        command: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[CommandLogRead]:
        """The newest logged commands of a guild, a member and/or a command or group (default: the last 7 days)."""
        start, end = _period(since, until, default_days=7)
        params = {
            "guild_id": optional_snowflake("guild_id", guild_id),
            "user_id": optional_snowflake("user_id", user_id),
            "command": _command(command),
            "since": start,
            "until": end,
            "limit": page_limit(limit, MAX_PAGE),
        }
        async with self._read() as session:
            rows = (await session.execute(_RECENT_SQL, params)).mappings().all()
        return read_all(CommandLogRead, rows)

    async def command_stats(
        self, *, days: int = 30, guild_id: int | None = None, command: str | None = None, until: date | None = None
    ) -> list[CommandStat]:
        """Uses per day per command for the ``days`` UTC days before ``until`` (default: through today)."""
        days = integer("days", days, minimum=1, maximum=MAX_REPORT_DAYS)
        guild = optional_snowflake("guild_id", guild_id)
        end = utcnow().date() + timedelta(days=1) if until is None else calendar_date("until", until)
        params = {
            "guild_id": ALL_GUILDS if guild is None else guild,
            "command": _command(command),
            "since": end - timedelta(days=days),
            "until": end,
        }
        async with self._fast(transaction=False) as unit:
            rows: list[CommandStat] = await STATS_STATEMENT.fetch(unit.connection, params, record_class=CommandStat)
        # Rows of our own rollup with its CHECKs, decoded by asyncpg straight into the report rows.
        check_columns(CommandStat, rows)
        return rows

    async def command_users(
        self,
        guild_id: int,
        *,
        command: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10,
    ) -> list[CommandUserStat]:
        """The members who ran the most commands (or one command or group) in a guild over a period.

        The period defaults to the last 30 days.
        """
        start, end = _period(since, until, default_days=30)
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "command": _command(command),
            "since": start,
            "until": end,
            "limit": page_limit(limit, MAX_PAGE),
        }
        async with self._read() as session:
            rows = (await session.execute(_USERS_SQL, params)).mappings().all()
        return read_all(CommandUserStat, rows)
