"""W16 ticket open (number, row, event; 32 concurrent openers in one guild) and W17 ticket metrics over 1M tickets.

W16's limit runs the very SQL texts ``db.tickets.open`` runs (the per-opener
advisory lock, the guard, the numbered insert with its audit row, the event
with its rollup increment) on raw asyncpg in one transaction; what guildbase
adds is argument checks, the feature gate (cached) and the read model. The
naive variant is ``max(number) + 1`` in a SQLModel session, retried on the
unique key.

W17 seeds 1M tickets (20k with ``--quick``) over a year, builds their daily
rollups from those rows, and asks for a 30-day report: guildbase and the
limit read the rollups (the limit with the same three statements on raw
asyncpg), naive aggregates the ticket table itself.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bench.harness import Runner, Variant, environment
from bench.workloads import G0, U0, Scale, numbering_checks, seed_guilds, summarize
from guildbase.controllers.tickets import GUARD_SQL, LOCK_SQL, OPEN_TICKET, TRAIL_SQL, open_lock_key
from guildbase.models.ticket_records import TicketEvent
from guildbase.models.tickets import Ticket, TicketEventKind, TicketRead

DAYS = 365
PANELS = 5
STAFF = 20


async def w16(scale: Scale, rounds: int) -> dict[str, Any]:
    ops, tasks = scale.pick(150, 3000), 32
    guilds = {"guildbase": G0 + 1, "limit": G0 + 2, "naive": G0 + 3}
    # 32 openers queue for 10 connections; on a shared machine a wait can pass the 5 s default
    async with environment({"pool_max_overflow": 0, "pool_timeout": 60}) as env:
        await seed_guilds(env, G0 + 1, 3)
        panels = {}
        for name, guild in guilds.items():
            await env.db.guild_config.set_feature(guild, "tickets", enabled=True)
            panels[name] = (await env.db.tickets.create_panel(guild, "Support")).panel_id

        def ours(index: int) -> Any:
            return env.db.tickets.open(guilds["guildbase"], panels["guildbase"], U0 + index)

        async def limit(index: int) -> Any:
            guild, panel, opener = guilds["limit"], panels["limit"], U0 + index
            async with env.limit.acquire() as connection, connection.transaction():
                await connection.execute(LOCK_SQL, open_lock_key(guild, opener))
                guard = await connection.fetchrow(GUARD_SQL, guild, panel, opener)
                if guard["open_count"] >= guard["open_limit"]:
                    msg = "open limit"
                    raise RuntimeError(msg)
                values = {"guild_id": guild, "panel_id": panel, "opener_id": opener, "answers": "{}"}
                params = OPEN_TICKET.numbered.params(values) | {
                    "audit_actor_id": None,
                    "audit_source": None,
                    "audit_correlation_id": None,
                }
                row = await connection.fetchrow(OPEN_TICKET.prepared.sql, *OPEN_TICKET.prepared.args(params))
                await connection.execute(TRAIL_SQL, row["ticket_id"], guild, opener, '{"panel_id": 1}', panel)
            return TicketRead.model_validate({**dict(row), "answers": json.loads(row["answers"])})

        async def naive(index: int) -> None:
            guild, panel, opener = guilds["naive"], panels["naive"], U0 + index
            for _ in range(200):
                try:
                    async with env.naive() as session:
                        last = (
                            await session.execute(select(func.max(Ticket.number)).where(col(Ticket.guild_id) == guild))
                        ).scalar()
                        ticket = Ticket(guild_id=guild, number=(last or 0) + 1, panel_id=panel, opener_id=opener)
                        session.add(ticket)
                        await session.flush()
                        assert ticket.ticket_id is not None  # noqa: S101
                        session.add(
                            TicketEvent(
                                ticket_id=ticket.ticket_id, guild_id=guild, kind=TicketEventKind.OPENED, actor_id=opener
                            )
                        )
                        await session.commit()
                        return
                except IntegrityError:
                    continue
            msg = "naive ticket numbering gave up after 200 attempts"
            raise RuntimeError(msg)

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, ops, tasks),
                Variant("limit", limit, ops, tasks),
                Variant("naive", naive, scale.pick(150, 500), tasks),
            ]
        )
        checks = await numbering_checks(env, "ticket", guilds)
        return {"variants": summarize(results), "checks": checks}


SEED_TICKETS = """
INSERT INTO ticket (guild_id, number, panel_id, opener_id, status, claimed_by, assignee_id, opened_at,
                    first_response_at, closed_at, rating)
