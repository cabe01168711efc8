"""Ticket metrics (R12.4) from the daily rollups: volume by day, panel and staff, durations, backlog, ratings."""

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from guildbase import Database
from guildbase.controllers.ticket_metrics import percentiles
from guildbase.errors import ValidationError
from guildbase.models.tickets import bucket_of, bucket_seconds
from guildbase.testing import ids

pytestmark = pytest.mark.clock

BLOCK = ids.block()
GUILD = BLOCK + 1
STAFF = BLOCK + 201
STAFF2 = BLOCK + 202
STAFF_ROLE = BLOCK + 301
CHANNELS = BLOCK + 400


async def _today(db: Database) -> date:
    async with db.session() as session:
        return (await session.execute(text("SELECT (now() AT TIME ZONE 'UTC')::date"))).scalar_one()  # type: ignore[no-any-return]


def test_histogram_percentiles_are_within_the_bucket_precision() -> None:
    durations = [60.0] * 5 + [600.0] * 4 + [86_400.0]
    buckets: dict[int, int] = {}
    for seconds in durations:
        buckets[bucket_of(seconds)] = buckets.get(bucket_of(seconds), 0) + 1
    stats = percentiles(sorted(buckets.items()))
    assert stats.count == 10
    assert stats.median_seconds is not None
    assert stats.p90_seconds is not None
    assert abs(stats.median_seconds - 60) / 60 < 0.13
    assert abs(stats.p90_seconds - 600) / 600 < 0.13
    assert percentiles([]).median_seconds is None
    assert all(abs(bucket_seconds(bucket_of(s)) - s) / s < 0.13 for s in (60, 90, 3600, 7 * 86_400))


async def test_metrics_add_up_per_day_panel_and_staff(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    support = await db.tickets.create_panel(GUILD, "Support", staff_role_ids=[STAFF_ROLE], open_limit=10)
    billing = await db.tickets.create_panel(GUILD, "Billing", staff_role_ids=[STAFF_ROLE], open_limit=10)
    opened = [await db.tickets.open(GUILD, support.panel_id, BLOCK + 100 + i) for i in range(3)]
    opened.append(await db.tickets.open(GUILD, billing.panel_id, BLOCK + 110))
    for index, ticket in enumerate(opened):
        await db.tickets.set_channel(GUILD, ticket.number, CHANNELS + index)
    async with db.session() as session:  # the first two were opened ten minutes ago
        await session.execute(
            text("UPDATE ticket SET opened_at = now() - interval '10 minutes' WHERE guild_id = :g AND number <= 2"),
            {"g": GUILD},
        )
    await db.tickets.claim(GUILD, 1, STAFF)
    await db.tickets.record_message(GUILD, CHANNELS, BLOCK + 501, STAFF, "hi", role_ids=[STAFF_ROLE])
    await db.tickets.record_message(GUILD, CHANNELS + 1, BLOCK + 502, STAFF2, "hello", role_ids=[STAFF_ROLE])
    await db.tickets.close(GUILD, 1)
    await db.tickets.close(GUILD, 4)
    await db.tickets.rate(GUILD, 1, BLOCK + 100, 5)
    await db.tickets.rate(GUILD, 4, BLOCK + 110, 2)
    await db.tickets.reopen(GUILD, 4)

    today = await _today(db)
    report = await db.tickets.metrics(GUILD, today - timedelta(days=6), today)
    assert (report.opened, report.closed, report.reopened) == (4, 2, 1)
    assert report.per_day == {today: (4, 2)}
    assert report.per_panel == {support.panel_id: (3, 1), billing.panel_id: (1, 1)}
    assert report.per_staff == {STAFF: (1, 1), STAFF2: (0, 1)}
    assert report.first_response.count == 2
    assert report.first_response.median_seconds is not None
    assert 500 < report.first_response.median_seconds < 700  # ten minutes, within the bucket precision
    assert report.resolution.count == 2
    assert report.backlog == 3  # 4 opened + 1 reopened - 2 closed
    assert (report.ratings, report.average_rating) == (2, 3.5)
    only_billing = await db.tickets.metrics(GUILD, today, today, panel_id=billing.panel_id)
    assert (only_billing.opened, only_billing.closed, only_billing.backlog) == (1, 1, 1)
    earlier = await db.tickets.metrics(GUILD, today - timedelta(days=30), today - timedelta(days=1))
    assert (earlier.opened, earlier.backlog, earlier.per_day) == (0, 0, {})
    with pytest.raises(ValidationError, match="last_day"):
        await db.tickets.metrics(GUILD, today, today - timedelta(days=1))
