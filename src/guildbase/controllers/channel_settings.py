"""Channel settings (R15.4): slowmode as set through the bot, and lockdowns with their saved overwrites.

The Discord side is the bot's (``bot/cogs/channel_settings.py``, and the
``LOCKDOWN_END`` job handler in ``bot/jobs.py``); this controller keeps what
must survive a restart: the overwrites a lockdown replaced, when it ends, and
an audit row for every change. A timed lockdown's end job is enqueued in the
transaction that saves the lock and cancelled by the one that ends it early.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, null, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.validation import (
    aware,
    integer,
    optional_aware,
    optional_text,
    snowflake,
    unit_of_work,
    validate,
)
from guildbase.errors import ValidationError, shown
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.channel_settings import (
    LOCK_REASON_MAX_LENGTH,
    LOCKDOWN_END,
    MAX_OVERWRITES,
    MAX_SLOWMODE_SECONDS,
    ChannelSetting,
    ChannelSettingRead,
    LockdownEndPayload,
    Overwrite,
)

__all__ = ["ChannelSettingsController"]

_AUDITED = ("slowmode_seconds", "locked_at", "lock_ends_at", "lock_reason", "saved_overwrites")


def _dedupe(guild_id: int, channel_id: int) -> str:
    return f"{guild_id}:{channel_id}"


class ChannelSettingsController(Controller):
    """Slowmode and lockdown state per channel."""

    async def get(self, guild_id: int, channel_id: int) -> ChannelSettingRead | None:
        """The channel's settings, or None when it has none (no slowmode set, not locked)."""
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        async with self._write() as session:
            return await _find(session, guild_id, channel_id)

    async def locked(self, guild_id: int) -> list[ChannelSettingRead]:
        """Every locked channel of the guild (what a server-wide unlock ends)."""
        guild_id = snowflake("guild_id", guild_id)
        stmt = select(ChannelSetting).where(
            col(ChannelSetting.guild_id) == guild_id, col(ChannelSetting.locked_at).is_not(None)
        )
        async with self._write() as session:
            rows = await session.scalars(stmt.order_by(col(ChannelSetting.channel_id)))
            return read_all(ChannelSettingRead, rows)

    async def set_slowmode(self, guild_id: int, channel_id: int, seconds: int) -> ChannelSettingRead | None:
        """Record the channel's slowmode (0: off), audited; the bot sets it on Discord."""
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        seconds = integer("seconds", seconds, minimum=0, maximum=MAX_SLOWMODE_SECONDS)
        async with self._write() as session:
            before = await _find(session, guild_id, channel_id, lock=True)
            if before is None and seconds == 0:
                return None
            if before is None:
                await session.execute(
                    insert(ChannelSetting).values(
                        guild_id=guild_id,
                        channel_id=channel_id,
                        slowmode_seconds=seconds,
                        **actor_columns(ChannelSetting, "insert"),
                    )
                )
            elif seconds == 0 and not before.is_locked:
                await session.execute(delete(ChannelSetting).where(*_key(guild_id, channel_id)))
            else:
                await session.execute(
                    update(ChannelSetting)
                    .where(*_key(guild_id, channel_id))
                    .values(slowmode_seconds=seconds, updated_at=func.now(), **actor_columns(ChannelSetting, "update"))
                )
            after = await _find(session, guild_id, channel_id)
            await _audit(session, AuditAction.CHANNEL_SLOWMODE, guild_id, channel_id, before, after)
            return after

    async def lock(
        self,
        guild_id: int,
        channel_id: int,
        overwrites: Sequence[Mapping[str, Any]],
        *,
        until: datetime | None = None,
        reason: str | None = None,
    ) -> ChannelSettingRead:
        """Save the channel's current ``overwrites`` and mark it locked (until ``until``, or until unlocked).

        Locking a locked channel keeps the overwrites saved by the first lock
        (the current ones are the lockdown's own) and only changes the end and
        the reason; the end job is replaced.
        """
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        saved = _overwrites(overwrites)
        ends = optional_aware("until", until)
        reason = optional_text("reason", reason, max_length=LOCK_REASON_MAX_LENGTH)
        async with self._write() as session:
            now = await session.scalar(select(func.now()))
            if ends is not None and now is not None and ends <= now:
                raise ValidationError.single("until", "future", f"must be in the future, got {shown(ends)}")
            before = await _find(session, guild_id, channel_id, lock=True)
            stmt = insert(ChannelSetting).values(
                guild_id=guild_id,
                channel_id=channel_id,
                locked_at=func.now(),
                lock_ends_at=ends,
                lock_reason=reason,
                saved_overwrites=saved,
                **actor_columns(ChannelSetting, "insert"),
            )
            excluded = stmt.excluded
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["guild_id", "channel_id"],
                    set_={
                        "locked_at": func.coalesce(ChannelSetting.__table__.c.locked_at, excluded.locked_at),  # type: ignore[attr-defined]
                        "saved_overwrites": func.coalesce(
                            ChannelSetting.__table__.c.saved_overwrites,  # type: ignore[attr-defined]
                            excluded.saved_overwrites,
                        ),
                        "lock_ends_at": excluded.lock_ends_at,
                        "lock_reason": excluded.lock_reason,
                        "updated_at": func.now(),
                        **actor_columns(ChannelSetting, "update"),
                    },
                )
            )
            after = await _find(session, guild_id, channel_id)
            assert after is not None  # noqa: S101 - just written
            assert after.locked_at is not None  # noqa: S101 - just written
            await self._db.jobs.cancel_in(session, LOCKDOWN_END, _dedupe(guild_id, channel_id))
            if ends is not None:
                await self._db.jobs.enqueue_in(
                    session,
                    LOCKDOWN_END,
                    run_at=ends,
                    payload=LockdownEndPayload(guild_id=guild_id, channel_id=channel_id, locked_at=after.locked_at),
                    dedupe_key=_dedupe(guild_id, channel_id),
                    guild_id=guild_id,
                )
            await _audit(session, AuditAction.CHANNEL_LOCK, guild_id, channel_id, before, after)
            return after

    async def unlock(self, guild_id: int, channel_id: int) -> ChannelSettingRead | None:
        """End the channel's lockdown now; the lock that ended (its saved overwrites), or None if not locked."""
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        async with self._write() as session:
            ended = await _end(session, guild_id, channel_id, None)
            if ended is not None:
                await self._db.jobs.cancel_in(session, LOCKDOWN_END, _dedupe(guild_id, channel_id))
            return ended

    async def end_lockdown_in(
        self, session: AsyncSession, guild_id: int, channel_id: int, *, locked_at: datetime
    ) -> ChannelSettingRead | None:
        """End the lock set at ``locked_at`` inside the caller's transaction (the lockdown end job).

        A lock ended and set again meanwhile has another ``locked_at`` and is left alone.
        """
        session = unit_of_work(session)
        guild_id, channel_id = snowflake("guild_id", guild_id), snowflake("channel_id", channel_id)
        return await _end(session, guild_id, channel_id, aware("locked_at", locked_at))