SELECT $1, n, $2::bigint + n % $5, $3::bigint + n % 50000,
       CASE WHEN n % 10 = 0 THEN 'open'::ticket_status ELSE 'closed'::ticket_status END,
       $3::bigint + 1000000 + n % $6, $3::bigint + 1000000 + n % $6, t.opened,
       t.opened + make_interval(secs => 30 + (n * 7919) % 7200),
       CASE WHEN n % 10 = 0 THEN NULL ELSE t.opened + make_interval(secs => 600 + (n * 104729) % 259200) END,
       CASE WHEN n % 3 = 0 AND n % 10 <> 0 THEN 1 + n % 5 END
FROM generate_series(1::bigint, $4::bigint) AS n,
     LATERAL (SELECT $7::timestamptz + make_interval(secs => (n::float8 / $4) * $8 * 86400) AS opened) AS t
"""
SEED_DAILY = """
INSERT INTO ticket_daily (guild_id, day, panel_id, staff_id, opened, closed, first_responses, ratings, rating_sum)
SELECT guild_id, day, panel_id, staff_id, sum(opened), sum(closed), sum(first), sum(rated), sum(stars)
FROM (
  SELECT guild_id, (opened_at AT TIME ZONE 'UTC')::date AS day, panel_id, 0::bigint AS staff_id,
         1 AS opened, 0 AS closed, 0 AS first, 0 AS rated, 0 AS stars FROM ticket WHERE guild_id = $1
  UNION ALL
  SELECT guild_id, (closed_at AT TIME ZONE 'UTC')::date, panel_id, claimed_by, 0, 1, 0,
         (rating IS NOT NULL)::int, coalesce(rating, 0) FROM ticket WHERE guild_id = $1 AND closed_at IS NOT NULL
  UNION ALL
  SELECT guild_id, (first_response_at AT TIME ZONE 'UTC')::date, panel_id, claimed_by, 0, 0, 1, 0, 0
  FROM ticket WHERE guild_id = $1
) AS e GROUP BY guild_id, day, panel_id, staff_id
"""
SEED_DURATIONS = """
INSERT INTO ticket_daily_duration (guild_id, day, panel_id, metric, bucket, count)
SELECT guild_id, day, panel_id, metric, bucket, count(*) FROM (
  SELECT guild_id, (first_response_at AT TIME ZONE 'UTC')::date AS day, panel_id,
         'first_response'::ticket_duration_metric AS metric, LEAST(120, floor(ln(extract(epoch FROM first_response_at - opened_at) + 1) / ln(1.25)))::smallint
         AS bucket FROM ticket WHERE guild_id = $1
  UNION ALL
  SELECT guild_id, (closed_at AT TIME ZONE 'UTC')::date, panel_id, 'resolution',
         LEAST(120, floor(ln(extract(epoch FROM closed_at - opened_at) + 1) / ln(1.25)))::smallint FROM ticket WHERE guild_id = $1 AND closed_at IS NOT NULL
) AS d GROUP BY guild_id, day, panel_id, metric, bucket
"""
LIMIT_VOLUME = """SELECT day, panel_id, staff_id, GROUPING(day, panel_id, staff_id) AS grouping, sum(opened), sum(closed),
  sum(reopened), sum(first_responses), sum(ratings), sum(rating_sum) FROM ticket_daily
