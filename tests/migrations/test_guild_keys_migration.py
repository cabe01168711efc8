"""Migration 0026 puts guild_id in the keys of the guild tables: children are filled from their ticket, and back."""

from datetime import timedelta

import psycopg
import pytest
from alembic import command
from scratch_sql import rows as _rows
from sqlalchemy.engine import URL

from guildbase.db.migrations import alembic_config
from guildbase.db.types import make_snowflake, utcnow

GUILDS = [make_snowflake(utcnow() - timedelta(days=400), 91 + n) for n in range(2)]
USER = make_snowflake(utcnow() - timedelta(days=300), 93)


def _seed_tickets(url: URL) -> dict[int, int]:
    """At 0025: one panel and ticket per guild, each ticket with a transcript line and a participant."""
    tickets = {}
    for index, guild in enumerate(GUILDS):
        params = {"g": guild, "u": USER, "c": guild + 1, "m": guild + 2}
        _rows(url, "INSERT INTO guild (guild_id) VALUES (%(g)s)", params)
        [(panel,)] = _rows(
            url, "INSERT INTO ticket_panel (guild_id, label) VALUES (%(g)s, 'help') RETURNING panel_id", params
        )
        [(ticket,)] = _rows(
            url,
            "INSERT INTO ticket (guild_id, number, panel_id, channel_id, opener_id) "
            "VALUES (%(g)s, 1, %(p)s, %(c)s, %(u)s) RETURNING ticket_id",
            params | {"p": panel},
        )
        _rows(
            url,
            "INSERT INTO ticket_message (message_id, ticket_id, author_id, content)"
            " VALUES (%(m)s, %(t)s, %(u)s, %(x)s)",
            params | {"t": ticket, "x": f"line {index}"},
        )
        _rows(url, "INSERT INTO ticket_participant (ticket_id, user_id) VALUES (%(t)s, %(u)s)", params | {"t": ticket})
        tickets[ticket] = guild
    return tickets


def _primary_key(url: URL, table: str) -> str:
    [(definition,)] = _rows(
        url,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %(t)s::regclass AND contype = 'p'",
        {"t": table},
    )
    return str(definition)


def test_children_take_their_tickets_guild_and_the_keys_lead_with_the_id(database: URL) -> None:
    config = alembic_config(database)
    command.upgrade(config, "0025")
    tickets = _seed_tickets(database)

    command.upgrade(config, "0026")

    for table in ("ticket_message", "ticket_participant"):
        assert dict(_rows(database, f"SELECT ticket_id, guild_id FROM {table}")) == tickets
        [(nullable,)] = _rows(
            database,
            "SELECT is_nullable FROM information_schema.columns WHERE table_name = %(t)s AND column_name = 'guild_id'",
            {"t": table},
        )
        assert nullable == "NO"
    assert _primary_key(database, "ticket") == "PRIMARY KEY (ticket_id, guild_id)"
    assert _primary_key(database, "ticket_participant") == "PRIMARY KEY (ticket_id, user_id, guild_id)"
    # A ticket can no longer hang off another guild's panel, nor a message off another guild's ticket.
    [(foreign_panel,)] = _rows(database, "SELECT panel_id FROM ticket_panel WHERE guild_id = %(g)s", {"g": GUILDS[1]})
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fk_ticket_guild_id_panel_id_ticket_panel"):
        _rows(
            database,
            "INSERT INTO ticket (guild_id, number, panel_id, opener_id) VALUES (%(g)s, 2, %(p)s, %(u)s)",
            {"g": GUILDS[0], "p": foreign_panel, "u": USER},
        )
    foreign_ticket = next(ticket for ticket, guild in tickets.items() if guild == GUILDS[1])
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="fk_ticket_message_guild_id_ticket_id_ticket"):
        _rows(
            database,
            "INSERT INTO ticket_message (message_id, ticket_id, guild_id, author_id, content)"
            " VALUES (%(m)s, %(t)s, %(g)s, %(u)s, 'x')",
            {"m": GUILDS[0] + 9, "t": foreign_ticket, "g": GUILDS[0], "u": USER},
        )
    # A channel is unique per guild now: another guild's ticket may name it (Discord never does).
    _rows(
        database,
        "INSERT INTO ticket (guild_id, number, panel_id, channel_id, opener_id) VALUES (%(g)s, 2, %(p)s, %(c)s, %(u)s)",
        {"g": GUILDS[1], "p": foreign_panel, "c": GUILDS[0] + 1, "u": USER},
    )
    _rows(database, "DELETE FROM ticket WHERE guild_id = %(g)s AND number = 2", {"g": GUILDS[1]})

    command.downgrade(config, "0025")

    assert _primary_key(database, "ticket") == "PRIMARY KEY (ticket_id)"
    assert _primary_key(database, "ticket_participant") == "PRIMARY KEY (ticket_id, user_id)"
    columns = _rows(
        database,
        "SELECT table_name FROM information_schema.columns "
        "WHERE table_name IN ('ticket_message', 'ticket_participant') AND column_name = 'guild_id'",
    )
    assert columns == []
    assert sorted(_rows(database, "SELECT ticket_id, content FROM ticket_message")) == sorted(
        (ticket, f"line {GUILDS.index(guild)}") for ticket, guild in tickets.items()
    )


def test_a_child_of_another_guilds_parent_fails_the_upgrade_and_leaves_0025(database: URL) -> None:
    config = alembic_config(database)
    command.upgrade(config, "0025")
    tickets = _seed_tickets(database)
    [(foreign_panel,)] = _rows(database, "SELECT panel_id FROM ticket_panel WHERE guild_id = %(g)s", {"g": GUILDS[1]})
    _rows(database, "UPDATE ticket SET panel_id = %(p)s WHERE guild_id = %(g)s", {"p": foreign_panel, "g": GUILDS[0]})

    with pytest.raises(Exception, match="fk_ticket_guild_id_panel_id_ticket_panel"):
        command.upgrade(config, "0026")

    assert _rows(database, "SELECT version_num FROM alembic_version") == [("0025",)]
    assert _primary_key(database, "ticket") == "PRIMARY KEY (ticket_id)"
    assert len(_rows(database, "SELECT ticket_id FROM ticket_message")) == len(tickets)
