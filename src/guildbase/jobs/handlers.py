"""Built-in handlers: expire temporary punishments, deliver reminders, end timed AFKs.

The data layer decides what is due and records the outcome; the bot performs
the Discord action through ``BotActions`` callbacks, each given the read model
and the attempt number. A kind whose callback is missing is not registered, so
a worker without a Discord connection (``guildbase jobs run``) never claims it.

What each handler guarantees, in the one transaction that marks its job done:

- TEMPBAN / TIMEOUT / timed JAIL: the case becomes ``expired`` and exactly one
  closing case (UNTEMPBAN / UNTIMEOUT / UNJAIL) is created; ``mark_expired_in``
  runs first and locks the case, so a second completer writes nothing. A case
  voided, already processed, or superseded by a later case of the user that
  decides the same state (an UNBAN or a new BAN after a TEMPBAN, an UNJAIL or a
  new JAIL after a JAIL …) is only marked processed, with no Discord action.
- Reminders: the reminder becomes ``sent``; when the budget runs out it becomes
  ``failed`` with the last error. Cancelled or sent reminders are skipped.
- AFK: the AFK row that was due is deleted (the callback restores the
  nickname); an AFK set again meanwhile has a new job and is left alone.
- Polls: a poll whose ``ends_at`` has come is closed (``polls.close_in``,
  audited as the job); the callback shows its final counts. A poll closed or
  deleted meanwhile is left alone.
- Lockdown end: the callback writes the saved overwrites back, then the lock
  is cleared; a lock ended by hand, or set again, meanwhile is left alone.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.controllers.integration_fetch import ChannelPoster
from guildbase.db.validation import validate
from guildbase.jobs.registry import JobContext, JobRegistry
from guildbase.jobs.ticket_handlers import TicketCloseAction, idle_close, scheduled_close
from guildbase.models.afk import AFK_EXPIRY, AFKExpiryPayload, AFKRead
from guildbase.models.channel_settings import LOCKDOWN_END, ChannelSettingRead, LockdownEndPayload
from guildbase.models.events import EVENT_RETENTION, RetentionPayload
from guildbase.models.integrations import INTEGRATION_FETCH, IntegrationFetchPayload
from guildbase.models.jobs import JobKind
from guildbase.models.moderation import CASE_EXPIRY, CaseCreate, CaseExpiryPayload, CaseRead, CaseStatus, CaseType
from guildbase.models.permissions import PERMISSION_EXPIRY, ExpiryPayload
from guildbase.models.polls import POLL_CLOSE, PollClosePayload, PollRead, PollStatus
from guildbase.models.reminders import REMINDER_DELIVERY, ReminderDeliveryPayload, ReminderRead, ReminderStatus
from guildbase.models.tickets import TICKET_AUTOCLOSE, TICKET_SCHEDULED_CLOSE

CaseAction = Callable[[CaseRead, int], Awaitable[object]]
UnjailAction = Callable[[CaseRead, list[int], int], Awaitable[object]]
ReminderAction = Callable[[ReminderRead, int], Awaitable[object]]
AFKAction = Callable[[AFKRead, int], Awaitable[object]]
PollAction = Callable[[PollRead, int], Awaitable[object]]
LockdownAction = Callable[[ChannelSettingRead, int], Awaitable[object]]

CLOSING: dict[CaseType, CaseType] = {
    CaseType.TEMPBAN: CaseType.UNTEMPBAN,
    CaseType.TIMEOUT: CaseType.UNTIMEOUT,
    CaseType.JAIL: CaseType.UNJAIL,
}
SUPERSEDED_BY: dict[CaseType, frozenset[CaseType]] = {
    CaseType.TEMPBAN: frozenset({CaseType.UNBAN, CaseType.UNTEMPBAN, CaseType.BAN, CaseType.HACKBAN, CaseType.TEMPBAN}),
    CaseType.TIMEOUT: frozenset({CaseType.UNTIMEOUT, CaseType.TIMEOUT}),
    CaseType.JAIL: frozenset({CaseType.UNJAIL, CaseType.JAIL}),
}
"""Later cases that take over the state a temporary case would restore."""
HISTORY_PAGE = 100


@dataclass(frozen=True, slots=True)
class BotActions:
    """The Discord side of the built-in jobs; every callback receives the attempt number last.

    Attributes:
        unban: lift an expired TEMPBAN.
        end_timeout: end an expired TIMEOUT (Discord ends timeouts itself; this
            may just log or post to the mod log).
        unjail: lift an expired JAIL, given the roles saved by it to restore.
        deliver_reminder: send a due reminder (DM when ``channel_id`` is None).
        end_afk: end an expired AFK (restore ``nickname``).
        post_feed_item: post a new feed item to its integration's channel.
        close_ticket: the Discord side of a ticket closed by its scheduled or
            inactivity close (post the transcript, archive the channel).
        end_poll: show a poll's final counts once its time is up.
        end_lockdown: end an expired lockdown (write the saved overwrites back).
    """

    unban: CaseAction | None = None
    end_timeout: CaseAction | None = None
    unjail: UnjailAction | None = None
    deliver_reminder: ReminderAction | None = None
    end_afk: AFKAction | None = None
    post_feed_item: ChannelPoster | None = None
    close_ticket: TicketCloseAction | None = None
    end_poll: PollAction | None = None
    end_lockdown: LockdownAction | None = None


def register_builtin(registry: JobRegistry, actions: BotActions) -> None:  # noqa: C901 - one branch per callback
    """Register the built-in kinds the bot has callbacks for."""
    expiry = CASE_EXPIRY
    if actions.unban is not None:
        registry.register(expiry[CaseType.TEMPBAN], partial(expire_case, action=actions.unban))
    if actions.end_timeout is not None:
        registry.register(expiry[CaseType.TIMEOUT], partial(expire_case, action=actions.end_timeout))
    if (unjail := actions.unjail) is not None:

        async def lift_jail(case: CaseRead, attempt: int) -> object:
            return await unjail(case, list(case.role_ids), attempt)

        registry.register(expiry[CaseType.JAIL], partial(expire_case, action=lift_jail))
    if actions.deliver_reminder is not None:
        registry.register(
            REMINDER_DELIVERY,
            partial(deliver_reminder, action=actions.deliver_reminder),
            on_give_up=give_up_reminder,
        )
    if actions.end_afk is not None:
        registry.register(AFK_EXPIRY, partial(end_afk, action=actions.end_afk))
    if actions.post_feed_item is not None:
        registry.register(INTEGRATION_FETCH, partial(fetch_integration, post=actions.post_feed_item))
    if actions.close_ticket is not None:
        registry.register(TICKET_SCHEDULED_CLOSE, partial(scheduled_close, action=actions.close_ticket))
        registry.register(TICKET_AUTOCLOSE, partial(idle_close, action=actions.close_ticket))
    if actions.end_poll is not None:
        registry.register(POLL_CLOSE, partial(close_poll, action=actions.end_poll))
    if actions.end_lockdown is not None:
        registry.register(LOCKDOWN_END, partial(end_lockdown, action=actions.end_lockdown))


BUILTIN_KINDS: tuple[JobKind[Any], ...] = (
    *CASE_EXPIRY.values(),
    REMINDER_DELIVERY,
    AFK_EXPIRY,
    TICKET_SCHEDULED_CLOSE,
    TICKET_AUTOCLOSE,
    INTEGRATION_FETCH,
    POLL_CLOSE,
    LOCKDOWN_END,
)
"""Every kind the data layer's controllers enqueue; ``register_builtin`` with every callback handles each."""


