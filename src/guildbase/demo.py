"""The main job behind ``guildbase demo``: migrate, seed every domain, summarize.

Seeding goes through the public controllers only, so the demo doubles as an
end-to-end check that the facade works on a fresh machine. Re-running it is
safe: every write is an upsert keyed by deterministic IDs.
"""

import asyncio
import random
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select

from guildbase.config import Settings
from guildbase.database import Database
from guildbase.db.context import acting_as
from guildbase.db.types import make_snowflake
from guildbase.models import metadata
from guildbase.models.core import BlacklistTarget, Feature

DEMO_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
GUILD_NAMES = ["Pixel Lounge", "Rustaceans Café", "Night Owls", "Study Hall", "Speedrun Central"]


def demo_guild_id(index: int) -> int:
    """Stable IDs so a second demo run updates instead of duplicating."""
    return make_snowflake(DEMO_EPOCH + timedelta(days=index), sequence=1)


def demo_user_id(index: int) -> int:
    """Stable member IDs."""
    return make_snowflake(DEMO_EPOCH + timedelta(minutes=index), sequence=2)


async def seed_core(db: Database, progress: Progress, *, guilds: int, members: int) -> None:
    """Guilds with config and feature toggles, members, and a few blacklist entries."""
    rng = random.Random(42)  # noqa: S311 - demo data, not security
    owner = demo_user_id(0)
    task = progress.add_task("guilds, config and members", total=guilds * (members + 1))
    with acting_as(owner):
        for index in range(guilds):
            guild_id = demo_guild_id(index)
            await db.guilds.join(guild_id, name=GUILD_NAMES[index % len(GUILD_NAMES)])
            await db.guild_config.update(
                guild_id,
                prefix=rng.choice(["$", "!", "?", ">>"]),
                mod_log_channel_id=make_snowflake(DEMO_EPOCH + timedelta(hours=index), 3),
                welcome_message="Welcome {user} to {guild}!",
            )
            await db.guild_config.set_feature(guild_id, Feature.STARBOARD, enabled=True)
            await db.guild_config.set_feature(guild_id, Feature.TICKETS, enabled=index % 2 == 0)
            progress.advance(task)
            for member in range(members):
                await db.members.ensure(guild_id, demo_user_id(member))
                progress.advance(task)
            await db.members.set_blacklisted(guild_id, demo_user_id(members - 1), blacklisted=True, reason="spam")
        await db.blacklist.add(BlacklistTarget.USER, demo_user_id(10_000), reason="raid account", author_id=owner)


async def table_counts(db: Database) -> dict[str, int]:
    """Rows per table, for the summary."""
    counts = {}
    async with db.read_session() as session:
        for name, table in sorted(metadata.tables.items()):
            counts[name] = int((await session.execute(select(func.count()).select_from(table))).scalar_one())
    return counts


async def run_demo(settings: Settings, console: Console, *, guilds: int, members: int, keep_running: bool) -> None:
    """Migrate to head, seed, and print a summary with connection instructions."""
    db = Database(settings)
    await db.connect(migrate=True)
    try:
        console.print("[bold]guildbase demo[/bold]: schema migrated to head")
        with Progress(console=console) as progress:
            await seed_core(db, progress, guilds=guilds, members=members)
        counts = await table_counts(db)
        table = Table(title="What is stored now")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in counts.items():
            table.add_row(name, str(count))
        console.print(table)
        first = demo_guild_id(0)
        config = await db.guild_config.get(first)
        features = await db.guild_config.features(first)
        console.print(
            f"guild {first}: prefixes {config.prefixes}, "
            f"features on: {', '.join(sorted(f.value for f, on in features.items() if on))}"
        )
        health = await db.health()
        where = f"embedded PostgreSQL (data in {settings.data_dir})" if db.embedded else "PostgreSQL"
        console.print(f"database: {where}, schema {health.schema_revision}, redis ok: {health.redis}")
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=True)
        console.print(f"connect with: [cyan]psql '{url}'[/cyan]")
        if db.embedded and not keep_running:
            console.print("the embedded server stops with this process; use --keep-running to explore it")
        if keep_running:
            console.print("running until Ctrl-C …")
            await asyncio.Event().wait()
    finally:
        await db.close()
