"""Guild tables keyed (id, guild_id) in the database keep their ORM identity on the id (``db.types.orm_identity``)."""

import pytest
from sqlalchemy import inspect

from guildbase import Database, ValidationError
from guildbase.db.types import orm_identity
from guildbase.models import metadata
from guildbase.models.snippets import Snippet
from guildbase.models.tickets import Ticket, TicketPanel
from guildbase.testing import ids

BLOCK = ids.block()
GUILD = BLOCK + 1
AUTHOR = BLOCK + 101


def test_the_table_key_leads_with_the_id_and_the_mapper_keeps_the_id_alone() -> None:
    table = metadata.tables["snippet"]
    assert [column.name for column in table.primary_key.columns] == ["snippet_id", "guild_id"]
    assert [column.name for column in inspect(Snippet).primary_key] == ["snippet_id"]
    assert orm_identity("ticket_id", "user_id") == {"primary_key": ["ticket_id", "user_id"]}


async def test_an_insert_returns_the_generated_id_and_the_row_is_got_by_it(db: Database) -> None:
    await db.guilds.join(GUILD)
    async with db.session() as session:
        created = await Snippet.create(session, {"guild_id": GUILD, "content": "hello", "author_id": AUTHOR})
        snippet_id = created.snippet_id
    assert snippet_id is not None
    async with db.session() as session:
        fetched = await session.get(Snippet, snippet_id)
        assert fetched is not None
        assert fetched.content == "hello"
        got = await Snippet.get(session, snippet_id)
        assert got is not None
        assert got.guild_id == GUILD


async def test_upsert_conflicts_on_the_tables_key_not_the_id_alone(db: Database) -> None:
    """``ON CONFLICT (panel_id)`` names no unique key any more; the default target is the table's (id, guild_id)."""
    await db.guilds.join(GUILD)
    async with db.session() as session:
        panel = await TicketPanel.create(session, {"guild_id": GUILD, "label": "Support"})
        panel_id = panel.panel_id
    async with db.session() as session:
        moved = await TicketPanel.upsert(session, {"panel_id": panel_id, "guild_id": GUILD, "label": "Help"})
    assert (moved.panel_id, moved.label) == (panel_id, "Help")
    assert len(await db.tickets.panels(GUILD)) == 1


async def test_a_missing_parent_of_a_guild_leading_foreign_key_names_the_parents_field(db: Database) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError) as raised:
        async with db.session() as session:
            session.add(Ticket(guild_id=GUILD, number=1, panel_id=BLOCK + 999, opener_id=AUTHOR))
    assert [(error.field, error.rule) for error in raised.value.errors] == [("panel_id", "foreign_key")]
