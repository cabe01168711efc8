"""Reminder rules: create, cancel (owner only), list, and leased, fenced, retried delivery."""

from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.features import gated
from guildbase.db.rows import read_all
from guildbase.db.validation import (
    cut_text,
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
from guildbase.models.core import Feature, Guild
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

__all__ = ["MAX_LIST", "ReminderController", "user_reminders_query"]

MAX_LIST = 100


class ReminderController(Controller):
    """Reminders: create, cancel, list; delivery is a ``REMINDER_DELIVERY`` job of the job runner."""

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
            if checked.guild_id is not None:
                await _lock_guild(session, checked.guild_id)
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
            .values(status=ReminderStatus.CANCELLED)
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
        stmt = user_reminders_query(
            user_id, guild_id=guild, include_finished=flag("include_finished", include_finished), limit=limit
        )
        async with self._write() as session:
            return read_all(ReminderRead, await session.scalars(stmt))

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
                last_error=error,
            )
        )
        return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def _lock_guild(session: AsyncSession, guild_id: int) -> None:
    """What the foreign key to ``guild`` did: the guild must exist, and stays until this transaction ends.

    ``reminder`` has no such key (a DM reminder is guild 0, and there is no
    guild 0): ``FOR KEY SHARE`` is the lock the key's check took, so a
    concurrent ``guilds.delete`` waits and then deletes this reminder too.
    """
    stmt = select(col(Guild.guild_id)).where(col(Guild.guild_id) == guild_id).with_for_update(key_share=True)
    if (await session.execute(stmt)).first() is None:
        message = f"{guild_id} does not exist as a guild (call db.guilds.join first)"
        raise ValidationError.single("guild_id", "foreign_key", message)


def user_reminders_query(
    user_id: int, *, guild_id: int | None = None, include_finished: bool = False, limit: int = 25
) -> Select[Reminder]:
    """A user's reminders, soonest first (``ix_reminder_user_id_remind_at``)."""
    stmt = select(Reminder).where(col(Reminder.user_id) == user_id)
    if guild_id is not None:
        stmt = stmt.where(col(Reminder.guild_id) == guild_id)
    if not include_finished:
        stmt = stmt.where(col(Reminder.status) == ReminderStatus.PENDING)
    return stmt.order_by(col(Reminder.remind_at), col(Reminder.reminder_id)).limit(limit)
