"""Ticket transcripts: every message archived with its edits, the first staff response, JSON and HTML exports.

``record_message`` is what the cog calls for each message in a ticket's
channel. In one transaction it archives the message (idempotent on its ID, so
a redelivered event counts once), increments the ticket's counts in SQL, sets
``first_response_at`` once (``COALESCE`` in the ``UPDATE``: two staff replies
racing cannot both be first), cancels a pending close request when the opener
answers, and restarts the inactivity clock.

Exports: ``export_json`` is ``Transcript`` as JSON; ``export_html`` is one
self-contained page (inline CSS, no scripts, no remote assets) that also
embeds the same JSON (``<``, ``>``, ``&`` as JSON escapes) in a
``<script type="application/json">`` block, so
``transcript_from_html`` reads a saved page back exactly.
"""

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.ticket_common import add_event, bump_daily, bump_duration, load_panel, locked_ticket
from guildbase.controllers.ticket_flow import TicketFlow
from guildbase.db.rows import read_all
from guildbase.db.validation import flag, positive, snowflake, snowflakes, text, texts
from guildbase.errors import NotFoundError, ValidationError
from guildbase.models.ticket_records import TicketMessage, Transcript, TranscriptMessage
from guildbase.models.tickets import (
    CONTENT_MAX_LENGTH,
    MAX_ATTACHMENTS,
    MAX_ROLES,
    URL_MAX_LENGTH,
    DurationMetric,
    Ticket,
    TicketEventKind,
    TicketRead,
    TicketStatus,
)

__all__ = ["TicketTranscripts", "transcript_from_html", "transcript_html"]

_EMBEDDED = re.compile(r'<script type="application/json" id="transcript">(.*?)</script>', re.DOTALL)
_CSS = (
    "body{font-family:system-ui,sans-serif;background:#313338;color:#dbdee1;margin:2rem}"
    ".m{padding:.4rem 0;border-bottom:1px solid #3f4147}.a{font-weight:600;color:#f2f3f5}"
    ".s{color:#5865f2}.t{color:#949ba4;font-size:.8rem;margin-left:.5rem}.c{white-space:pre-wrap}"
    "a{color:#00a8fc}details{color:#949ba4;font-size:.85rem}"
)


def transcript_html(transcript: Transcript) -> str:
    """The transcript as one self-contained HTML page (the JSON is embedded for a lossless read back)."""
    title = f"Ticket #{transcript.number}" + (f": {transcript.subject}" if transcript.subject else "")
    lines = []
    for message in transcript.messages:
        who = "a s" if message.is_staff else "a"
        edited = (
            "" if message.edited_at is None else f' <span class="t">(edited {message.edited_at:%Y-%m-%d %H:%M})</span>'
        )
        files = "".join(
            f'<div><a href="{html.escape(url, quote=True)}">{html.escape(url.rsplit("/", 1)[-1] or url)}</a></div>'
            for url in message.attachment_urls
        )
        history = "".join(
            f"<div>{edit.edited_at:%Y-%m-%d %H:%M}: {html.escape(edit.content)}</div>" for edit in message.edits
        )
        earlier = f"<details><summary>earlier versions</summary>{history}</details>" if history else ""
        lines.append(
            f'<div class="m" id="m{message.message_id}"><span class="{who}">{message.author_id}</span>'
            f'<span class="t">{message.sent_at:%Y-%m-%d %H:%M:%S} UTC</span>{edited}'
            f'<div class="c">{html.escape(message.content)}</div>{files}{earlier}</div>'
        )
    data = transcript.model_dump_json().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Opened by {transcript.opener_id} at {transcript.opened_at:%Y-%m-%d %H:%M} UTC"
        f" · {transcript.status.value} · {len(transcript.messages)} messages</p>"
        f'{"".join(lines)}<script type="application/json" id="transcript">{data}</script></body></html>'
    )


def transcript_from_html(page: str) -> Transcript:
    """Read back a page ``export_html`` wrote (``ValidationError`` on ``page`` when it holds no transcript)."""
    found = _EMBEDDED.search(page)
    if found is None:
        raise ValidationError.single("page", "transcript", "page: holds no embedded transcript")
    return Transcript.model_validate(json.loads(found.group(1)))


