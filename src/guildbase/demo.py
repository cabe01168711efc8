"""The main job behind ``guildbase demo``: migrate, seed every domain, summarize.

Seeding goes through the public controllers only, so the demo doubles as an
end-to-end check that the facade works on a fresh machine. Re-running it is
safe: every write is an upsert keyed by deterministic IDs. It refuses a
database that holds anything the demo did not write (other tables with rows,
other guilds, other global blacklist entries) unless told ``force=True``
(``guildbase demo --yes``), and it checks before it migrates, so a refused
run writes nothing.
"""

import asyncio
import contextlib
import logging
import random
import re
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Connection, func, inspect, select, text

from guildbase.config import Settings
from guildbase.database import Database
from guildbase.db.context import acting_as
from guildbase.db.types import make_snowflake
from guildbase.errors import ConflictError
from guildbase.models import metadata
from guildbase.models.core import BlacklistTarget, Feature
from guildbase.models.moderation import CaseType

DEMO_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
GUILD_NAMES = ["Pixel Lounge", "Rustaceans Café", "Night Owls", "Study Hall", "Speedrun Central"]
MAX_GUILDS = 50
"""The most demo guilds ``guildbase demo --guilds`` seeds; their IDs are the demo's."""
_PARTITION = re.compile(r"^(?P<parent>\w+)_p\d{6}$")


class NotADemoDatabaseError(ConflictError):
    """The database holds data the demo did not write; seeding it needs ``--yes``."""


def demo_guild_id(index: int) -> int:
    """Stable IDs so a second demo run updates instead of duplicating."""
    return make_snowflake(DEMO_EPOCH + timedelta(days=index), sequence=1)


def demo_user_id(index: int) -> int:
    """Stable member IDs."""
    return make_snowflake(DEMO_EPOCH + timedelta(minutes=index), sequence=2)


def foreign_data(connection: Connection) -> list[str]:
    """What in the database the demo did not write: other tables with rows, other guilds, other blacklist entries."""
    ours = {*metadata.tables, "alembic_version"}
    found = []
    inspector = inspect(connection)
    for schema in inspector.get_schema_names():
        if schema == "information_schema" or schema.startswith("pg_"):
            continue
        for table in inspector.get_table_names(schema=schema):
            partition = _PARTITION.match(table)
            if schema == "public" and (table in ours or (partition and partition["parent"] in ours)):
                continue
            quoted = f'"{schema}"."{table}"'
            if connection.execute(text(f"SELECT EXISTS (SELECT FROM {quoted})")).scalar_one():  # noqa: S608 - names from the catalog
                found.append(f"table {schema}.{table}")
    tables = set(inspector.get_table_names())
    if "guild" in tables:
        demo_ids = [demo_guild_id(index) for index in range(MAX_GUILDS)]
        other = connection.execute(
            text("SELECT count(*) FROM guild WHERE guild_id <> ALL(:ids)"), {"ids": demo_ids}
        ).scalar_one()
        if other:
            found.append(f"{other} guild(s) that are not demo guilds")
    if "global_blacklist" in tables:
        other = connection.execute(
            text("SELECT count(*) FROM global_blacklist WHERE author_id IS DISTINCT FROM :owner"),
            {"owner": demo_user_id(0)},
        ).scalar_one()
        if other:
            found.append(f"{other} global blacklist entries the demo did not add")
    return found


async def refuse_foreign_data(db: Database) -> None:
    """Raise NotADemoDatabaseError when the database holds anything the demo did not write."""
    async with db.engine.connect() as connection:
        found = await connection.run_sync(foreign_data)
    if found:
        url = db.engine.url.render_as_string(hide_password=True)
        msg = (
            f"{url} holds data that is not the demo's ({'; '.join(found)}); "
            "point GUILDBASE_DATABASE_URL at an empty database, or pass --yes to seed it anyway"
        )
        raise NotADemoDatabaseError(msg)


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


