"""Moderator notes: numbered per guild like cases; edits and deletes are recorded.

Guarantees:

- Numbers: a note takes the guild's next note number in the same statement
  as its insert (``db.numbering``), after validation. A failed create gives
  the number back, so numbers stay 1..N with no gap and no duplicate.
- Deleting is a soft delete: the number is never reused and the note's
  change trail stays readable.
"""

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.moderation_common import MAX_PAGE, _actor, _change, _missing, _trail
from guildbase.controllers.moderation_queries import _page
from guildbase.db.audit import audited_insert, record_audit
from guildbase.db.mixins import actor_columns, live
from guildbase.db.numbering import numbered_insert
from guildbase.db.rows import read_all
from guildbase.db.validation import optional_positive, page_limit, positive, snowflake, validate
from guildbase.models.audit import AuditAction, AuditEntity, AuditLogRead
from guildbase.models.core import CounterKind
from guildbase.models.moderation import (
    Note,
    NoteCreate,
    NoteEdit,
    NoteRead,
)

__all__ = ["CREATE_NOTE", "NoteController", "notes_query"]

CREATE_NOTE = numbered_insert(Note, CounterKind.NOTE)
"""The guild's next note number and the note, in one statement."""
CREATE_NOTE_AUDITED = audited_insert(
    CREATE_NOTE, AuditAction.NOTE_CREATE, AuditEntity.NOTE, "note_id", ("number", "user_id", "moderator_id", "content")
)
"""``CREATE_NOTE`` with the creation's audit row, still one statement."""


def notes_query(guild_id: int, user_id: int, *, limit: int = 25, before: int | None = None) -> Select[Note]:
    """A user's live notes, newest first (``ix_note_guild_id_user_id_number``)."""
    stmt = select(Note).where(col(Note.guild_id) == guild_id, col(Note.user_id) == user_id)
    return _page(stmt.where(live(Note)), col(Note.number), limit, before)


class NoteController(Controller):
    """Numbered moderator notes about users; edits and deletes are recorded."""

    async def create(self, guild_id: int, user_id: int, moderator_id: int, content: str) -> NoteRead:
        """Add a note with the guild's next note number (no number is used if it fails)."""
        checked = validate(
            NoteCreate, {"guild_id": guild_id, "user_id": user_id, "moderator_id": moderator_id, "content": content}
        )
        values = checked.model_dump(mode="python") | actor_columns(Note, "insert")
        # Admitted like a case (``db.hot_rows``), then one statement: number + insert + audit row.
        async with self._db.hot_rows.admit(checked.guild_id, CounterKind.NOTE), self._fast(transaction=False) as unit:
            return NoteRead.model_validate(await CREATE_NOTE_AUDITED.fetchrow(unit.connection, values))

    async def get(self, guild_id: int, number: int) -> NoteRead | None:
        """Note ``number`` of the guild, or None (also when deleted)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            note = await self._find(session, guild_id, number)
            return None if note is None else NoteRead.model_validate(note)

    async def list_for_user(
        self, guild_id: int, user_id: int, *, limit: int = 25, before: int | None = None
    ) -> list[NoteRead]:
        """A user's live notes, newest first; pass ``before=page[-1].number`` for the next page."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        stmt = notes_query(
            guild_id, user_id, limit=page_limit(limit, MAX_PAGE), before=optional_positive("before", before)
        )
        async with self._write() as session:
            return read_all(NoteRead, await session.scalars(stmt))

    async def edit(self, guild_id: int, number: int, content: str, *, actor_id: int | None = None) -> NoteRead:
        """Replace a note's text, recording the old and new text and who changed it."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        checked = validate(NoteEdit, {"content": content})
        actor = _actor(actor_id)
        async with self._write() as session:
            note = await self._locked(session, guild_id, number)
            await _change(session, note, AuditAction.NOTE_EDIT, "content", checked.content, actor=actor)
            return NoteRead.model_validate(note)

    async def delete(self, guild_id: int, number: int, *, actor_id: int | None = None) -> bool:
        """Soft-delete a note (its number is never reused); False if it does not exist."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        actor = _actor(actor_id)
        async with self._write() as session:
            note = await self._find(session, guild_id, number, lock=True)
            if note is None:
                return False
            note.mark_deleted(actor=actor)
            assert note.note_id is not None  # noqa: S101 - a loaded note has its key
            await session.flush()
            await record_audit(
                session,
                AuditAction.NOTE_DELETE,
                AuditEntity.NOTE,
                note.note_id,
                guild_id=guild_id,
                before={"content": note.content, "deleted": False},
                after={"deleted": True},
                actor=actor,
            )
            return True

    async def changes(self, guild_id: int, number: int) -> list[AuditLogRead]:
        """Every recorded change to a note (deleted notes included), oldest first."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            note = await self._find(session, guild_id, number, include_deleted=True)
            if note is None:
                raise _missing("note", guild_id, number)
            assert note.note_id is not None  # noqa: S101
            return await _trail(session, AuditEntity.NOTE, note.note_id)

    @staticmethod
    async def _find(
        session: AsyncSession, guild_id: int, number: int, *, lock: bool = False, include_deleted: bool = False
    ) -> Note | None:
        stmt = select(Note).where(col(Note.guild_id) == guild_id, col(Note.number) == number)
        if lock:
            stmt = stmt.with_for_update()
        return (await session.scalars(stmt, execution_options={"include_deleted": include_deleted})).one_or_none()

    async def _locked(self, session: AsyncSession, guild_id: int, number: int) -> Note:
        note = await self._find(session, guild_id, number, lock=True)
        if note is None:
            raise _missing("note", guild_id, number)
        return note
