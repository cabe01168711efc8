"""The notes API: moderators' numbered notes about members (``db.notes``), beside the cases.

Notes belong to ``Area.CASES``, so a member whose rank reaches the dashboard's
moderator rank may read and write them as they may cases (docs/dashboard.md);
an API key needs ``cases:read`` / ``cases:write``. The author of a new note
and the editor of a changed one is the logged-in user (or the key's creator).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from guildbase.web.access import Access, Area, acting, actor_id
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import guild_access
from guildbase.web.domain_schemas import NoteCreate, NotePublic, NoteUpdate
from guildbase.web.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/api/guilds/{guild_id}/notes", tags=["notes"], responses=ERROR_RESPONSES)
Ctx = Annotated[WebContext, Depends(get_context)]
Writer = Annotated[Access, Depends(guild_access(Area.CASES, write=True))]
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("")
async def notes(
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.CASES))],
    user_id: Annotated[str, Query(pattern=r"^[0-9]{15,20}$")],
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> list[NotePublic]:
    """A member's live notes, newest first."""
    rows = await ctx.db.notes.list_for_user(access.guild_id, int(user_id), limit=limit)
    return [NotePublic.of(row) for row in rows]


@router.post("", status_code=201)
async def add_note(ctx: Ctx, note: NoteCreate, access: Writer) -> NotePublic:
    """Write a note about a member, as the logged-in user."""
    with acting(access):
        row = await ctx.db.notes.create(access.guild_id, int(note.user_id), actor_id(access), note.content)
    return NotePublic.of(row)


@router.patch("/{number}")
async def edit_note(ctx: Ctx, number: Number, change: NoteUpdate, access: Writer) -> NotePublic:
    """Replace a note's text (the old and new text are audited)."""
    with acting(access):
        row = await ctx.db.notes.edit(access.guild_id, number, change.content, actor_id=actor_id(access))
    return NotePublic.of(row)
