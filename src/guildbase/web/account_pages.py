"""The permissions page (admins: ranks, rules and the "explain" tool) and the privacy page (the user's own data).

Both show what their API already answers (``permissions_api``,
``privacy_routes``) through the same functions. The erase form posts the
session's CSRF token and the confirmation phrase; once done, every session of
the user has ended, so it lands on the login page.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from guildbase.services.websessions import WebSession
from guildbase.web.access import Access, Area
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import current_session, guild_access, require_session
from guildbase.web.pages import redirect, render, session_of
from guildbase.web.permissions_api import IDS, ExplainPublic, explain, permissions
from guildbase.web.privacy_routes import CONFIRMATION, erase_user

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_context)]


@router.get("/guilds/{guild_id}/permissions")
async def permissions_page(
    *,
    request: Request,
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.SETTINGS))],
    user_id: Annotated[str, Query(pattern=r"^([0-9]{15,20})?$")] = "",
    command: Annotated[str, Query(max_length=100)] = "",
    role_ids: Annotated[str, Query(pattern=f"^({IDS[1:-1]})?$")] = "",
) -> Response:
    """Ranks, role ranks, command ranks and rules; with a member and a command, what the bot would answer."""
    current = await permissions(ctx, access)
    answer: ExplainPublic | None = None
    if user_id and command:
        answer = await explain(ctx, access, user_id=user_id, command=command, role_ids=role_ids)
    session = await session_of(request, ctx)
    return render(
        request, "permissions.html", session=session, guild_id=str(access.guild_id), permissions=current,
        answer=answer, asked={"user_id": user_id, "command": command, "role_ids": role_ids},
    )  # fmt: skip


@router.get("/privacy")
async def privacy_page(request: Request, session: Annotated[WebSession | None, Depends(current_session)]) -> Response:
    """Download my data, or ask for it to be erased."""
    if session is None:
        return redirect("/")
    return render(request, "privacy.html", session=session, confirmation=CONFIRMATION)


@router.post("/privacy/erase")
async def erase_page(
    ctx: Ctx,
    session: Annotated[WebSession, Depends(require_session)],
    confirm: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Erase the user (the phrase must match: a 422 naming ``confirm`` otherwise), then go to the login page."""
    await erase_user(ctx, session, confirm)
    return redirect("/")