async def fetch_integration(ctx: JobContext, payload: IntegrationFetchPayload, *, post: ChannelPoster) -> None:
    """Fetch one feed and post what is new; a feed that is down backs off on its row, the job stays recurring."""
    await ctx.db.integrations.fetch(payload.guild_id, payload.integration_id, post=post)


async def expire_case(ctx: JobContext, payload: CaseExpiryPayload, *, action: CaseAction) -> None:
    """Lift an expired temporary punishment and record its closing case."""
    guild_id, number = payload.guild_id, payload.number
    case = await ctx.db.cases.get(guild_id, number)
    if case is None or case.status is not CaseStatus.ACTIVE or case.processed_at is not None:
        return
    if await _superseded(ctx, case):
        ctx.then(partial(ctx.db.cases.mark_processed_in, guild_id=guild_id, number=number))
        return
    await action(case, ctx.attempt)

    async def close(session: AsyncSession) -> None:
        if await ctx.db.cases.mark_expired_in(session, guild_id, number) is None:
            return
        closing = validate(
            CaseCreate,
            {
                "guild_id": guild_id,
                "type": CLOSING[case.type],
                "user_id": case.user_id,
                "moderator_id": case.moderator_id,
                "reason": f"{case.type.value} case #{number} expired",
                "details": {"expired_case": number, "automatic": True},
            },
        )
        await ctx.db.cases.create_in(session, closing)

    ctx.then(close)  # mark_expired_in and create_in register the summary invalidation themselves


async def _superseded(ctx: JobContext, case: CaseRead) -> bool:
    """Whether a later live case of the user already decides what this one would restore."""
    takers = SUPERSEDED_BY[case.type]
    before: int | None = None
    while True:
        page = await ctx.db.cases.history(case.guild_id, case.user_id, limit=HISTORY_PAGE, before=before)
        for later in page:
            if later.number <= case.number:
                return False
            if later.type in takers and later.status is not CaseStatus.VOIDED:
                return True
        if len(page) < HISTORY_PAGE:
            return False
        before = page[-1].number


