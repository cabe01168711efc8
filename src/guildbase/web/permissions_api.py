"""The permissions page's data (admins only): ranks, rules, and the "explain" tool.

``explain`` answers what the bot's check would answer for a member running a
command (``db.permissions.explain``: the same precedence, without logging a
check), with the sentence the bot would give. See docs/permissions.md.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from guildbase.web.access import Access, Area
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import guild_access
from guildbase.web.errors import ERROR_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/api/guilds/{guild_id}/permissions", tags=["permissions"], responses=ERROR_RESPONSES)
Ctx = Annotated[WebContext, Depends(get_context)]
Admin = Annotated[Access, Depends(guild_access(Area.SETTINGS))]
IDS = r"^[0-9]{15,20}(,[0-9]{15,20}){0,49}$"


class RulePublic(BaseModel):
    """One allow/deny rule, described as the bot describes it."""

    rule_id: int
    description: str
    effect: str
    subject_kind: str
    subject_id: str
    target_kind: str
    target_name: str


class PermissionsPublic(BaseModel):
    """A guild's ranks and rules."""

    is_unconfigured_allowed: bool
    rank_names: dict[str, str]
    role_ranks: dict[str, int]
    command_ranks: dict[str, int]
    rules: list[RulePublic]


class ExplainPublic(BaseModel):
    """Whether the member may run the command, and why."""

    allowed: bool
    decided_by: str
    reason: str


@router.get("")
async def permissions(ctx: Ctx, access: Admin) -> PermissionsPublic:
    """Ranks (named), role ranks, command ranks and every rule."""
    current = await ctx.db.permissions.get(access.guild_id)
    rules = [
        RulePublic(
            rule_id=rule.rule_id,
            description=rule.describe(),
            effect=str(rule.effect),
            subject_kind=str(rule.subject_kind),
            subject_id=str(rule.subject_id),
            target_kind=str(rule.target_kind),
            target_name=rule.target_name,
        )
        for rule in current.rules
    ]
    return PermissionsPublic(
        is_unconfigured_allowed=current.is_unconfigured_allowed,
        rank_names={str(rank): name for rank, name in current.rank_names.items()},
        role_ranks={str(role): rank for role, rank in current.role_ranks.items()},
        command_ranks=dict(current.command_ranks),
        rules=rules,
    )


@router.get("/explain")
async def explain(
    ctx: Ctx,
    access: Admin,
    user_id: Annotated[str, Query(pattern=r"^[0-9]{15,20}$")],
    command: Annotated[str, Query(min_length=1, max_length=100)],
    role_ids: Annotated[str, Query(pattern=IDS, description="The member's roles, highest first, comma-separated")] = "",
) -> ExplainPublic:
    """What the bot would answer if this member ran ``command`` now."""
    roles = [int(role) for role in role_ids.split(",") if role]
    decision = await ctx.db.permissions.explain(access.guild_id, int(user_id), command=command, role_ids=roles)
    return ExplainPublic(allowed=decision.allowed, decided_by=str(decision.decided_by), reason=decision.reason())
