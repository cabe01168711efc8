"""The levels API: the leaderboard (``db.levels.leaderboard``, the PostgreSQL keyset path) and level rewards.

Rewards are ``db.levels`` level roles: one role per level, one level per role
(a role already rewarding another level is a 409). Adding and removing them
are audited writes inside ``acting(access)``; an API key needs
``levels:read`` / ``levels:write``.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from guildbase.errors import NotFoundError
from guildbase.models.levels import MAX_REWARD_LEVEL
from guildbase.web.access import Access, Area, acting
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import guild_access
from guildbase.web.domain_schemas import LeaderboardEntryPublic, LevelRewardCreate, LevelRewardPublic
from guildbase.web.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/api/guilds/{guild_id}/levels", tags=["levels"], responses=ERROR_RESPONSES)
Ctx = Annotated[WebContext, Depends(get_context)]
Reader = Annotated[Access, Depends(guild_access(Area.LEVELS))]
Writer = Annotated[Access, Depends(guild_access(Area.LEVELS, write=True))]


@router.get("/leaderboard")
async def leaderboard(
    ctx: Ctx, access: Reader, limit: Annotated[int, Query(ge=1, le=100)] = 25
) -> list[LeaderboardEntryPublic]:
    """The top members by XP (a 400 when the guild turned levels off)."""
    page = await ctx.db.levels.leaderboard(access.guild_id, limit=limit)
    return [LeaderboardEntryPublic.of(entry) for entry in page.entries]


@router.get("/rewards")
async def rewards(ctx: Ctx, access: Reader) -> list[LevelRewardPublic]:
    """The reward roles by level."""
    return [LevelRewardPublic.of(row) for row in await ctx.db.levels.level_roles(access.guild_id)]


@router.post("/rewards")
async def add_reward(ctx: Ctx, reward: LevelRewardCreate, access: Writer) -> LevelRewardPublic:
    """Reward a role at a level (replacing that level's reward)."""
    with acting(access):
        row = await ctx.db.levels.set_level_role(access.guild_id, reward.level, int(reward.role_id))
    return LevelRewardPublic.of(row)


@router.delete("/rewards/{level}", status_code=204)
async def remove_reward(ctx: Ctx, level: Annotated[int, Path(ge=1, le=MAX_REWARD_LEVEL)], access: Writer) -> None:
    """Stop rewarding a role at ``level`` (404 when there is no reward there)."""
    with acting(access):
        removed = await ctx.db.levels.remove_level_role(access.guild_id, level)
    if not removed:
        msg = f"level {level} has no reward role"
        raise NotFoundError(msg)
