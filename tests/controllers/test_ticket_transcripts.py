"""Ticket transcripts: messages with attachments and edits, exported as JSON and HTML, read back losslessly."""

import re

import pytest

from guildbase import Database
from guildbase.controllers.ticket_transcripts import transcript_from_html
from guildbase.errors import NotFoundError, ValidationError
from guildbase.models.ticket_records import Transcript
from guildbase.testing import ids

BLOCK = ids.block()
GUILD = BLOCK + 1
USER = BLOCK + 101
STAFF = BLOCK + 201
STAFF_ROLE = BLOCK + 301
CHANNEL = BLOCK + 401
HOSTILE = '<script>alert("x")</script> & </script><b>'


async def _ticket_with_messages(db: Database) -> int:
    await db.guilds.join(GUILD)
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    panel = await db.tickets.create_panel(GUILD, "Support", staff_role_ids=[STAFF_ROLE])
    ticket = await db.tickets.open(GUILD, panel.panel_id, USER, subject="crash <on start>")
    await db.tickets.set_channel(GUILD, ticket.number, CHANNEL)
    await db.tickets.record_message(
        GUILD, CHANNEL, BLOCK + 501, USER, "it crashes", attachment_urls=["https://cdn.example/log.txt"]
    )
    await db.tickets.record_message(GUILD, CHANNEL, BLOCK + 502, STAFF, HOSTILE, role_ids=[STAFF_ROLE])
    assert await db.tickets.record_edit(GUILD, CHANNEL, BLOCK + 501, "it crashes on start")
    assert await db.tickets.record_edit(GUILD, CHANNEL, BLOCK + 501, "it crashes on start, every time")
    assert not await db.tickets.record_edit(GUILD, CHANNEL, BLOCK + 599, "never archived")
    return ticket.number


async def test_a_transcript_keeps_authors_content_attachments_and_edits(db: Database) -> None:
    number = await _ticket_with_messages(db)
    transcript = await db.tickets.transcript(GUILD, number)
    first, second = transcript.messages
    assert (first.author_id, first.content, first.is_staff) == (USER, "it crashes on start, every time", False)
    assert first.attachment_urls == ["https://cdn.example/log.txt"]
    assert [edit.content for edit in first.edits] == ["it crashes", "it crashes on start"]
    assert first.edited_at is not None
    assert (second.author_id, second.content, second.is_staff) == (STAFF, HOSTILE, True)
    with pytest.raises(NotFoundError, match="number"):
        await db.tickets.transcript(GUILD, number + 1)


async def test_the_json_export_round_trips(db: Database) -> None:
    number = await _ticket_with_messages(db)
    exported = await db.tickets.export_json(GUILD, number)
    assert Transcript.model_validate_json(exported) == await db.tickets.transcript(GUILD, number)


async def test_the_html_export_is_self_contained_escaped_and_round_trips(db: Database) -> None:
    number = await _ticket_with_messages(db)
    page = await db.tickets.export_html(GUILD, number)
    assert transcript_from_html(page) == await db.tickets.transcript(GUILD, number)
    assert page.startswith("<!DOCTYPE html>")
    assert "crash &lt;on start&gt;" in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert '<script>alert("x")' not in page
    assert re.findall(r"<script[^>]*>", page) == ['<script type="application/json" id="transcript">']
    assert not re.search(r"""(src|href)=["']https?://(?!cdn\.example/log\.txt)""", page), "no remote assets"
    assert '<a href="https://cdn.example/log.txt">log.txt</a>' in page
    with pytest.raises(ValidationError, match="page"):
        transcript_from_html("<html></html>")


async def test_the_privacy_erase_empties_one_authors_text(db: Database) -> None:
    number = await _ticket_with_messages(db)
    assert await db.tickets.erase_author(GUILD, USER) == 1
    first, second = (await db.tickets.transcript(GUILD, number)).messages
    assert (first.content, first.attachment_urls, first.edits) == ("", [], [])
    assert second.content == HOSTILE
