"""The premium expiry job: at each deadline a subscription moves on, and its owner is told.

``premium.expiry`` jobs are enqueued by ``db.premium`` in the transaction
that sets a deadline (``controllers/premium_state.py``): active → grace at the
period's end, trialing → expired at the trial's end, grace → expired at the
grace's end. The handler re-reads the subscription and moves it only if it is
still in the status, with the deadline, the job was made for (a renewal or a
cancel meanwhile makes the job stale, and it does nothing). The move commits
with the job (``ctx.then``), dropping the owner's cached benefits in every
process at that moment; the owner is told after that commit (``ctx.on_commit``),
so nobody is told of a downgrade that did not happen. Every worker runs it,
with or without Discord: without ``notify`` nobody is told, the move still happens.
"""

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.jobs.registry import JobContext, JobRegistry
from guildbase.models.premium import NEXT_STATUS, PREMIUM_EXPIRY, ExpiryPayload, SubscriptionRead, deadline_of

__all__ = ["PremiumNotice", "expire_subscription", "register_premium"]

log = logging.getLogger("guildbase.jobs")

PremiumNotice = Callable[[SubscriptionRead], Awaitable[object]]
"""Tell the owner of a subscription that moved on (given as it is after the move)."""


def register_premium(registry: JobRegistry, notify: PremiumNotice | None = None) -> None:
    """Handle ``premium.expiry``; ``notify`` (the bot's DM) is called after each move commits."""
    registry.register(PREMIUM_EXPIRY, partial(expire_subscription, notify=notify))


async def expire_subscription(ctx: JobContext, payload: ExpiryPayload, *, notify: PremiumNotice | None) -> None:
    """Move the subscription on if the job is still current; tell its owner once that committed."""
    sub = await ctx.db.premium.get(payload.subscription_id)
    if sub is None or sub.status is not payload.status or deadline_of(sub.status, sub) != payload.deadline:
        return
    if sub.status not in NEXT_STATUS:
        return
    moved: list[SubscriptionRead] = []

    async def move(session: AsyncSession) -> None:
        after = await ctx.db.premium.expire_in(session, payload.subscription_id, payload.status, payload.deadline)
        if after is not None:
            moved.append(after)

    async def tell() -> None:
        if notify is None or not moved:
            return
        try:
            await notify(moved[0])
        except Exception:  # the move stands; a closed DM is no reason to undo it
            log.warning("could not tell the owner of subscription %s", payload.subscription_id, exc_info=True)

    ctx.then(move)
    ctx.on_commit(tell)
