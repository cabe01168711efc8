"""The server-rendered pages (Jinja2): the same data and the same gates as the API, as HTML forms.

A form posts its CSRF token as ``csrf_token``; a write redirects back to the
page (303), so a reload never repeats it. A page asked for without a session
redirects to ``/login``; a page of a guild the user may not manage is a 403
with no data (and a security event).
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from guildbase.db.types import utcnow
from guildbase.errors import ValidationError
from guildbase.models.core import Feature
from guildbase.services.websessions import WebSession
from guildbase.web.access import Access, Area, acting
from guildbase.web.api import manageable_guilds
from guildbase.web.context import TEMPLATES, WebContext, get_context
from guildbase.web.deps import current_session, guild_access
from guildbase.web.overview import overview, sparkline
from guildbase.web.schemas import CHANNEL_FIELDS, AuditPublic, CasePublic, ConfigPublic

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_context)]
MaybeSession = Annotated[WebSession | None, Depends(current_session)]


def _render(request: Request, name: str, **values: object) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, values)


@router.get("/")
async def home(request: Request, ctx: Ctx, session: MaybeSession) -> Response:
    """The guilds the user may manage, or the login button."""
    if session is None:
        return _render(request, "login.html", session=None)
    return _render(request, "home.html", session=session, guilds=await manageable_guilds(ctx, session))


async def _session_of(request: Request, ctx: WebContext) -> WebSession:
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
    session = await _session_of(request, ctx)
    return _render(request, "overview.html", session=session, guild_id=str(access.guild_id), charts=charts)


@router.get("/guilds/{guild_id}/settings")
async def settings_page(
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.SETTINGS))]
) -> Response:
    """Prefix, channels, roles, welcome message and feature toggles."""
    config = ConfigPublic.of(await ctx.db.guild_config.get(access.guild_id))
    features = await ctx.db.guild_config.features(access.guild_id)
    session = await _session_of(request, ctx)
    return _render(
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
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.CASES))], search: str = ""
) -> Response:
    """The newest cases, with a text search in the reasons and an edit box per reason."""
    rows = await ctx.db.cases.recent(access.guild_id, limit=100)
    if search:
        rows = [row for row in rows if search.casefold() in (row.reason or "").casefold()]
    session = await _session_of(request, ctx)
    return _render(
        request, "cases.html", session=session, guild_id=str(access.guild_id),
        cases=[CasePublic.of(row) for row in rows], search=search,
    )  # fmt: skip


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
    session = await _session_of(request, ctx)
    return _render(request, "audit.html", session=session, guild_id=str(access.guild_id), rows=rows)
