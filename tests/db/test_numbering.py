"""The numbered insert is built from the table's own columns, so no column can be left out.

A throwaway table model (own registry: it never joins the schema the
migrations check) proves that a column added to a model is written by both
ways in (the prepared hot path and the in-session path) with no edit to the
builder. Contiguity under concurrency is proved by the moderation tests that
create cases and notes from many tasks and processes.
"""

import re
from datetime import datetime

import pytest
from sqlalchemy import BigInteger, Identity, Table, func, select, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from guildbase import Database, ValidationError
from guildbase.controllers.moderation import CREATE_CASE
from guildbase.controllers.notes import CREATE_NOTE
from guildbase.db.numbering import NumberedInsert, numbered_insert
from guildbase.db.types import UTCDateTimeType
from guildbase.models.core import CounterKind, GuildCounter
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1


class _Scratch(SQLModel, registry=registry()):
    """Models of this test only: their tables are created and rolled back inside the test."""


class Numbered(_Scratch, table=True):
    __tablename__ = "numbered_scratch"

    scratch_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    guild_id: int = Field(sa_type=BigInteger)
    number: int = Field(sa_type=BigInteger)
    label: str
    colour: str | None = None  # "the column someone adds later"
    weight: int = Field(default=7, sa_column_kwargs={"server_default": text("7")})
    seen_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": func.now()}
    )


def _inserted_columns(builder: NumberedInsert) -> set[str]:
    target = re.search(rf"INSERT INTO {builder.table.name} \(([^)]*)\)", builder.prepared.sql)
    assert target is not None, builder.prepared.sql
    return {name.strip() for name in target.group(1).split(",")}


@pytest.mark.parametrize("builder", [CREATE_CASE, CREATE_NOTE], ids=["mod_case", "note"])
def test_the_numbered_insert_writes_every_column_of_its_table(builder: NumberedInsert) -> None:
    table: Table = builder.table
    generated = {column.key for column in table.c if column.identity is not None}
    assert _inserted_columns(builder) == {column.key for column in table.c} - generated
    assert set(builder.columns) == {column.key for column in table.c} - generated - {builder.number}
    assert re.search(r"RETURNING .*\bnumber\b", builder.prepared.sql)


def test_a_column_added_to_a_model_is_in_its_numbered_insert_without_touching_the_builder() -> None:
    builder = numbered_insert(Numbered, CounterKind.TICKET)
    assert set(builder.columns) == {"guild_id", "label", "colour", "weight", "seen_at"}
    assert _inserted_columns(builder) == {"guild_id", "number", "label", "colour", "weight", "seen_at"}
    with pytest.raises(KeyError, match="number"):
        builder.params({"number": 5})


async def test_both_ways_in_write_the_added_column_and_share_one_counter(db: Database) -> None:
    builder = numbered_insert(Numbered, CounterKind.TICKET)
    await db.guilds.join(GUILD)
    async with db.session() as session:
        await session.run_sync(lambda sync: Numbered.__table__.create(sync.connection()))  # type: ignore[attr-defined]
    async with db.session() as session:
        first = await builder.execute_in(session, {"guild_id": GUILD, "label": "in session", "colour": "red"})
    async with db._driver(transaction=False) as unit:
        second = await builder.fetchrow(unit.connection, {"guild_id": GUILD, "label": "hot path", "colour": "blue"})
    assert (first["number"], first["colour"], first["weight"]) == (1, "red", 7)
    assert (second["number"], second["colour"], second["weight"]) == (2, "blue", 7)
    assert first["seen_at"] is not None  # NULL given → the server default, as an ORM insert that leaves it unset
    async with db.session() as session:
        stored = (await session.execute(select(Numbered.__table__).order_by(text("number")))).mappings().all()  # type: ignore[attr-defined]
        counter = await session.get(GuildCounter, (GUILD, CounterKind.TICKET))
    assert [(row["number"], row["label"], row["colour"]) for row in stored] == [
        (1, "in session", "red"),
        (2, "hot path", "blue"),
    ]
    assert counter is not None
    assert counter.last_value == 2


async def test_a_failed_numbered_insert_gives_its_number_back(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.notes.create(GUILD, BLOCK + 101, BLOCK + 201, "first")
    with pytest.raises(ValidationError, match="moderator_id"):  # NOT NULL, translated where it ran
        async with db._driver(transaction=False) as unit:
            await CREATE_NOTE.fetchrow(unit.connection, {"guild_id": GUILD, "user_id": BLOCK + 101})
    note = await db.notes.create(GUILD, BLOCK + 101, BLOCK + 201, "second")
    assert note.number == 2
