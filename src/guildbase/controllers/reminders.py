"""Reminder rules: create, cancel (owner only), list, and leased, fenced, retried delivery."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.features import gated
from guildbase.db.validation import (
    cut_text,
    duration,
    flag,
    moment,
    optional_snowflake,
    page_limit,
    positive,
    snowflake,
    unit_of_work,
    validate,
)
from guildbase.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from guildbase.models.core import Feature
from guildbase.models.reminders import (
    DEFAULT_MAX_ATTEMPTS,
    ERROR_MAX_LENGTH,
    REMINDER_DELIVERY,
    Reminder,
    ReminderCreate,
    ReminderDeliveryPayload,
    ReminderRead,
    ReminderStatus,
)

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_RETRY_AFTER",
    "LEASE_EXPIRED_ERROR",
    "MAX_CLAIM_BATCH",
    "MAX_LIST",
    "ReminderController",
    "claimable_query",
]

MAX_CLAIM_BATCH = 500
MAX_LIST = 100
DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_RETRY_AFTER = timedelta(minutes=1)
LEASE_EXPIRED_ERROR = "the delivering worker's lease ran out on the last allowed attempt"


class ReminderController(Controller):
    """Reminders and their delivery queue (claim with ``SKIP LOCKED``, then mark sent or failed)."""

    @gated(Feature.REMINDERS)
    async def create(
        self,
        user_id: int,
        *,
        content: str,
        remind_at: datetime,
        guild_id: int | None = None,
        channel_id: int | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        now: datetime | None = None,
    ) -> ReminderRead:
        """Schedule a reminder; without ``guild_id`` it is a DM reminder (which no guild toggle gates).

        Its delivery job (``REMINDER_DELIVERY``) is enqueued in the same
        transaction, with the reminder's ``max_attempts`` as its budget.
        """
        when = moment("now", now)
        checked = validate(
            ReminderCreate,
            {
                "user_id": user_id,
                "guild_id": guild_id,
                "channel_id": channel_id,
                "content": content,
                "remind_at": remind_at,
                "max_attempts": max_attempts,
            },
        )
        if checked.remind_at <= when:
            raise ValidationError.single("remind_at", "future", f"must be after {when.isoformat()}")
        async with self._write() as session:
            row = Reminder.model_validate(checked)
            session.add(row)
            await session.flush()
            await session.refresh(row)
            created = ReminderRead.model_validate(row)
            await self._db.jobs.enqueue_in(
                session,
                REMINDER_DELIVERY,
                run_at=created.remind_at,
                payload=ReminderDeliveryPayload(reminder_id=created.reminder_id),
                dedupe_key=str(created.reminder_id),
                max_attempts=created.max_attempts,
                guild_id=created.guild_id,
            )
            return created

    async def get(self, reminder_id: int) -> ReminderRead | None:
        """One reminder, whatever its status."""
        reminder_id = positive("reminder_id", reminder_id)
        async with self._write() as session:
            row = await session.get(Reminder, reminder_id)
            return None if row is None else ReminderRead.model_validate(row)

    async def cancel(self, reminder_id: int, *, user_id: int) -> ReminderRead:
        """Cancel a pending reminder; only its owner may. Its delivery job is cancelled in the same transaction.

        Raises:
            NotFoundError: no such reminder.
            PermissionDeniedError: ``user_id`` does not own it.
            ConflictError: it was already sent, failed or cancelled.
        """
        reminder_id, user_id = positive("reminder_id", reminder_id), snowflake("user_id", user_id)
        stmt = (
            update(Reminder)
            .where(
                col(Reminder.reminder_id) == reminder_id,
                col(Reminder.user_id) == user_id,
                col(Reminder.status) == ReminderStatus.PENDING,
            )
            .values(status=ReminderStatus.CANCELLED, claimed_until=None)
            .returning(Reminder)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
            if row is not None:
                await self._db.jobs.cancel_in(session, REMINDER_DELIVERY, str(reminder_id))
                return ReminderRead.model_validate(row)
            existing = await session.get(Reminder, reminder_id)
            if existing is None:
                raise NotFoundError(f"reminder_id: reminder {reminder_id} does not exist")
            if existing.user_id != user_id:
                raise PermissionDeniedError(f"user_id: reminder {reminder_id} belongs to another user")
            raise ConflictError(f"reminder {reminder_id} is already {existing.status.value}; only pending ones cancel")

    async def list_for_user(
        self,
        user_id: int,
        *,
        guild_id: int | None = None,
        include_finished: bool = False,
        limit: int = 25,
    ) -> list[ReminderRead]:
        """A user's reminders, soonest first; pending only unless ``include_finished``."""
        user_id = snowflake("user_id", user_id)
        guild = optional_snowflake("guild_id", guild_id)
        limit = page_limit(limit, MAX_LIST)
        stmt = select(Reminder).where(col(Reminder.user_id) == user_id)
        if guild is not None:
            stmt = stmt.where(col(Reminder.guild_id) == guild)
        if not flag("include_finished", include_finished):
            stmt = stmt.where(col(Reminder.status) == ReminderStatus.PENDING)
        stmt = stmt.order_by(col(Reminder.remind_at), col(Reminder.reminder_id)).limit(limit)
        async with self._write() as session:
            return [ReminderRead.model_validate(row) for row in await session.scalars(stmt)]

    async def claim_due(
        self, now: datetime | None = None, *, limit: int = 10, lease: timedelta = DEFAULT_LEASE
    ) -> list[ReminderRead]:
        """Take up to ``limit`` due reminders for delivery; no two workers get the same one.

        ``FOR UPDATE SKIP LOCKED`` lets concurrent workers pass over each other's
        rows instead of queueing; the lease (``claimed_until``) hides a claimed
        reminder until it runs out, so a crashed worker's reminder is retaken.
        Each claim counts as an attempt; a reminder whose lease ran out on its
        last allowed attempt is marked failed here instead of being retaken.
        """
        when = moment("now", now)
        limit = page_limit(limit, MAX_CLAIM_BATCH)
        lease = duration("lease", lease, positive=True)
        free = or_(col(Reminder.claimed_until).is_(None), col(Reminder.claimed_until) <= when)
        pending_due = (col(Reminder.status) == ReminderStatus.PENDING, col(Reminder.remind_at) <= when, free)
        exhausted = (
            update(Reminder)
            .where(*pending_due, col(Reminder.attempts) >= col(Reminder.max_attempts))
            .values(status=ReminderStatus.FAILED, claimed_until=None, last_error=LEASE_EXPIRED_ERROR)
        )
        claim = (
            update(Reminder)
            .where(col(Reminder.reminder_id).in_(claimable_query(when, limit=limit)))
            .values(claimed_until=when + lease, attempts=col(Reminder.attempts) + 1)
            .returning(Reminder)
        )
        async with self._write() as session:
            await session.execute(exhausted)
            rows = await session.scalars(claim, execution_options={"populate_existing": True})
            claimed = [ReminderRead.model_validate(row) for row in rows]
        return sorted(claimed, key=lambda reminder: (reminder.remind_at, reminder.reminder_id))

    async def mark_sent(self, reminder_id: int, *, attempt: int, now: datetime | None = None) -> bool:
        """Record delivery of the claim made at ``attempt`` (the claimed reminder's ``attempts``).

        Returns False when the claim is stale: the lease ran out and another
        worker retook it, or the reminder was cancelled meanwhile.
        """
        claim = _claim(reminder_id, attempt)
        when = moment("now", now)
        stmt = (
            update(Reminder)
            .where(*claim)
            .values(status=ReminderStatus.SENT, sent_at=when, claimed_until=None, last_error=None)
        )
        async with self._write() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def mark_failed(
        self,
        reminder_id: int,
        *,
        attempt: int,
        error: str,
        now: datetime | None = None,
        retry_after: timedelta = DEFAULT_RETRY_AFTER,
    ) -> ReminderRead | None:
        """Record a failed delivery: retry after ``retry_after`` while the budget lasts, else fail it.

        Returns the updated reminder (``status`` tells which), or None when the
        claim is stale (see ``mark_sent``).
        """
        claim = _claim(reminder_id, attempt)
        error = cut_text("error", error, max_length=ERROR_MAX_LENGTH)
        when = moment("now", now)
        retry_after = duration("retry_after", retry_after)
        spent = col(Reminder.attempts) >= col(Reminder.max_attempts)
        stmt = (
            update(Reminder)
            .where(*claim)
            .values(
                status=case((spent, _status(ReminderStatus.FAILED)), else_=_status(ReminderStatus.PENDING)),
                claimed_until=case((spent, None), else_=when + retry_after),
                last_error=error,
            )
            .returning(Reminder)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
            return None if row is None else ReminderRead.model_validate(row)

    # -- outcomes recorded by the job runner (guildbase.jobs), inside its transaction ----------
    async def mark_delivered_in(self, session: AsyncSession, reminder_id: int, *, attempts: int) -> bool:
        """Record the job runner's delivery; False if the reminder was sent or cancelled meanwhile.

        A failed reminder counts as deliverable: ``guildbase jobs retry`` revives it.
        """
        session = unit_of_work(session)
        reminder_id, attempts = positive("reminder_id", reminder_id), positive("attempts", attempts)
        stmt = (
            update(Reminder)
            .where(
                col(Reminder.reminder_id) == reminder_id,
                col(Reminder.status).in_([ReminderStatus.PENDING, ReminderStatus.FAILED]),
            )
            .values(
                status=ReminderStatus.SENT,
                sent_at=func.now(),
                attempts=func.least(attempts, col(Reminder.max_attempts)),
                claimed_until=None,
                last_error=None,
            )
        )
        return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def mark_given_up_in(self, session: AsyncSession, reminder_id: int, *, attempts: int, error: str) -> bool:
        """Record that the job runner gave up on delivering; False unless it was still pending."""
        session = unit_of_work(session)
        reminder_id, attempts = positive("reminder_id", reminder_id), positive("attempts", attempts)
        error = cut_text("error", error, max_length=ERROR_MAX_LENGTH)
        stmt = (
            update(Reminder)
            .where(col(Reminder.reminder_id) == reminder_id, col(Reminder.status) == ReminderStatus.PENDING)
            .values(
                status=ReminderStatus.FAILED,
                attempts=func.least(attempts, col(Reminder.max_attempts)),
                claimed_until=None,
                last_error=error,
            )
        )
        return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


def claimable_query(moment: datetime, *, limit: int) -> Select[int | None]:
    """IDs of due, unleased reminders with attempts left, locked and skipped past other workers' rows."""
    free = or_(col(Reminder.claimed_until).is_(None), col(Reminder.claimed_until) <= moment)
    return (
        select(col(Reminder.reminder_id))
        .where(
            # Inline, not a parameter: a generic plan can then use the partial ix_reminder_due.
            col(Reminder.status) == literal_column(f"'{ReminderStatus.PENDING.value}'"),
            col(Reminder.remind_at) <= moment,
            free,
            col(Reminder.attempts) < col(Reminder.max_attempts),
        )
        .order_by(col(Reminder.remind_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _claim(reminder_id: object, attempt: object) -> tuple[ColumnElement[bool], ...]:
    """The fence of one delivery claim: still pending, and still at the attempt the claim made."""
    return (
        col(Reminder.reminder_id) == positive("reminder_id", reminder_id),
        col(Reminder.status) == ReminderStatus.PENDING,
        col(Reminder.attempts) == positive("attempt", attempt),
    )


def _status(value: ReminderStatus) -> ColumnElement[Any]:
    """A status literal typed as the ``reminder_status`` enum (a bare string would be VARCHAR)."""
    return literal(value, Reminder.__table__.c.status.type)  # type: ignore[attr-defined]
