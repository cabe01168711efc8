"""Warn escalation, applied inside the warn's own transaction (R4.3).

The case controller calls ``escalate_in`` right after inserting a WARN, in the
same unit of work, so the warn and the punishment it triggers commit or roll
back together. What is guaranteed:

- **Once per crossing.** The rule with the highest ``warn_count`` whose count
  of the user's live (non-voided) warns inside its window is now *exactly*
  ``warn_count`` fires, and only that one: one follow-up case per warn at most.
- **Exactly once under concurrency.** Before counting, the transaction takes a
  transaction-scoped advisory lock keyed by (guild, user), so two warns of the
  same user count one after the other, each seeing the other's committed warn:
  of two racing warns that both reach the threshold, one sees ``warn_count``
  and the other ``warn_count + 1``. (The guild's case counter row, locked by the
  numbered insert until commit, already orders a guild's cases; the advisory
  lock states the guarantee on its own terms and keeps it if numbering ever
  changes.) The lock is always taken after the counter, so the two cannot deadlock.
- **Its own case.** The follow-up (TIMEOUT, TEMPBAN, KICK or BAN) is a normal
  case created with ``create_in``, numbered right after the warn, expiring
  (and enqueuing its expiry job) like any other, with
  ``details = {"escalated_from": <warn number>, "rule": {...}, "automatic": true}``.

``may_escalate`` is the cheap pre-check on the one-statement path: a warn in a
guild without rules (read through the settings cache) never opens a transaction.
A rule written while a warn is in flight applies from the next warn.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import UnitOfWork
from guildbase.controllers.mod_settings import ESCALATED_FROM, load_settings
from guildbase.db.types import format_duration, utcnow
from guildbase.db.validation import validate
from guildbase.models.mod_settings import EscalationRule
from guildbase.models.moderation import Case, CaseCreate, CaseRead, CaseStatus, CaseType

__all__ = ["LOCK_NAMESPACE", "escalate_in", "may_escalate"]

CreateIn = Callable[[AsyncSession, CaseCreate], Awaitable[CaseRead]]
LOCK_NAMESPACE = "guildbase.escalation"
"""Prefix of the advisory-lock key (hashed with the guild and user into one ``bigint``)."""


async def may_escalate(db: UnitOfWork, checked: CaseCreate) -> bool:
    """Whether a new case could trigger an escalation: a WARN in a guild that has rules."""
    if checked.type is not CaseType.WARN:
        return False
    return bool((await load_settings(db, checked.guild_id)).rules)


async def escalate_in(session: AsyncSession, warn: CaseRead, create_in: CreateIn) -> CaseRead | None:
    """Apply the guild's rules to a warn just inserted in ``session``; the follow-up case, or None."""
    has_rules = await session.scalar(
        select(func.count()).select_from(EscalationRule).where(col(EscalationRule.guild_id) == warn.guild_id)
    )
    if not has_rules:
        return None
    key = func.hashtextextended(f"{LOCK_NAMESPACE}:{warn.guild_id}:{warn.user_id}", 0)
    await session.execute(select(func.pg_advisory_xact_lock(key)))
    window = col(EscalationRule.window_seconds) * literal_column("interval '1 second'")
    warns = (
        select(func.count())
        .select_from(Case)
        .where(
            col(Case.guild_id) == col(EscalationRule.guild_id),
            col(Case.user_id) == warn.user_id,
            col(Case.type) == CaseType.WARN,
            col(Case.status) != CaseStatus.VOIDED,
            col(Case.created_at) > func.now() - window,
        )
        .correlate(EscalationRule)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(EscalationRule, warns.label("warns"))
        .where(col(EscalationRule.guild_id) == warn.guild_id)
        .order_by(col(EscalationRule.warn_count).desc())
    )
    for rule, count in rows:
        if count == rule.warn_count:
            return await create_in(session, _follow_up(warn, rule))
    return None


def _follow_up(warn: CaseRead, rule: EscalationRule) -> CaseCreate:
    window = format_duration(timedelta(seconds=rule.window_seconds))
    lasting = None if rule.duration_seconds is None else timedelta(seconds=rule.duration_seconds)
    reason = f"automatic: {rule.warn_count} warns within {window} (warn #{warn.number})"
    return validate(
        CaseCreate,
        {
            "guild_id": warn.guild_id,
            "type": rule.action,
            "user_id": warn.user_id,
            "moderator_id": warn.moderator_id,
            "reason": reason,
            "expires_at": None if lasting is None else utcnow() + lasting,
            "details": {
                ESCALATED_FROM: warn.number,
                "rule": {"warn_count": rule.warn_count, "window_seconds": rule.window_seconds},
                "automatic": True,
            },
        },
    )