MODERATION_SCRIPT: list[tuple[int, CaseType, str, timedelta | None]] = [
    (1, CaseType.WARN, "spamming invites in #general", None),
    (2, CaseType.TIMEOUT, "arguing with staff", timedelta(hours=1)),
    (1, CaseType.WARN, "slurs in voice chat", None),
    (3, CaseType.JAIL, "repeated harassment, under review", timedelta(days=2)),
    (3, CaseType.UNJAIL, "review done", None),
    (2, CaseType.SNIPPETBAN, "snippet spam", None),
    (4, CaseType.KICK, "raid participant", None),
    (1, CaseType.TEMPBAN, "ban evasion", timedelta(days=7)),
    (2, CaseType.POLLBAN, "troll polls", None),
    (5, CaseType.BAN, "scam links", None),
]
"""(user, type, reason, duration) of every demo case, in order; users are demo_user_id(n)."""


async def seed_moderation(db: Database, progress: Progress, *, guilds: int) -> None:
    """Cases (with a jail round trip, a void and a reason edit) and notes in every guild.

    Skips a guild that already has cases, so re-running the demo adds nothing.
    """
    task = progress.add_task("moderation cases and notes", total=guilds)
    moderator = demo_user_id(0)
    with acting_as(moderator):
        for index in range(guilds):
            guild_id = demo_guild_id(index)
            if await db.cases.get(guild_id, 1) is not None:
                progress.advance(task)
                continue
            roles = [make_snowflake(DEMO_EPOCH + timedelta(hours=index), 10 + r) for r in range(3)]
            for user, case_type, reason, duration in MODERATION_SCRIPT:
                expires = None if duration is None else datetime.now(UTC) + duration
                await db.cases.create(
                    guild_id,
                    demo_user_id(user),
                    moderator,
                    case_type,
                    reason=reason,
                    role_ids=roles,
                    expires_at=expires,
                )
            await db.cases.update_reason(guild_id, 1, "spamming invites in #general (3rd time)")
            await db.cases.void(guild_id, 7)
            for note in ["asked to read the rules", "appealed the timeout politely"]:
                await db.notes.create(guild_id, demo_user_id(1), moderator, note)
            progress.advance(task)


async def print_moderation_history(db: Database, console: Console, guild_id: int) -> None:
    """The guild's latest cases, as a moderator would see them in a history command."""
    table = Table(title=f"Moderation history of guild {guild_id}")
    for column in ["#", "type", "user", "moderator", "reason", "status", "expires"]:
        table.add_column(column)
    for case in await db.cases.recent(guild_id, limit=15):
        expires = "" if case.expires_at is None else f"{case.expires_at:%Y-%m-%d %H:%M}"
        table.add_row(
            str(case.number),
            case.type.value,
            str(case.user_id),
            str(case.moderator_id),
            case.reason or "",
            case.status.value,
            expires,
        )
    console.print(table)


async def seed_engagement(db: Database, progress: Progress, *, guilds: int, members: int) -> None:
    """Messages that earn XP (with level roles), AFKs, a starboard, reminders and bookmarks.

    Message times are fixed, so a second run falls inside every member's
    cooldown and awards nothing; reminders are only created once per user.
    """
    rng = random.Random(7)  # noqa: S311 - demo data, not security
    task = progress.add_task("levels, AFK, starboard, reminders, bookmarks", total=guilds * members)
    with acting_as(demo_user_id(0)):
        for index in range(guilds):
            guild_id = demo_guild_id(index)
            channel, board = (make_snowflake(DEMO_EPOCH + timedelta(hours=index), n) for n in (20, 21))
            for level in (1, 3, 5):
                await db.levels.set_level_role(guild_id, level, make_snowflake(DEMO_EPOCH, 30 + level))
            await db.starboard.configure(guild_id, channel_id=board, threshold=3)
            for member in range(members):
                user_id = demo_user_id(member)
                for message in range(rng.randint(1, 3 * (member % 7) + 1)):
                    sent_at = DEMO_EPOCH + timedelta(days=index, minutes=2 * message)
                    await db.levels.award_message_xp(guild_id, user_id, channel, now=sent_at, roll=rng.random())
                if member % 10 == 1:
                    await db.afk.set(guild_id, user_id, reason="touching grass", nickname=f"member{member}")
                post = make_snowflake(DEMO_EPOCH + timedelta(days=index, seconds=member), 40)
                for fan in range(member % 5):
                    await db.starboard.add_star(
                        guild_id, post, demo_user_id(fan), channel_id=channel, author_id=user_id
                    )
                if member % 4 == 0:
                    with contextlib.suppress(ConflictError):  # bookmarked by an earlier run
                        await db.bookmarks.add(
                            guild_id, user_id, post, channel_id=channel, author_id=user_id, content="great idea"
                        )
                if index == 0 and member % 5 == 0 and not await db.reminders.list_for_user(user_id):
                    when = datetime.now(UTC) + timedelta(hours=member + 1)
                    await db.reminders.create(user_id, content="stand-up", remind_at=when, guild_id=guild_id)
                progress.advance(task)


