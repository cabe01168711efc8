"""``db.runtime_metrics``: samples in, series and error rates out, partitions kept (R6.4, R13.3)."""

from datetime import UTC, datetime, timedelta

import pytest

from guildbase import Database, ValidationError
from guildbase.db.partitions import add_months, month_of
from guildbase.models.runtime_metrics import RETENTION_MONTHS, RuntimeMetric
from guildbase.testing import ids, shifted_now

pytestmark = pytest.mark.clock

BLOCK = ids.block()
GUILD = BLOCK + 1
USER = BLOCK + 101


def hour_start() -> datetime:
    return shifted_now().replace(minute=0, second=0, microsecond=0)


async def test_a_series_is_bucketed_with_mean_peak_and_total_per_process_and_label(pooled_db: Database) -> None:
    start = hour_start()
    rows = [
        (start + timedelta(seconds=10 * n), process, "command_calls", command, float(n + weight))
        for n in range(12)  # two minutes of 10 s samples
        for process, command, weight in (("bot:a", "ping", 0), ("bot:b", "ping", 100), ("bot:a", "rank", 1000))
    ]
    assert await pooled_db.runtime_metrics.record_samples(rows) == 36
    metrics = pooled_db.runtime_metrics
    until = start + timedelta(minutes=2)
    first, second = await metrics.series(
        RuntimeMetric.COMMAND_CALLS, since=start, until=until, process="bot:a", label="ping", bucket_seconds=60
    )
    assert (first.at, first.samples, first.value, first.peak, first.total) == (start, 6, 2.5, 5.0, 15.0)
    assert (second.at, second.samples, second.total) == (start + timedelta(minutes=1), 6, 51.0)
    both = await metrics.series("command_calls", since=start, until=until, label="ping", bucket_seconds=120)
    assert [(p.samples, p.total) for p in both] == [(24, 66.0 + 66.0 + 1200.0)]
    assert await metrics.series("pool_in_use", since=start, until=until) == []
    assert await metrics.series("command_calls", since=until, until=until + timedelta(hours=1)) == []


async def test_bad_samples_and_periods_are_refused_naming_the_field(pooled_db: Database) -> None:
    metrics = pooled_db.runtime_metrics
    at = shifted_now()
    with pytest.raises(ValidationError) as raised:
        await metrics.record_samples([(at, "bot", "command_calls", "", 1.0), (at, "bot", "cpu", "", 1.0)])
    assert raised.value.fields == ["rows.1.metric"]
    with pytest.raises(ValidationError) as raised:
        await metrics.record_samples([(at, "bot", "pool_in_use", "", float("nan"))])
    assert raised.value.fields == ["rows.0.value"]
    with pytest.raises(ValidationError) as raised:
        await metrics.record_samples([(at, "bot", "pool_in_use")])
    assert raised.value.fields == ["rows.0"]
    with pytest.raises(ValidationError) as raised:
        await metrics.series("pool_in_use", since=at, until=at)
    assert raised.value.fields == ["until"]
    with pytest.raises(ValidationError) as raised:
        await metrics.series("pool_in_use", since=at - timedelta(days=365), until=at, bucket_seconds=1)
    assert raised.value.fields == ["bucket_seconds"]
    assert await metrics.series("pool_in_use", since=at - timedelta(days=1), until=at + timedelta(days=1)) == []


async def test_error_rates_per_command_come_from_the_command_log(pooled_db: Database) -> None:
    now = shifted_now()
    for n in range(10):
        await pooled_db.logs.record_command(USER, "ban", guild_id=GUILD, success=n >= 4, created_at=now)
        await pooled_db.logs.record_command(USER, "ping", guild_id=GUILD, success=n != 0, created_at=now)
    await pooled_db.logs.record_command(USER, "ping", guild_id=GUILD, created_at=now - timedelta(days=40))
    await pooled_db.logs.flush()
    tomorrow = now.date() + timedelta(days=1)  # ``until`` is the first day not counted
    ban, ping = await pooled_db.runtime_metrics.command_error_rates(days=7, guild_id=GUILD, until=tomorrow)
    assert (ban.command, ban.uses, ban.failures, ban.error_rate) == ("ban", 10, 4, 0.4)
    assert (ping.command, ping.uses, ping.failures, ping.error_rate) == ("ping", 10, 1, 0.1)
    assert ban.first_day == ban.last_day == now.date()
    everywhere = await pooled_db.runtime_metrics.command_error_rates(days=60, until=tomorrow)
    assert {(r.command, r.uses) for r in everywhere} == {("ban", 10), ("ping", 11)}


async def test_retention_drops_old_sample_months_and_creates_new_ones_across_a_month_boundary(
    pooled_db: Database,
) -> None:
    metrics = pooled_db.runtime_metrics
    this_month = month_of(shifted_now())
    oldest_kept = add_months(this_month, -RETENTION_MONTHS)
    too_old = add_months(this_month, -RETENTION_MONTHS - 1)
    rows = [(datetime(m.year, m.month, 15, tzinfo=UTC), "bot", "pool_in_use", "", 1.0) for m in (too_old, oldest_kept)]
    await metrics.record_samples(rows)  # their months are created on demand

    ahead = 4  # one past what the migration created, so the second run has a month to add
    changes = await metrics.maintain_partitions(now=shifted_now(), months_ahead=ahead)
    names = set(await metrics.partitions())
    assert f"runtime_metric_sample_p{too_old:%Y%m}" in changes["dropped"]
    assert {f"runtime_metric_sample_p{add_months(this_month, n):%Y%m}" for n in (-RETENTION_MONTHS, 0, ahead)} <= names
    assert f"runtime_metric_sample_p{too_old:%Y%m}" not in names

    next_month = add_months(this_month, 1)
    moved = datetime(next_month.year, next_month.month, 1, 0, 30, tzinfo=UTC)
    changes = await metrics.maintain_partitions(now=moved, months_ahead=ahead)
    assert changes == {
        "created": [f"runtime_metric_sample_p{add_months(this_month, ahead + 1):%Y%m}"],
        "dropped": [f"runtime_metric_sample_p{oldest_kept:%Y%m}"],
    }
    since = datetime(too_old.year, too_old.month, 1, tzinfo=UTC)
    assert await metrics.series("pool_in_use", since=since, until=moved, bucket_seconds=86_400) == []
