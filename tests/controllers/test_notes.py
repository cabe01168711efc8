"""Numbered notes: create, list, edit, delete, and bad input (``controllers/notes.py``)."""

from typing import Any

import pytest
from sqlalchemy import select, text

from guildbase import Database
from guildbase.db.context import acting_as
from guildbase.errors import NotFoundError, ValidationError
from guildbase.models.audit import AuditAction
from guildbase.models.core import GuildCounter
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
MISSING_GUILD = BLOCK + 999
USER = BLOCK + 101
OTHER_USER = BLOCK + 102
MOD = BLOCK + 201
OTHER_MOD = BLOCK + 202


@pytest.fixture
async def guild(db: Database) -> int:
    await db.guilds.join(GUILD, name="Mods")
    return GUILD


async def counter_value(db: Database, guild_id: int, kind: str) -> int:
    async with db.session() as session:
        stmt = select(GuildCounter.last_value).where(GuildCounter.guild_id == guild_id, GuildCounter.kind == kind)
        return int((await session.execute(stmt)).scalar_one_or_none() or 0)


async def row_count(db: Database, table: str) -> int:
    async with db.session() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


# -- notes ------------------------------------------------------------------------------------------
async def test_notes_are_numbered_listed_newest_first_edited_and_deleted(db: Database, guild: int) -> None:
    first = await db.notes.create(guild, USER, MOD, "asked to read the rules")
    await db.notes.create(guild, OTHER_USER, MOD, "new account")
    third = await db.notes.create(guild, USER, OTHER_MOD, "appealed politely")
    assert (first.number, third.number, third.moderator_id) == (1, 3, OTHER_MOD)
    assert [n.number for n in await db.notes.list_for_user(guild, USER)] == [3, 1]
    assert [n.number for n in await db.notes.list_for_user(guild, USER, limit=1, before=3)] == [1]

    with acting_as(OTHER_MOD):
        edited = await db.notes.edit(guild, 1, "asked twice to read the rules")
        assert await db.notes.delete(guild, 3)
    assert edited.content == "asked twice to read the rules"
    assert not await db.notes.delete(guild, 3)
    assert await db.notes.get(guild, 3) is None
    assert [n.number for n in await db.notes.list_for_user(guild, USER)] == [1]
    assert (await db.notes.create(guild, USER, MOD, "later")).number == 4

    [edit] = await db.notes.changes(guild, 1)
    assert (edit.action, edit.before, edit.after, edit.actor_id) == (
        AuditAction.NOTE_EDIT,
        {"content": "asked to read the rules"},
        {"content": "asked twice to read the rules"},
        OTHER_MOD,
    )
    [deletion] = await db.notes.changes(guild, 3)
    assert (deletion.action, deletion.before["content"]) == (AuditAction.NOTE_DELETE, "appealed politely")


BAD_NOTES: list[tuple[str, dict[str, Any], str]] = [
    ("empty content", {"content": ""}, "content"),
    ("content over the limit", {"content": "x" * 2001}, "content"),
    ("zero user", {"user_id": 0}, "user_id"),
    ("text moderator", {"moderator_id": "x"}, "moderator_id"),
    ("guild that does not exist", {"guild_id": MISSING_GUILD}, "guild_id"),
]


@pytest.mark.parametrize(("overrides", "field"), [(o, f) for _, o, f in BAD_NOTES], ids=[c[0] for c in BAD_NOTES])
async def test_bad_note_input_names_the_field_and_writes_nothing(
    db: Database, guild: int, overrides: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {"guild_id": guild, "user_id": USER, "moderator_id": MOD, "content": "ok"}
    arguments |= overrides
    with pytest.raises(ValidationError) as raised:
        await db.notes.create(**arguments)
    assert field in raised.value.fields
    assert await row_count(db, "note") == 0
    assert await counter_value(db, guild, "note") == 0
    assert (await db.notes.create(guild, USER, MOD, "fine")).number == 1


async def test_editing_a_missing_note_raises_not_found(db: Database, guild: int) -> None:
    with pytest.raises(NotFoundError, match="note #2"):
        await db.notes.edit(guild, 2, "x")
    await db.notes.create(guild, USER, MOD, "x")
    with pytest.raises(ValidationError, match="content"):
        await db.notes.edit(guild, 1, "")


# -- concurrency ------------------------------------------------------------------------------------