async def print_leaderboard(db: Database, console: Console, guild_id: int) -> None:
    """The guild's top ten: all-time from the Redis board, with the PostgreSQL page beside it."""
    board = await db.leaderboards.top(guild_id, 10)
    page = {entry.user_id: entry for entry in (await db.levels.leaderboard(guild_id, limit=10)).entries}
    table = Table(title=f"XP leaderboard of guild {guild_id} (served from {board.source})")
    for column in ["rank", "user", "level", "xp", "messages"]:
        table.add_column(column, justify="right")
    for entry in board.entries:
        row = page.get(entry.user_id)
        level, messages = (row.level, row.message_count) if row else ("?", "?")
        table.add_row(*map(str, (entry.rank, entry.user_id, level, entry.xp, messages)))
    console.print(table)


async def print_jobs(db: Database, console: Console) -> None:
    """The durable work the seeded data queued (expiring punishments, reminders, AFKs)."""
    table = Table(title="Durable jobs queued by the data (run them with `guildbase jobs run`)")
    for column in ["kind", "due now", "scheduled", "running", "failed"]:
        table.add_column(column, justify="right" if column != "kind" else "left")
    for row in await db.jobs.status():
        table.add_row(row.kind, str(row.due), str(row.scheduled), str(row.running), str(row.failed))
    console.print(table)


async def table_counts(db: Database) -> dict[str, int]:
    """Rows per table, for the summary."""
    counts = {}
    async with db.read_session() as session:
        for name, table in sorted(metadata.tables.items()):
            counts[name] = int((await session.execute(select(func.count()).select_from(table))).scalar_one())
    return counts


async def run_demo(
    settings: Settings, console: Console, *, guilds: int, members: int, keep_running: bool, force: bool = False
) -> None:
    """Refuse a database with other data (unless ``force``), migrate to head, seed, and summarize."""
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    db = Database(settings)
    await db.connect(check_schema=False)
    try:
        if not force:
            await refuse_foreign_data(db)
        await db.migrate()
        console.print("[bold]guildbase demo[/bold]: schema migrated to head")
        with Progress(console=console) as progress:
            await seed_core(db, progress, guilds=guilds, members=members)
            await seed_moderation(db, progress, guilds=guilds)
            await seed_engagement(db, progress, guilds=guilds, members=members)
        counts = await table_counts(db)
        table = Table(title="What is stored now")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in counts.items():
            table.add_row(name, str(count))
        console.print(table)
        first = demo_guild_id(0)
        await print_moderation_history(db, console, first)
        await print_leaderboard(db, console, first)
        await print_jobs(db, console)
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
        console.print(
            "open the dashboard on this data: [cyan]guildbase demo --keep-running[/cyan] in one terminal, "
            "then [cyan]guildbase web[/cyan] with GUILDBASE_DATABASE_URL set to the URL above and a Discord "
            "application's GUILDBASE_WEB_CLIENT_ID / _CLIENT_SECRET (docs/dashboard.md), and visit http://localhost:8080/"
        )
        if db.embedded and not keep_running:
            console.print("the embedded server stops with this process; use --keep-running to explore it")
        if keep_running:
            console.print("running until Ctrl-C …")
            await asyncio.Event().wait()
    finally:
        await db.close()
