import pytest
from hypothesis import given
from hypothesis import strategies as st

from guildbase import Database, ValidationError
from guildbase.controllers.content import excerpt
from guildbase.models.content import EXCERPT_MAX_LENGTH
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
OTHER_GUILD = BLOCK + 2
USER = BLOCK + 101
OTHER_USER = BLOCK + 102
AUTHOR = BLOCK + 100
CHANNEL = BLOCK + 301
MESSAGE = BLOCK + 501


def message(n: int) -> int:
    return MESSAGE + n


async def save(db: Database, n: int, *, user_id: int = USER, guild_id: int = GUILD, content: str = "hello"):
    return await db.bookmarks.add(guild_id, user_id, message(n), channel_id=CHANNEL, author_id=AUTHOR, content=content)


async def test_a_bookmark_keeps_a_short_excerpt_of_the_message(db: Database) -> None:
    await db.guilds.join(GUILD)
    saved = await save(db, 1, content="first line\nsecond   line " + "x" * 400)
    assert saved.excerpt.startswith("first line second line x")
    assert len(saved.excerpt) == EXCERPT_MAX_LENGTH
    assert saved.excerpt.endswith("…")
    assert (saved.channel_id, saved.author_id) == (CHANNEL, AUTHOR)


async def test_bookmarking_a_message_again_returns_the_saved_bookmark_unchanged(db: Database) -> None:
    await db.guilds.join(GUILD)
    first = await save(db, 1)
    again = await save(db, 1, content="edited since")
    assert again == first
    await save(db, 1, user_id=OTHER_USER)
    assert len(await db.bookmarks.list_for_user(USER)) == 1
    assert len(await db.bookmarks.list_for_user(OTHER_USER)) == 1


async def test_list_is_newest_first_across_guilds_and_pages_by_keyset(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guilds.join(OTHER_GUILD)
    for n in range(5):
        await save(db, n, guild_id=GUILD if n % 2 else OTHER_GUILD)
    everything = await db.bookmarks.list_for_user(USER)
    # created_at is the transaction time, equal inside the test's one transaction: message_id breaks ties
    assert [b.message_id for b in everything] == [message(n) for n in reversed(range(5))]
    first = await db.bookmarks.list_for_user(USER, limit=2)
    rest = await db.bookmarks.list_for_user(USER, before=(first[-1].created_at, first[-1].message_id))
    assert [b.message_id for b in first + rest] == [b.message_id for b in everything]
    in_guild = await db.bookmarks.list_for_user(USER, guild_id=GUILD)
    assert [b.message_id for b in in_guild] == [message(3), message(1)]


async def test_delete_removes_only_that_users_bookmark(db: Database) -> None:
    await db.guilds.join(GUILD)
    await save(db, 1)
    await save(db, 1, user_id=OTHER_USER)
    assert await db.bookmarks.delete(USER, message(1))
    assert not await db.bookmarks.delete(USER, message(1))
    assert await db.bookmarks.list_for_user(USER) == []
    assert len(await db.bookmarks.list_for_user(OTHER_USER)) == 1


async def test_bookmarks_go_with_their_guild(db: Database) -> None:
    await db.guilds.join(GUILD)
    await save(db, 1)
    await db.guilds.delete(GUILD)
    assert await db.bookmarks.list_for_user(USER) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"channel_id": 0}, "channel_id"), ({"author_id": -1}, "author_id"), ({"message_id": 2**64}, "message_id")],
)
async def test_bad_bookmarks_are_rejected_naming_the_field(db: Database, overrides: dict, field: str) -> None:
    await db.guilds.join(GUILD)
    data = {"message_id": MESSAGE, "channel_id": CHANNEL, "author_id": AUTHOR} | overrides
    with pytest.raises(ValidationError) as raised:
        await db.bookmarks.add(GUILD, USER, data.pop("message_id"), **data)
    assert raised.value.fields == [field]


async def test_bookmarking_in_an_unknown_guild_names_the_guild(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await save(db, 1)
    assert raised.value.fields == ["guild_id"]


@given(st.text(max_size=1000))
def test_excerpts_never_exceed_the_limit_and_keep_short_text_whole(content: str) -> None:
    short = excerpt(content)
    assert len(short) <= EXCERPT_MAX_LENGTH
    flat = " ".join(content.split())
    assert short == flat if len(flat) <= EXCERPT_MAX_LENGTH else short.endswith("…")
