"""The levels, tickets and premium pages: the data of ``levels_api`` and ``tickets_api`` as HTML.

Same gates as the API (``guild_access`` per area, CSRF and a fresh manage
check on every form post), same controllers; a write redirects back (303).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from guildbase.errors import FeatureDisabledError, NotFoundError
from guildbase.models.levels import MAX_REWARD_LEVEL
from guildbase.models.tickets import TicketStatus
from guildbase.web.access import Access, Area, acting
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import guild_access
from guildbase.web.domain_schemas import LeaderboardEntryPublic, LevelRewardPublic, TicketPublic
from guildbase.web.pages import redirect, render, session_of
from guildbase.web.tickets_api import premium_status, ticket_metrics

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_context)]
Level = Annotated[int, Form(ge=1, le=MAX_REWARD_LEVEL)]


@router.get("/guilds/{guild_id}/levels")
async def levels_page(
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.LEVELS))]
) -> Response:
    """The top 25 members and the reward roles, with forms to add and remove rewards."""
    try:
        page = await ctx.db.levels.leaderboard(access.guild_id, limit=25)
        board: list[LeaderboardEntryPublic] | None = [LeaderboardEntryPublic.of(entry) for entry in page.entries]
    except FeatureDisabledError:
        board = None  # the page says levels are off; rewards stay editable
    rewards = [LevelRewardPublic.of(row) for row in await ctx.db.levels.level_roles(access.guild_id)]
    session = await session_of(request, ctx)
    return render(
        request, "levels.html", session=session, guild_id=str(access.guild_id), board=board, rewards=rewards
    )  # fmt: skip


@router.post("/guilds/{guild_id}/levels/rewards")
async def add_reward(
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.LEVELS, write=True))],
    level: Level,
    role_id: Annotated[str, Form(pattern=r"^[0-9]{15,20}$")],
) -> Response:
    """Reward a role at a level."""
    with acting(access):
        await ctx.db.levels.set_level_role(access.guild_id, level, int(role_id))
    return redirect(f"/guilds/{access.guild_id}/levels")


@router.post("/guilds/{guild_id}/levels/rewards/{level}/delete")
async def remove_reward(
    ctx: Ctx,
    level: Annotated[int, Path(ge=1, le=MAX_REWARD_LEVEL)],
    access: Annotated[Access, Depends(guild_access(Area.LEVELS, write=True))],
) -> Response:
    """Stop rewarding a role at a level."""
    with acting(access):
        await ctx.db.levels.remove_level_role(access.guild_id, level)
    return redirect(f"/guilds/{access.guild_id}/levels")


@router.get("/guilds/{guild_id}/tickets")
async def tickets_page(
    request: Request,
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.TICKETS))],
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The newest tickets (of one status when chosen: the controller names ``status`` if unknown) and metrics."""
    rows = await ctx.db.tickets.browse(access.guild_id, status=status or None, limit=100)
    metrics = await ticket_metrics(ctx, access.guild_id, 30)
    session = await session_of(request, ctx)
    return render(
        request, "tickets.html", session=session, guild_id=str(access.guild_id),
        tickets=[TicketPublic.of(row) for row in rows], status=status, statuses=list(TicketStatus), metrics=metrics,
    )  # fmt: skip


@router.get("/guilds/{guild_id}/tickets/{number}/transcript")
async def transcript_page(
    ctx: Ctx,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    access: Annotated[Access, Depends(guild_access(Area.TICKETS))],
) -> HTMLResponse:
    """The transcript page the bot archives (self-contained; every message escaped)."""
    if await ctx.db.tickets.get(access.guild_id, number) is None:
        msg = f"no ticket #{number}"
        raise NotFoundError(msg)
    return HTMLResponse(await ctx.db.tickets.export_html(access.guild_id, number))


@router.get("/guilds/{guild_id}/premium")
async def premium_page(
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.PREMIUM))]
) -> Response:
    """The guild's tier, features, limits and subscriptions."""
    status = await premium_status(ctx, access.guild_id)
    session = await session_of(request, ctx)
    return render(request, "premium.html", session=session, guild_id=str(access.guild_id), premium=status)
