"""The JSON API (R21.5) under ``/api``: every page's data, with session (plus CSRF) or API-key auth.

Writes go through the facade's controllers inside ``acting(access)``, so each
one writes its audit row (who, from the dashboard or a key) and drops the
cache keys it made stale: the bot reads the change on its next lookup.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from guildbase.db.types import utcnow
from guildbase.services.websessions import WebSession
from guildbase.web.access import Access, Area, acting, bot_is_in
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import guild_access, require_session
from guildbase.web.errors import ERROR_RESPONSES
from guildbase.web.overview import Overview, overview
from guildbase.web.schemas import (
    AuditPublic,
    CasePublic,
    CaseReasonUpdate,
    ConfigPublic,
    ConfigUpdate,
    FeaturesPublic,
    FeaturesUpdate,
    GuildPublic,
    MePublic,
)

__all__ = ["manageable_guilds", "router"]

router = APIRouter(prefix="/api", tags=["api"], responses=ERROR_RESPONSES)
Ctx = Annotated[WebContext, Depends(get_context)]
Session = Annotated[WebSession, Depends(require_session)]


async def manageable_guilds(ctx: WebContext, session: WebSession) -> list[GuildPublic]:
    """The user's guilds that they may manage on Discord and that the bot is in."""
    managed = [entry for entry in await ctx.auth.guilds(session) if entry.can_manage]
    present = [entry for entry in managed if await bot_is_in(ctx, entry.guild_id)]
    return [GuildPublic(guild_id=str(entry.guild_id), name=entry.name, is_admin=True) for entry in present]


@router.get("/me")
async def me(session: Session) -> MePublic:
    """Who is logged in, and the CSRF token the session's writes must send (``X-CSRF-Token``)."""
    return MePublic(
        user_id=str(session.user_id),
        username=str(session.data.get("username") or ""),
        csrf_token=str(session.data["csrf"]),
    )


@router.get("/guilds")
async def guilds(ctx: Ctx, session: Session) -> list[GuildPublic]:
    """The guilds the user may manage here."""
    return await manageable_guilds(ctx, session)


@router.get("/guilds/{guild_id}/config")
async def get_config(ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.SETTINGS))]) -> ConfigPublic:
    """The guild's settings (read through the same cache the bot reads)."""
    return ConfigPublic.of(await ctx.db.guild_config.get(access.guild_id))


@router.patch("/guilds/{guild_id}/config")
async def update_config(
    ctx: Ctx, change: ConfigUpdate, access: Annotated[Access, Depends(guild_access(Area.SETTINGS, write=True))]
) -> ConfigPublic:
    """Change some settings; a bad value is a 422 naming the field, and nothing is written."""
    with acting(access):
        config = await ctx.db.guild_config.update(access.guild_id, change.changes())
    return ConfigPublic.of(config)


@router.get("/guilds/{guild_id}/features")
async def get_features(ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.SETTINGS))]) -> FeaturesPublic:
    """Every feature toggle."""
    states = await ctx.db.guild_config.features(access.guild_id)
    return FeaturesPublic(features={str(feature): on for feature, on in states.items()})


@router.put("/guilds/{guild_id}/features")
async def set_features(
    ctx: Ctx, change: FeaturesUpdate, access: Annotated[Access, Depends(guild_access(Area.SETTINGS, write=True))]
) -> FeaturesPublic:
    """Turn features on or off; an unknown feature is a 422 naming it."""
    with acting(access):
        for name, enabled in change.features.items():
            await ctx.db.guild_config.set_feature(access.guild_id, name, enabled=enabled)
    states = await ctx.db.guild_config.features(access.guild_id)
    return FeaturesPublic(features={str(feature): on for feature, on in states.items()})


@router.get("/guilds/{guild_id}/cases")
async def cases(
    *,
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.CASES))],
    user_id: Annotated[str | None, Query(pattern=r"^[0-9]{15,20}$")] = None,
    case_type: Annotated[str | None, Query(alias="type", max_length=40)] = None,
    search: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[CasePublic]:
    """Cases, newest first, filtered by user, type and words of the reason (one query: ``db.cases.search``)."""
    rows = await ctx.db.cases.search(
        access.guild_id,
        text=search or None,
        user_id=None if user_id is None else int(user_id),
        case_type=case_type,
        limit=limit,
    )
    return [CasePublic.of(row) for row in rows]


@router.patch("/guilds/{guild_id}/cases/{number}")
async def edit_case_reason(
    ctx: Ctx,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    change: CaseReasonUpdate,
    access: Annotated[Access, Depends(guild_access(Area.CASES, write=True))],
) -> CasePublic:
    """Replace a case's reason (audited with the old and new reason)."""
    with acting(access):
        case = await ctx.db.cases.update_reason(access.guild_id, number, change.reason, actor_id=access.user_id)
    return CasePublic.of(case)


@router.get("/guilds/{guild_id}/audit")
async def audit(
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.AUDIT))],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[AuditPublic]:
    """The guild's audit log, newest first."""
    return [AuditPublic.of(row) for row in await ctx.db.audit.for_guild(access.guild_id, limit=limit)]


@router.get("/guilds/{guild_id}/overview")
async def get_overview(
    ctx: Ctx,
    request: Request,
    access: Annotated[Access, Depends(guild_access(Area.OVERVIEW))],
    days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> Overview:
    """Members, messages, commands and errors per day, from the rollups."""
    del request
    return await overview(ctx.db, access.guild_id, since=(utcnow() - timedelta(days=days - 1)).date())