def _key(guild_id: int, channel_id: int) -> tuple[Any, ...]:
    return (col(ChannelSetting.guild_id) == guild_id, col(ChannelSetting.channel_id) == channel_id)


async def _find(
    session: AsyncSession, guild_id: int, channel_id: int, *, lock: bool = False
) -> ChannelSettingRead | None:
    stmt = select(ChannelSetting).where(*_key(guild_id, channel_id))
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
    return None if row is None else ChannelSettingRead.model_validate(row)


async def _end(
    session: AsyncSession, guild_id: int, channel_id: int, locked_at: datetime | None
) -> ChannelSettingRead | None:
    """Clear the lock (only the one set at ``locked_at`` when given); the row goes if nothing is left."""
    before = await _find(session, guild_id, channel_id, lock=True)
    if before is None or before.locked_at is None or (locked_at is not None and before.locked_at != locked_at):
        return None
    if before.slowmode_seconds == 0:
        await session.execute(delete(ChannelSetting).where(*_key(guild_id, channel_id)))
    else:
        await session.execute(
            update(ChannelSetting)
            .where(*_key(guild_id, channel_id))
            .values(
                locked_at=None,
                lock_ends_at=None,
                lock_reason=None,
                saved_overwrites=null(),
                updated_at=func.now(),
                **actor_columns(ChannelSetting, "update"),
            )
        )
    await _audit(session, AuditAction.CHANNEL_UNLOCK, guild_id, channel_id, before, None)
    return before


async def _audit(  # noqa: PLR0917 - one call shape for the three writes
    session: AsyncSession,
    action: AuditAction,
    guild_id: int,
    channel_id: int,
    before: ChannelSettingRead | None,
    after: ChannelSettingRead | None,
) -> None:
    def fields(read: ChannelSettingRead | None) -> dict[str, Any]:
        return {} if read is None else read.model_dump(mode="json", include=set(_AUDITED))

    await record_audit(
        session, action, AuditEntity.CHANNEL, channel_id, guild_id=guild_id, before=fields(before), after=fields(after)
    )


def _overwrites(overwrites: object) -> list[dict[str, Any]]:
    """The overwrites as stored: each checked (``overwrites.<index>``), Discord's order kept."""
    if isinstance(overwrites, str | bytes | Mapping) or not isinstance(overwrites, Sequence):
        raise ValidationError.single("overwrites", "list", f"must be a list of overwrites, got {shown(overwrites)}")
    if len(overwrites) > MAX_OVERWRITES:
        raise ValidationError.single("overwrites", "max_items", f"must hold at most {MAX_OVERWRITES} overwrites")
    checked = []
    for index, item in enumerate(overwrites):
        if not isinstance(item, Mapping):
            raise ValidationError.single(f"overwrites.{index}", "mapping", f"must be an overwrite, got {shown(item)}")
        values = {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in item.items()}
        try:
            checked.append(validate(Overwrite, values).model_dump())
        except ValidationError as error:
            raise ValidationError.single(f"overwrites.{index}", "overwrite", str(error)) from None
    return checked