async def deliver_reminder(ctx: JobContext, payload: ReminderDeliveryPayload, *, action: ReminderAction) -> None:
    """Deliver a due reminder and mark it sent."""
    reminder = await ctx.db.reminders.get(payload.reminder_id)
    if reminder is None or reminder.status not in {ReminderStatus.PENDING, ReminderStatus.FAILED}:
        return
    await action(reminder, ctx.attempt)
    ctx.then(partial(ctx.db.reminders.mark_delivered_in, reminder_id=payload.reminder_id, attempts=ctx.attempt))


async def give_up_reminder(ctx: JobContext, session: AsyncSession) -> None:
    """The reminder's delivery budget is spent: it is failed, with the last error."""
    payload = REMINDER_DELIVERY.parse(ctx.job.payload)
    await ctx.db.reminders.mark_given_up_in(
        session, payload.reminder_id, attempts=ctx.attempt, error=ctx.job.last_error or "gave up"
    )


async def end_afk(ctx: JobContext, payload: AFKExpiryPayload, *, action: AFKAction) -> None:
    """End the AFK that was due at ``payload.until``; an AFK set again meanwhile is left alone."""
    afk = await ctx.db.afk.get(payload.guild_id, payload.user_id)
    if afk is None or afk.until != payload.until:
        return
    await action(afk, ctx.attempt)
    ctx.then(
        partial(ctx.db.afk.clear_expired_in, guild_id=payload.guild_id, user_id=payload.user_id, until=payload.until)
    )


async def close_poll(ctx: JobContext, payload: PollClosePayload, *, action: PollAction) -> None:
    """Close a poll whose time is up and show its final counts (no vote is taken after ``ends_at``)."""
    poll = await ctx.db.polls.get(payload.guild_id, payload.number)
    if poll is None or poll.status is not PollStatus.OPEN:
        return
    await action(poll, ctx.attempt)
    ctx.then(partial(ctx.db.polls.close_in, guild_id=payload.guild_id, number=payload.number))


async def end_lockdown(ctx: JobContext, payload: LockdownEndPayload, *, action: LockdownAction) -> None:
    """End the lockdown set at ``payload.locked_at``: its overwrites back, its row cleared in the job's commit."""
    setting = await ctx.db.channel_settings.get(payload.guild_id, payload.channel_id)
    if setting is None or setting.locked_at != payload.locked_at:
        return  # unlocked by hand meanwhile, or locked again (that lock has its own job)
    await action(setting, ctx.attempt)
    ctx.then(
        partial(
            ctx.db.channel_settings.end_lockdown_in,
            guild_id=payload.guild_id,
            channel_id=payload.channel_id,
            locked_at=payload.locked_at,
        )
    )


PURGE_KIND = "jobs.purge"
PURGE_EVERY = timedelta(hours=6)
PURGE_AFTER = timedelta(days=7)


async def purge_done_jobs(ctx: JobContext) -> None:
    """Delete done jobs a week old: the queue's own retention (its history is kept for ``PURGE_AFTER``)."""
    while await ctx.db.jobs.purge(older_than=PURGE_AFTER) > 0:
        pass


RETENTION_EVERY = timedelta(hours=6)
"""How often the event trail's partitions are checked: months are created weeks ahead, so often enough."""


async def maintain_event_partitions(ctx: JobContext, payload: RetentionPayload) -> None:
    """Create the next months of every time-partitioned table and drop those past retention.

    The ``events.retention`` job: one partition manager (``db.partitions``) for the
    event trail, the command log, security events, permission checks and metric samples.
    """
    await ctx.db.partitions.maintain(months_ahead=payload.months_ahead)


PERMISSION_EXPIRY_EVERY = timedelta(minutes=5)
"""How often expired permission rules are deleted; checks stop applying them at their expiry regardless."""


async def remove_expired_rules(ctx: JobContext, _payload: ExpiryPayload) -> None:
    """Delete expired permission rules, each with its audit row (``permissions.expire``)."""
    await ctx.db.permissions.remove_expired()


MAINTENANCE_KINDS = (PURGE_KIND, EVENT_RETENTION.name, PERMISSION_EXPIRY.name)
"""The recurring kinds ``register_maintenance`` adds: each always has its next run pending."""


def register_maintenance(registry: JobRegistry) -> None:
    """Register the data layer's own recurring jobs (later issues add theirs here)."""
    registry.every(PURGE_KIND, PURGE_EVERY, purge_done_jobs)
    registry.every(EVENT_RETENTION, RETENTION_EVERY, maintain_event_partitions)
    registry.every(PERMISSION_EXPIRY, PERMISSION_EXPIRY_EVERY, remove_expired_rules)
