import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlmodel import col

from guildbase import Database, NotFoundError, ValidationError
from guildbase.models.core import Feature
from guildbase.models.starboard import StarboardEntry, StarboardStar, StarChange
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
OTHER_GUILD = BLOCK + 2
AUTHOR = BLOCK + 100
USER = BLOCK + 101
BOARD = BLOCK + 301
CHANNEL = BLOCK + 302
NOISY = BLOCK + 303
MESSAGE = BLOCK + 501
POSTED = BLOCK + 601


def user(n: int) -> int:
    return USER + n


async def join_with_starboard(db: Database, guild_id: int = GUILD) -> None:
    """Join a guild and turn its ``starboard`` feature on (it is off by default, and stars obey it)."""
    await db.guilds.join(guild_id)
    await db.guild_config.set_feature(guild_id, Feature.STARBOARD, enabled=True)


async def star(db: Database, n: int, message_id: int = MESSAGE, channel_id: int = CHANNEL) -> StarChange:
    return await db.starboard.add_star(GUILD, message_id, user(n), channel_id=channel_id, author_id=AUTHOR)


async def test_configure_creates_then_changes_only_the_given_settings(db: Database) -> None:
    await db.guilds.join(GUILD)
    created = await db.starboard.configure(GUILD, channel_id=BOARD)
    assert (created.emoji, created.threshold, created.is_self_star_allowed) == ("⭐", 3, False)
    changed = await db.starboard.configure(GUILD, threshold=5, emoji="🌟")
    assert (changed.channel_id, changed.threshold, changed.emoji) == (BOARD, 5, "🌟")
    assert await db.starboard.get_config(OTHER_GUILD) is None


async def test_a_new_board_needs_a_channel(db: Database) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError) as raised:
        await db.starboard.configure(GUILD, threshold=2)
    assert raised.value.fields == ["channel_id"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"threshold": 0}, "threshold"),
        ({"emoji": ""}, "emoji"),
        ({"channel_id": -3}, "channel_id"),
        ({"colour": 1}, "colour"),
    ],
)
async def test_bad_settings_are_rejected_naming_the_field(db: Database, changes: dict, field: str) -> None:
    await db.guilds.join(GUILD)
    await db.starboard.configure(GUILD, channel_id=BOARD)
    with pytest.raises(ValidationError) as raised:
        await db.starboard.configure(GUILD, **changes)
    assert raised.value.fields == [field]


async def test_stars_cross_the_threshold_up_then_down(db: Database) -> None:
    await join_with_starboard(db)
    await db.starboard.configure(GUILD, channel_id=BOARD, threshold=2)
    first = await star(db, 1)
    second = await star(db, 2)
    assert (first.star_count, first.crossed_up, second.star_count, second.crossed_up) == (1, False, 2, True)
    await db.starboard.set_posted_message(GUILD, MESSAGE, POSTED)
    third = await star(db, 3)
    assert (third.star_count, third.crossed_up, third.posted_message_id) == (3, False, POSTED)
    await db.starboard.remove_star(GUILD, MESSAGE, user(3))
    down = await db.starboard.remove_star(GUILD, MESSAGE, user(2))
    assert (down.star_count, down.previous_count, down.crossed_down) == (1, 2, True)


async def test_starring_twice_or_unstarring_a_missing_star_changes_nothing(db: Database) -> None:
    await join_with_starboard(db)
    await db.starboard.configure(GUILD, channel_id=BOARD)
    await star(db, 1)
    repeat = await star(db, 1)
    assert (repeat.star_count, repeat.is_changed) == (1, False)
    missing = await db.starboard.remove_star(GUILD, MESSAGE, user(9))
    assert (missing.star_count, missing.is_changed, missing.crossed_down) == (1, False, False)
    assert await db.starboard.star_count(GUILD, MESSAGE) == 1


async def test_self_stars_and_ignored_channels_do_not_count_unless_allowed(db: Database) -> None:
    await join_with_starboard(db)
    await db.starboard.configure(GUILD, channel_id=BOARD, ignored_channel_ids=[NOISY])
    own = await db.starboard.add_star(GUILD, MESSAGE, AUTHOR, channel_id=CHANNEL, author_id=AUTHOR)
    noisy = await star(db, 1, channel_id=NOISY)
    assert (own.is_changed, noisy.is_changed) == (False, False)
    assert await db.starboard.get_entry(GUILD, MESSAGE) is None
    await db.starboard.configure(GUILD, is_self_star_allowed=True)
    allowed = await db.starboard.add_star(GUILD, MESSAGE, AUTHOR, channel_id=CHANNEL, author_id=AUTHOR)
    assert allowed.star_count == 1


async def test_starring_without_a_board_says_how_to_set_one_up(db: Database) -> None:
    await join_with_starboard(db)
    with pytest.raises(NotFoundError, match="configure"):
        await star(db, 1)


async def test_setting_the_post_of_an_unstarred_message_is_not_found(db: Database) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(NotFoundError, match="message_id"):
        await db.starboard.set_posted_message(GUILD, MESSAGE, POSTED)


async def test_entries_and_stars_go_with_their_guild(db: Database) -> None:
    await join_with_starboard(db)
    await db.starboard.configure(GUILD, channel_id=BOARD)
    await star(db, 1)
    await db.guilds.delete(GUILD)
    assert await db.starboard.get_entry(GUILD, MESSAGE) is None
    assert await db.starboard.star_count(GUILD, MESSAGE) == 0


async def test_concurrent_stars_and_unstars_keep_the_count_equal_to_the_rows(pooled_db: Database) -> None:
    await join_with_starboard(pooled_db)
    await pooled_db.starboard.configure(GUILD, channel_id=BOARD, threshold=10)
    rng = random.Random(7)
    for n in range(0, 40, 2):  # some users start with a star, so unstars have something to remove
        await star(pooled_db, n)
    operations = [(rng.randrange(40), rng.random() < 0.5) for _ in range(100)]
    results = await asyncio.gather(
        *(
            star(pooled_db, n) if adding else pooled_db.starboard.remove_star(GUILD, MESSAGE, user(n))
            for n, adding in operations
        ),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == []  # every task finished cleanly
    async with pooled_db.session() as session:
        rows = (
            await session.execute(
                select(func.count()).select_from(StarboardStar).where(col(StarboardStar.message_id) == MESSAGE)
            )
        ).scalar_one()
        cached = (
            await session.execute(
                select(col(StarboardEntry.star_count)).where(col(StarboardEntry.message_id) == MESSAGE)
            )
        ).scalar_one()
    assert cached == rows
    changed = sum(1 if r.star_count > r.previous_count else -1 for r in results if r.is_changed)
    assert rows == 20 + changed  # 20 users starred before the storm
    ups = sum(r.crossed_up for r in results)
    downs = sum(r.crossed_down for r in results)
    starting, threshold = 20, 10
    assert ups - downs == int(rows >= threshold) - int(starting >= threshold)


async def test_a_star_and_an_unstar_are_one_statement_each(pooled_db: Database) -> None:
    await join_with_starboard(pooled_db)
    await pooled_db.starboard.configure(GUILD, channel_id=BOARD)
    await pooled_db.guild_config.features(GUILD)  # cached now: the starboard gate then costs no statement
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = pooled_db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        added = await star(pooled_db, 1)
        removed = await pooled_db.starboard.remove_star(GUILD, MESSAGE, user(1))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (added.star_count, removed.star_count) == (1, 0)
    assert len(statements) == 2, statements
