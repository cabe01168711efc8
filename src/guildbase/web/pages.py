"""The server-rendered pages (Jinja2): the same data and the same gates as the API, as HTML forms.

A form posts its CSRF token as ``csrf_token``; a write redirects back to the
page (303), so a reload never repeats it. A page asked for without a session
redirects to ``/login``; a page of a guild the user may not manage is a 403
with no data (and a security event).
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from guildbase.db.types import utcnow
from guildbase.errors import ValidationError
from guildbase.models.core import Feature
from guildbase.models.moderation import NOTE_MAX_LENGTH
from guildbase.services.websessions import WebSession
from guildbase.web.access import Access, Area, acting, actor_id
from guildbase.web.api import manageable_guilds
from guildbase.web.context import TEMPLATES, WebContext, get_context
from guildbase.web.deps import current_session, guild_access
from guildbase.web.domain_schemas import NotePublic
from guildbase.web.overview import overview, sparkline
from guildbase.web.schemas import CHANNEL_FIELDS, AuditPublic, CasePublic, ConfigPublic

__all__ = ["redirect", "render", "router", "session_of"]

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_context)]
MaybeSession = Annotated[WebSession | None, Depends(current_session)]


def render(request: Request, name: str, **values: object) -> HTMLResponse:
    """The template ``name`` with ``values``."""
    return TEMPLATES.TemplateResponse(request, name, values)


def redirect(path: str) -> RedirectResponse:
    """After a form's write: show the page again (303, so a reload does not repeat the write)."""
    return RedirectResponse(path, status_code=303)


@router.get("/")
async def home(request: Request, ctx: Ctx, session: MaybeSession) -> Response:
    """The guilds the user may manage, or the login button."""
    if session is None:
        return render(request, "login.html", session=None)
    return render(request, "home.html", session=session, guilds=await manageable_guilds(ctx, session))


async def session_of(request: Request, ctx: WebContext) -> WebSession:
    """The session ``guild_access`` admitted the request with (a page always has one)."""
    session = await current_session(request, ctx)
    assert session is not None  # noqa: S101 - guild_access admitted the request with it
    return session


@router.get("/guilds/{guild_id}")
async def guild_overview(
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.OVERVIEW))]
) -> Response:
    """Charts of the last 14 days."""
    data = await overview(ctx.db, access.guild_id, since=(utcnow() - timedelta(days=13)).date())
    charts = [(series, sparkline(series)) for series in data.series]
    session = await session_of(request, ctx)
    return render(request, "overview.html", session=session, guild_id=str(access.guild_id), charts=charts)


@router.get("/guilds/{guild_id}/settings")
async def settings_page(
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.SETTINGS))]
) -> Response:
    """Prefix, channels, roles, welcome message and feature toggles."""
    config = ConfigPublic.of(await ctx.db.guild_config.get(access.guild_id))
    features = await ctx.db.guild_config.features(access.guild_id)
    session = await session_of(request, ctx)
    return render(
        request, "settings.html", session=session, guild_id=str(access.guild_id), config=config,
        features={str(f): on for f, on in features.items()}, channel_fields=CHANNEL_FIELDS,
    )  # fmt: skip


@router.post("/guilds/{guild_id}/settings")
async def save_settings(
    *,
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.SETTINGS, write=True))],
    prefix: Annotated[str, Form(max_length=200)],
    welcome_message: Annotated[str, Form(max_length=10_000)] = "",
    welcome_channel_id: Annotated[str, Form(max_length=25)] = "",
    mod_log_channel_id: Annotated[str, Form(max_length=25)] = "",
) -> Response:
    """Save the settings form (one audited update), then show the page again."""
    changes: dict[str, object] = {"prefix": prefix, "welcome_message": welcome_message or None}
    for name, raw in (("welcome_channel_id", welcome_channel_id), ("mod_log_channel_id", mod_log_channel_id)):
        if raw and not raw.isdigit():
            raise ValidationError.single(name, "snowflake", f"must be a channel ID (digits), got {raw!r}")
        changes[name] = int(raw) if raw else None
    with acting(access):
        await ctx.db.guild_config.update(access.guild_id, changes)
    return RedirectResponse(f"/guilds/{access.guild_id}/settings", status_code=303)


@router.post("/guilds/{guild_id}/features")
async def save_features(
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.SETTINGS, write=True))]
) -> Response:
    """Save the feature toggles (a checked box is on)."""
    form = await request.form()
    with acting(access):
        for feature in Feature:
            await ctx.db.guild_config.set_feature(access.guild_id, feature, enabled=form.get(feature.value) == "on")
    return RedirectResponse(f"/guilds/{access.guild_id}/settings", status_code=303)


@router.get("/guilds/{guild_id}/cases")
async def cases_page(
    *,
    request: Request,
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.CASES))],
    search: Annotated[str, Query(max_length=100)] = "",
    notes_user: Annotated[str, Query(pattern=r"^([0-9]{15,20})?$")] = "",
) -> Response:
    """The newest cases, with a text search in the reasons and an edit box per reason; a member's notes."""
    rows = await ctx.db.cases.search(access.guild_id, text=search.strip() or None, limit=100)
    notes = await ctx.db.notes.list_for_user(access.guild_id, int(notes_user), limit=50) if notes_user else []
    session = await session_of(request, ctx)
    return render(
        request, "cases.html", session=session, guild_id=str(access.guild_id),
        cases=[CasePublic.of(row) for row in rows], search=search, notes_user=notes_user,
        notes=[NotePublic.of(note) for note in notes],
    )  # fmt: skip


@router.post("/guilds/{guild_id}/notes")
async def add_note(
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.CASES, write=True))],
    user_id: Annotated[str, Form(pattern=r"^[0-9]{15,20}$")],
    content: Annotated[str, Form(min_length=1, max_length=NOTE_MAX_LENGTH)],
) -> Response:
    """Write a note about a member, then show their notes."""
    with acting(access):
        await ctx.db.notes.create(access.guild_id, int(user_id), actor_id(access), content)
    return redirect(f"/guilds/{access.guild_id}/cases?notes_user={user_id}")


@router.post("/guilds/{guild_id}/notes/{number}")
async def save_note(
    ctx: Ctx,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    access: Annotated[Access, Depends(guild_access(Area.CASES, write=True))],
    content: Annotated[str, Form(min_length=1, max_length=NOTE_MAX_LENGTH)],
) -> Response:
    """Replace a note's text, then show the member's notes."""
    with acting(access):
        note = await ctx.db.notes.edit(access.guild_id, number, content, actor_id=actor_id(access))
    return redirect(f"/guilds/{access.guild_id}/cases?notes_user={note.user_id}")


@router.post("/guilds/{guild_id}/cases/{number}")
async def save_case_reason(
    ctx: Ctx,
    number: int,
    access: Annotated[Access, Depends(guild_access(Area.CASES, write=True))],
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Replace one case's reason."""
    with acting(access):
        await ctx.db.cases.update_reason(access.guild_id, number, reason or None, actor_id=access.user_id)
    return RedirectResponse(f"/guilds/{access.guild_id}/cases", status_code=303)


@router.get("/guilds/{guild_id}/audit")
async def audit_page(
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.AUDIT))]
) -> Response:
    """The guild's audit log."""
    rows = [AuditPublic.of(row) for row in await ctx.db.audit.for_guild(access.guild_id, limit=100)]
    session = await session_of(request, ctx)
    return render(request, "audit.html", session=session, guild_id=str(access.guild_id), rows=rows)
