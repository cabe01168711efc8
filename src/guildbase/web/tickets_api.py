"""The tickets and premium API (admins, read-only).

Tickets by status, a ticket's transcript, the ticket metrics over a period,
and the guild's premium status.
The transcript is ``db.tickets.transcript`` (IDs as strings) and the page
shows ``db.tickets.export_html``, the self-contained page the bot archives. Metrics are
``db.tickets.metrics`` over the last ``days`` UTC days. Premium is
``db.premium.benefits`` (the tier, features and limits in force) and the
guild's subscriptions with their states.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from guildbase.db.types import utcnow
from guildbase.errors import NotFoundError
from guildbase.models.premium import OwnerType
from guildbase.models.tickets import TicketStatus
from guildbase.web.access import Access, Area
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import guild_access
from guildbase.web.domain_schemas import PremiumPublic, TicketMetricsPublic, TicketPublic, TranscriptPublic
from guildbase.web.errors import ERROR_RESPONSES

__all__ = ["premium_status", "router", "ticket_metrics"]

router = APIRouter(prefix="/api/guilds/{guild_id}", tags=["tickets"], responses=ERROR_RESPONSES)
Ctx = Annotated[WebContext, Depends(get_context)]
Tickets = Annotated[Access, Depends(guild_access(Area.TICKETS))]
Number = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def ticket_metrics(ctx: WebContext, guild_id: int, days: int) -> TicketMetricsPublic:
    """The last ``days`` UTC days, today included."""
    today = utcnow().date()
    return TicketMetricsPublic.of(await ctx.db.tickets.metrics(guild_id, today - timedelta(days=days - 1), today))


async def premium_status(ctx: WebContext, guild_id: int) -> PremiumPublic:
    """The tier in force and every subscription of the guild."""
    benefits = await ctx.db.premium.benefits(guild_id)
    return PremiumPublic.of(benefits, await ctx.db.premium.subscriptions(OwnerType.GUILD, guild_id))


@router.get("/tickets")
async def tickets(
    *,
    ctx: Ctx,
    access: Tickets,
    status: TicketStatus | None = None,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[TicketPublic]:
    """Tickets newest first, of one status when given; ``before`` (a number) pages on."""
    rows = await ctx.db.tickets.browse(access.guild_id, status=status, limit=limit, before=before)
    return [TicketPublic.of(row) for row in rows]


@router.get("/tickets/metrics")
async def metrics(ctx: Ctx, access: Tickets, days: Annotated[int, Query(ge=1, le=90)] = 30) -> TicketMetricsPublic:
    """Opened, closed, reopened, response and resolution times, backlog and ratings."""
    return await ticket_metrics(ctx, access.guild_id, days)


@router.get("/tickets/{number}")
async def ticket(ctx: Ctx, number: Number, access: Tickets) -> TicketPublic:
    """One ticket (404 when the guild has no such ticket)."""
    row = await ctx.db.tickets.get(access.guild_id, number)
    if row is None:
        msg = f"no ticket #{number}"
        raise NotFoundError(msg)
    return TicketPublic.of(row)


@router.get("/tickets/{number}/transcript")
async def transcript(ctx: Ctx, number: Number, access: Tickets) -> TranscriptPublic:
    """The ticket's transcript as the bot archives it (messages, edits, attachments); the page shows its HTML."""
    return TranscriptPublic.of(await ctx.db.tickets.transcript(access.guild_id, number))


@router.get("/premium", tags=["premium"])
async def premium(ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.PREMIUM))]) -> PremiumPublic:
    """The guild's tier (None: free), its features and limits, and its subscriptions."""
    return await premium_status(ctx, access.guild_id)