WHERE guild_id = $1 AND day BETWEEN $2 AND $3 GROUP BY GROUPING SETS ((day), (panel_id), (staff_id), ())"""
LIMIT_DURATIONS = """SELECT metric, bucket, sum(count) FROM ticket_daily_duration
WHERE guild_id = $1 AND day BETWEEN $2 AND $3 GROUP BY metric, bucket ORDER BY metric, bucket"""
LIMIT_BACKLOG = (
    "SELECT coalesce(sum(opened + reopened - closed), 0) FROM ticket_daily WHERE guild_id = $1 AND day <= $2"
)


async def w17(scale: Scale, rounds: int) -> dict[str, Any]:
    tickets = scale.pick(20_000, 1_000_000)
    guild = G0 + 1
    end_day = datetime.now(UTC).date()
    start = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC) - timedelta(days=DAYS)
    async with environment() as env:
        await seed_guilds(env, guild, 1)
        panel_ids = [(await env.db.tickets.create_panel(guild, f"Panel {p}")).panel_id for p in range(PANELS)]
        first_panel = min(panel_ids)
        await env.sql(SEED_TICKETS, guild, first_panel, U0, tickets, PANELS, STAFF, start, DAYS)
        await env.sql(
            "INSERT INTO guild_counter (guild_id, kind, last_value) VALUES ($1, 'ticket', $2)", guild, tickets
        )
        await env.sql(SEED_DAILY, guild)
        await env.sql(SEED_DURATIONS, guild)
        for table in ("ticket", "ticket_daily", "ticket_daily_duration"):
            await env.sql(f"ANALYZE {table}")
        rollup_rows = await env.fetchval("SELECT count(*) FROM ticket_daily WHERE guild_id = $1", guild)

        def window(index: int) -> tuple[Any, Any]:
            last = end_day - timedelta(days=index % 300)
            return last - timedelta(days=29), last

        async def ours(index: int) -> Any:
            first, last = window(index)
            return await env.db.tickets.metrics(guild, first, last)

        async def limit(index: int) -> Any:
            first, last = window(index)
            async with env.limit.acquire() as connection:
                volume = await connection.fetch(LIMIT_VOLUME, guild, first, last)
                durations = await connection.fetch(LIMIT_DURATIONS, guild, first, last)
                backlog = await connection.fetchval(LIMIT_BACKLOG, guild, last)
            return volume, durations, backlog

        async def naive(index: int) -> Any:
            first, last = window(index)
            since = datetime(first.year, first.month, first.day, tzinfo=UTC)
            until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
            opened = col(Ticket.opened_at)
            day = func.date_trunc("day", opened).label("day")
            async with env.naive() as session:
                per_day = (
                    await session.execute(
                        select(day, func.count())
                        .where(col(Ticket.guild_id) == guild, opened >= since, opened < until)
                        .group_by(day)
                    )
                ).all()
                durations = (
                    await session.execute(
                        select(
                            func.percentile_cont(0.5).within_group(col(Ticket.closed_at) - opened),
                            func.percentile_cont(0.9).within_group(col(Ticket.closed_at) - opened),
                            func.avg(col(Ticket.rating)),
                        ).where(col(Ticket.guild_id) == guild, opened >= since, opened < until)
                    )
                ).all()
            return per_day, durations

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, scale.pick(30, 500), 4),
                Variant("limit", limit, scale.pick(30, 500), 4),
                Variant("naive", naive, scale.pick(4, 20), 2),
            ]
        )
        year = await env.db.tickets.metrics(guild, start.date(), end_day)
        not_closed = await env.fetchval(
            "SELECT count(*) FROM ticket WHERE guild_id = $1 AND (closed_at IS NULL OR "
            "(closed_at AT TIME ZONE 'UTC')::date > $2)",
            guild,
            end_day,
        )
        return {
            "variants": summarize(results),
            "checks": {
                "tickets": tickets,
                "rollup_rows": rollup_rows,
                "year_report_opened_equals_tickets": year.opened == tickets,
                "backlog_equals_tickets_not_closed_by_the_last_day": year.backlog == not_closed,
            },
            "notes": "30-day windows over a year of 1M tickets; guildbase and limit read the daily rollups, "
            "naive aggregates the ticket table (percentile_cont)",
        }