class TicketTranscripts(TicketFlow):
    """The transcript half of ``db.tickets`` (mixed into ``TicketController``)."""

    async def record_message(
        self,
        guild_id: int,
        channel_id: int,
        message_id: int,
        author_id: int,
        content: str,
        *,
        role_ids: Sequence[int] = (),
        attachment_urls: Sequence[str] = (),
        is_admin: bool = False,
    ) -> TicketRead | None:
        """Archive a message posted in a ticket's channel; None when the channel is no ticket's.

        The author counts as staff when they are an admin, hold one of the
        panel's staff roles or hold the ticket; the opener never does.
        """
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        message_id, author_id = snowflake("message_id", message_id), snowflake("author_id", author_id)
        content = text("content", content, max_length=CONTENT_MAX_LENGTH)
        roles = set(snowflakes("role_ids", role_ids, max_items=MAX_ROLES * 10))
        urls = texts("attachment_urls", attachment_urls, max_length=URL_MAX_LENGTH)[:MAX_ATTACHMENTS]
        is_admin = flag("is_admin", is_admin)
        async with self._write() as session:
            number = await session.scalar(
                select(col(Ticket.number)).where(col(Ticket.guild_id) == guild_id, col(Ticket.channel_id) == channel_id)
            )
            if number is None:
                return None
            ticket = await locked_ticket(session, guild_id, number)
            panel = await load_panel(session, guild_id, ticket.panel_id)
            is_staff = author_id != ticket.opener_id and (
                is_admin
                or bool(roles & set(panel.staff_role_ids))
                or author_id in {ticket.claimed_by, ticket.assignee_id}
            )
            archived = await session.execute(
                insert(TicketMessage)
                .values(
                    message_id=message_id,
                    ticket_id=ticket.ticket_id,
                    guild_id=ticket.guild_id,
                    author_id=author_id,
                    content=content,
                    attachment_urls=urls,
                    is_staff=is_staff,
                )
                .on_conflict_do_nothing()
            )
            if not archived.rowcount:  # type: ignore[attr-defined]
                return ticket
            row = (
                (
                    await session.execute(
                        update(Ticket)
                        .where(col(Ticket.ticket_id) == ticket.ticket_id)
                        .values(
                            message_count=col(Ticket.message_count) + 1,
                            staff_message_count=col(Ticket.staff_message_count) + (1 if is_staff else 0),
                            last_message_at=func.now(),
                            first_response_at=func.coalesce(col(Ticket.first_response_at), _first_response(is_staff)),
                        )
                        .returning(*Ticket.__table__.c)  # type: ignore[attr-defined]
                    )
                )
                .mappings()
                .one()
            )
            moved = TicketRead.model_validate(dict(row))
            if ticket.first_response_at is None and moved.first_response_at is not None:
                await add_event(
                    session, moved, TicketEventKind.FIRST_RESPONSE, {"message_id": message_id}, actor_id=author_id
                )
                await bump_daily(session, moved, author_id, first_responses=1)
                await bump_duration(
                    session,
                    moved,
                    DurationMetric.FIRST_RESPONSE,
                    start=moved.opened_at,
                    end=moved.first_response_at,
                )
            if author_id == ticket.opener_id and moved.status is TicketStatus.PENDING:
                moved = await self._cancel_request_in(session, moved)
            assert moved.last_message_at is not None  # noqa: S101 - just set
            await self._schedule_idle(session, moved, moved.last_message_at)
            return moved

    async def record_edit(self, guild_id: int, channel_id: int, message_id: int, content: str) -> bool:
        """Archive an edit: the earlier version goes to ``edits``; False when the message was never archived."""
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        message_id = snowflake("message_id", message_id)
        content = text("content", content, max_length=CONTENT_MAX_LENGTH)
        table = TicketMessage.__table__  # type: ignore[attr-defined]
        earlier = func.jsonb_build_array(
            func.jsonb_build_object(
                "content", table.c.content, "edited_at", func.coalesce(table.c.edited_at, table.c.sent_at)
            )
        )
        owner = select(col(Ticket.ticket_id)).where(
            col(Ticket.guild_id) == guild_id, col(Ticket.channel_id) == channel_id
        )
        async with self._write() as session:
            result = await session.execute(
                update(TicketMessage)
                .where(
                    col(TicketMessage.message_id) == message_id,
                    col(TicketMessage.guild_id) == guild_id,
                    col(TicketMessage.ticket_id).in_(owner.scalar_subquery()),
                    col(TicketMessage.content) != content,
                )
                .values(edits=table.c.edits.op("||")(earlier), content=content, edited_at=func.now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def erase_author(self, guild_id: int, user_id: int) -> int:
        """The privacy erase of one member's transcript text: content, attachments and edits emptied; how many."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        async with self._write() as session:
            result = await session.execute(
                update(TicketMessage)
                .where(col(TicketMessage.author_id) == user_id, col(TicketMessage.guild_id) == guild_id)
                .values(content="", attachment_urls=[], edits=[])
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def transcript(self, guild_id: int, number: int) -> Transcript:
        """A ticket's whole transcript, in message order (``NotFoundError`` naming ``number``)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            row = (
                (
                    await session.execute(
                        select(Ticket.__table__).where(  # type: ignore[attr-defined]
                            col(Ticket.guild_id) == guild_id, col(Ticket.number) == number
                        )
                    )
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                msg = f"number: guild {guild_id} has no ticket #{number}"
                raise NotFoundError(msg)
            ticket = TicketRead.model_validate(dict(row))
            messages = await session.execute(
                select(TicketMessage.__table__)  # type: ignore[attr-defined]
                .where(col(TicketMessage.guild_id) == guild_id, col(TicketMessage.ticket_id) == ticket.ticket_id)
                .order_by(col(TicketMessage.message_id))
            )
            return Transcript(
                guild_id=guild_id,
                number=number,
                subject=ticket.subject,
                opener_id=ticket.opener_id,
                status=ticket.status,
                opened_at=ticket.opened_at,
                closed_at=ticket.closed_at,
                messages=read_all(TranscriptMessage, messages.mappings()),
            )

    async def export_json(self, guild_id: int, number: int) -> str:
        """The transcript as JSON (``Transcript.model_validate_json`` reads it back)."""
        return (await self.transcript(guild_id, number)).model_dump_json(indent=2)

    async def export_html(self, guild_id: int, number: int) -> str:
        """The transcript as one self-contained HTML page (``transcript_from_html`` reads it back)."""
        return transcript_html(await self.transcript(guild_id, number))


def _first_response(is_staff: bool) -> Any:
    """``now()`` for a staff message (COALESCE keeps an earlier one), NULL for anyone else's."""
    return func.now() if is_staff else literal_column("NULL::timestamptz")
