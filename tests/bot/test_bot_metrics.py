"""The bot's runtime metrics: its command hooks feed the histograms, scraped over HTTP, and its last sample is kept."""

import asyncio
import urllib.request

from fake_discord import FakeDiscord
from harness import running_bot
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from guildbase import Database, Settings


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        body = response.read().decode()
    parsed: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            parsed.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return parsed


async def test_commands_feed_the_latency_histogram_and_error_counter_and_the_last_sample(
    bot_db: Database, settings: Settings, fake_discord: FakeDiscord
) -> None:
    changes = {"metrics_port": 0, "metrics_sample_seconds": 3600, "metrics_process": "bot:metrics-test"}
    async with running_bot(bot_db, settings, fake_discord, **changes) as harness:
        port = harness.bot.metrics.port
        assert port is not None
        await harness.say(harness.alice, "$remind 1h water")
        await harness.say(harness.alice, "$remind soon water")  # a bad duration: the error hook
        await harness.slash(harness.alice, "reminders")
        seen = await asyncio.to_thread(scrape, port)
    count = seen["guildbase_command_duration_seconds_count"]
    assert count[(("command", "remind"),)] == 2
    assert count[(("command", "reminders"),)] == 1
    errors = seen["guildbase_command_errors_total"]
    assert [labels for labels in errors if ("command", "remind") in labels] != []
    assert sum(errors.values()) == 1
    assert harness.bot.metrics.port is None  # the endpoint closed with the bot
    async with bot_db.session() as session:
        rows = await session.execute(
            text(
                "SELECT metric, value FROM runtime_metric_sample "
                "WHERE process = 'bot:metrics-test' AND label = 'remind' ORDER BY metric"
            )
        )
        stored = dict(rows.all())
    assert stored["command_calls"] == 2
    assert stored["command_errors"] == 1
