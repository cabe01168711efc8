"""Privacy for the logged-in user (R10.2 on the web): "export my data" and "erase my data".

Both act on the user themself (``requested_by`` is the user), through
``db.privacy``, which records the request. The export streams the one JSON
document the CLI writes; the erase needs the session's CSRF token and the
confirmation phrase, then ends every session of the user (their tokens are
erased with them).
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from guildbase.errors import ValidationError
from guildbase.services.websessions import WebSession
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import require_session
from guildbase.web.errors import ERROR_RESPONSES

__all__ = ["CONFIRMATION", "erase_user", "router"]

CONFIRMATION = "erase my data"
router = APIRouter(prefix="/api/me", tags=["privacy"], responses=ERROR_RESPONSES)
Ctx = Annotated[WebContext, Depends(get_context)]
Session = Annotated[WebSession, Depends(require_session)]


class EraseRequest(BaseModel):
    """The confirmation that the user means it."""

    model_config = ConfigDict(extra="forbid")

    confirm: str = Field(max_length=100, description=f"must be exactly {CONFIRMATION!r}")


class PrivacyRequestPublic(BaseModel):
    """What was done, as recorded."""

    request_id: int
    kind: str
    status: str
    counts: dict[str, object]


@router.get("/export", response_class=StreamingResponse, responses={200: {"content": {"application/json": {}}}})
async def export_my_data(ctx: Ctx, session: Session) -> StreamingResponse:
    """Everything guildbase holds about the user, as one JSON document (a download)."""

    async def chunks() -> AsyncIterator[str]:
        async for chunk in ctx.db.privacy.export(session.user_id, requested_by=session.user_id):
            yield chunk.text

    headers = {"Content-Disposition": f'attachment; filename="guildbase-{session.user_id}.json"'}
    return StreamingResponse(chunks(), media_type="application/json", headers=headers)


async def erase_user(ctx: WebContext, session: WebSession, confirm: str) -> PrivacyRequestPublic:
    """Erase the session's user once ``confirm`` is the phrase (else a 422 naming ``confirm``); end their sessions."""
    if confirm != CONFIRMATION:
        raise ValidationError.single("confirm", "confirmation", f"must be exactly {CONFIRMATION!r} to erase your data")
    done = await ctx.db.privacy.erase(session.user_id, requested_by=session.user_id)
    await ctx.db.web_sessions.revoke_all(session.user_id)
    return PrivacyRequestPublic(
        request_id=done.request_id, kind=str(done.kind), status=str(done.status), counts=done.counts
    )


@router.post("/erase")
async def erase_my_data(ctx: Ctx, session: Session, request: EraseRequest) -> PrivacyRequestPublic:
    """Erase the user by every table's policy, then end all their sessions."""
    return await erase_user(ctx, session, request.confirm)
