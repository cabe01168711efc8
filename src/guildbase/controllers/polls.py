"""Poll rules (R14.2): create, vote (one per member, changed atomically), retract, close on time, delete.

Guarantees:

- Numbers: a poll takes the guild's next poll number in the statement that
  inserts it (``CREATE_POLL``, ``db.numbering``), in its own transaction with
  its options, its close job (``POLL_CLOSE``, when it has an ``ends_at``) and
  its audit row.
- A vote is one transaction of two statements: the member's ``poll_vote``
  row is upserted (the primary key allows one per member and poll; the upsert
  returns the option it replaced, read under the row's lock), then the option
  counts move by exactly what that row changed (``_count``), so
  ``poll_option.votes`` always equals the vote rows, whatever members do
  concurrently (``tally`` counts the rows themselves). Changing a vote moves
  one count down and one up; voting for the option one already has changes
  nothing.
- Only an open poll (not closed, not deleted, not past ``ends_at``) takes
  votes; the vote locks the poll row ``FOR SHARE``, so a vote and the close
  that ends it never interleave.
- A member under an active POLLBAN case (the moderation domain's pair
  restriction) can neither create polls nor vote.
- Creating, closing and deleting are audited; votes are the members' own
  (their rows are the record), like stars.
- ``open_polls`` is the cached list the bot's reaction listener reads on every
  reaction (``open_polls_key``); every write of this controller drops it.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from guildbase.controllers.base import Controller
from guildbase.controllers.features import gated
from guildbase.controllers.moderation_queries import latest_pair_query
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns, live, soft_delete_values
from guildbase.db.numbering import numbered_insert
from guildbase.db.stale import stale_keys
from guildbase.db.types import READ_ONLY, utcnow
from guildbase.db.validation import (
    integer,
    optional_aware,
    optional_snowflake,
    positive,
    snowflake,
    texts,
    unit_of_work,
    validate,
    validate_enum,
)
from guildbase.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import CounterKind, Feature
from guildbase.models.moderation import PAIRS, CaseStatus, Restriction
from guildbase.models.polls import (
    LABEL_MAX_LENGTH,
    MAX_OPTIONS,
    MIN_OPTIONS,
    POLL_CLOSE,
    Poll,
    PollClosePayload,
    PollCreate,
    PollKind,
    PollOption,
    PollOptionRead,
    PollRead,
    PollStatus,
    VoteChange,
)
from guildbase.services.cache import ModelCodec
from guildbase.services.keys import guild_key

__all__ = ["CREATE_POLL", "NUMBER_EMOJIS", "OpenPoll", "OpenPolls", "PollController", "open_polls_key"]

CREATE_POLL = numbered_insert(Poll, CounterKind.POLL)
"""The guild's next poll number and the poll, in one statement."""
NUMBER_EMOJIS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟")
"""The reaction of each option, by position."""

_OPEN = "p.guild_id = :guild_id AND p.number = :number AND p.deleted_at IS NULL AND p.status = 'open'"
_VOTE_SQL = text(f"""
WITH open_poll AS (
    SELECT p.poll_id FROM poll AS p
    WHERE {_OPEN} AND (p.ends_at IS NULL OR p.ends_at > now())
    FOR SHARE
), choice AS (
    SELECT o.option_id, o.poll_id FROM poll_option AS o JOIN open_poll USING (poll_id)
    WHERE o.guild_id = :guild_id AND o.position = :position
), vote AS (
    INSERT INTO poll_vote AS v (guild_id, poll_id, user_id, option_id, previous_option_id)
    SELECT :guild_id, choice.poll_id, :user_id, choice.option_id, NULL FROM choice
    ON CONFLICT (guild_id, poll_id, user_id) DO UPDATE
    SET option_id = excluded.option_id, previous_option_id = v.option_id, voted_at = now()
    WHERE v.option_id <> excluded.option_id
    RETURNING v.option_id, v.previous_option_id
)
SELECT EXISTS (SELECT FROM open_poll) AS is_open,
       EXISTS (SELECT FROM choice) AS is_option,
       EXISTS (SELECT FROM vote) AS is_changed,
       (SELECT option_id FROM vote) AS option_id,
       (SELECT previous_option_id FROM vote) AS previous_option_id,
       (SELECT o.position FROM poll_option AS o
        WHERE o.guild_id = :guild_id AND o.option_id = (SELECT previous_option_id FROM vote)) AS previous_position
""")  # noqa: S608 - _OPEN is this module's constant
_RETRACT_SQL = text(f"""
WITH open_poll AS (
    SELECT p.poll_id FROM poll AS p WHERE {_OPEN} FOR SHARE
), gone AS (
    DELETE FROM poll_vote AS v USING open_poll
    WHERE v.guild_id = :guild_id AND v.poll_id = open_poll.poll_id AND v.user_id = :user_id
      AND (CAST(:position AS integer) IS NULL OR v.option_id = (
          SELECT o.option_id FROM poll_option AS o
          WHERE o.guild_id = :guild_id AND o.poll_id = open_poll.poll_id AND o.position = :position))
    RETURNING v.option_id
)
SELECT EXISTS (SELECT FROM open_poll) AS is_open, (SELECT option_id FROM gone) AS option_id,
       (SELECT o.position FROM poll_option AS o
        WHERE o.guild_id = :guild_id AND o.option_id = (SELECT option_id FROM gone)) AS previous_position
""")  # noqa: S608 - as above
_COUNT_SQL = text("UPDATE poll_option SET votes = votes + :delta WHERE option_id = :option_id AND guild_id = :guild_id")


async def _count(session: AsyncSession, guild_id: int, added: int | None, removed: int | None) -> None:
    """Move the live counts by the vote rows one statement changed: +1 for ``added``, -1 for ``removed``.

    Statements of their own, after the vote row's: an ``UPDATE`` inside the
    vote's CTE would recheck a row another vote changed meanwhile against the
    CTE's output and could skip it (a lost count); a plain ``UPDATE`` by key
    waits for that row and adds to its newest value. Rows are updated in key
    order (one row per statement: a multi-row ``UPDATE`` locks in whatever
    order its scan finds the rows), so two votes moving the same two counts
    cannot deadlock.
    """
    moves = {option: delta for option, delta in ((added, 1), (removed, -1)) if option is not None}
    for option_id in sorted(moves):
        await session.execute(_COUNT_SQL, {"delta": moves[option_id], "option_id": option_id, "guild_id": guild_id})


class OpenPoll(SQLModel):
    """What the reaction listener needs to know about an open poll: where it is and how it votes."""

    model_config = READ_ONLY

    number: int
    message_id: int | None
    kind: PollKind
    emojis: list[str]


class OpenPolls(SQLModel):
    """A guild's open polls, cached as one value."""

    model_config = READ_ONLY

    polls: list[OpenPoll]

    def by_message(self, message_id: int) -> OpenPoll | None:
        """The open poll posted as ``message_id``, if any."""
        return next((poll for poll in self.polls if poll.message_id == message_id), None)


_OPEN_CODEC = ModelCodec(OpenPolls)


def open_polls_key(guild_id: int) -> str:
    """Cache key of the guild's ``OpenPolls``; dropped by every write of this controller."""
    return guild_key(guild_id, "polls", "open")


stale_keys(Poll, lambda row: (open_polls_key(row.guild_id),))


async def _poll_banned(session: AsyncSession, guild_id: int, user_id: int) -> bool:
    on, off = PAIRS[Restriction.POLL]
    latest = (await session.scalars(latest_pair_query(guild_id, user_id, [on, off]).limit(1))).first()
    return latest is not None and latest.type is on and latest.status is CaseStatus.ACTIVE


async def _read(session: AsyncSession, poll: Poll) -> PollRead:
    options = await session.scalars(
        select(PollOption)
        .where(col(PollOption.guild_id) == poll.guild_id, col(PollOption.poll_id) == poll.poll_id)
        .order_by(col(PollOption.position))
    )
    return PollRead.model_validate(
        poll.model_dump() | {"options": [PollOptionRead.model_validate(o, from_attributes=True) for o in options]}
    )


async def _audit(session: AsyncSession, action: AuditAction, poll: Poll | PollRead, **changes: Any) -> None:
    before = {name: old for name, (old, _new) in changes.items()}
    after = {name: new for name, (_old, new) in changes.items()}
    assert poll.poll_id is not None  # noqa: S101 - a stored poll has its key
    await record_audit(
        session, action, AuditEntity.POLL, poll.poll_id, guild_id=poll.guild_id, before=before, after=after
    )


class PollController(Controller):
    """A guild's polls, numbered per guild; voting is the members', the rest is the author's and staff's."""

    @gated(Feature.POLLS)
    async def create(
        self,
        guild_id: int,
        channel_id: int,
        author_id: int,
        question: str,
        options: Sequence[str],
        *,
        kind: PollKind | str = PollKind.BUTTON,
        ends_at: datetime | None = None,
    ) -> PollRead:
        """Open a poll with 2-10 options; with ``ends_at`` it closes itself then (a ``POLL_CLOSE`` job)."""
        labels = texts("options", options, max_length=LABEL_MAX_LENGTH, min_items=MIN_OPTIONS)
        if len(labels) > MAX_OPTIONS:
            raise ValidationError.single("options", "max_items", f"must hold at most {MAX_OPTIONS}, got {len(labels)}")
        if len({label.lower() for label in labels}) != len(labels):
            raise ValidationError.single("options", "unique", "must not repeat an option")
        ending = optional_aware("ends_at", ends_at)
        if ending is not None and ending <= utcnow():
            raise ValidationError.single("ends_at", "future", "must be in the future")
        checked = validate(
            PollCreate,
            {
                "guild_id": guild_id,
                "channel_id": channel_id,
                "author_id": author_id,
                "question": question,
                "kind": validate_enum("kind", PollKind, kind),
                "ends_at": ending,
            },
        )
        values = checked.model_dump() | actor_columns(Poll, "insert")
        async with self._db.hot_rows.admit(checked.guild_id, CounterKind.POLL), self._write() as session:
            if await _poll_banned(session, checked.guild_id, checked.author_id):
                raise PermissionDeniedError("author_id: poll-banned members cannot create polls")
            row = await CREATE_POLL.execute_in(session, values)
            poll = await session.get_one(Poll, row["poll_id"])
            for position, label in enumerate(labels, start=1):
                session.add(
                    PollOption(
                        guild_id=checked.guild_id,
                        poll_id=row["poll_id"],
                        position=position,
                        label=label,
                        emoji=NUMBER_EMOJIS[position - 1],
                    )
                )
            await session.flush()
            if ending is not None:
                await self._db.jobs.enqueue_in(
                    session,
                    POLL_CLOSE,
                    run_at=ending,
                    payload=PollClosePayload(guild_id=checked.guild_id, number=poll.number),
                    dedupe_key=str(poll.poll_id),
                    guild_id=checked.guild_id,
                )
            created = await _read(session, poll)
            await _audit(
                session,
                AuditAction.POLL_CREATE,
                created,
                number=(None, created.number),
                question=(None, created.question),
                options=(None, labels),
            )
            self._stale(session, open_polls_key(checked.guild_id))
            return created

    async def get(self, guild_id: int, number: int) -> PollRead | None:
        """Poll ``number`` of the guild with its live counts, or None (also when deleted)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            poll = await self._find(session, guild_id, number)
            return None if poll is None else await _read(session, poll)

    async def open_polls(self, guild_id: int) -> OpenPolls:
        """The guild's open polls (cached): what the bot checks every reaction against."""
        guild_id = snowflake("guild_id", guild_id)

        async def load() -> OpenPolls:
            stmt = (
                select(Poll)
                .where(col(Poll.guild_id) == guild_id, col(Poll.status) == PollStatus.OPEN, live(Poll))
                .order_by(col(Poll.number))
            )
            async with self._write() as session:
                found = []
                for poll in await session.scalars(stmt):
                    read = await _read(session, poll)
                    emojis = [option.emoji for option in read.options]
                    found.append(
                        OpenPoll(number=poll.number, message_id=poll.message_id, kind=poll.kind, emojis=emojis)
                    )
                return OpenPolls(polls=found)

        cached = await self._db.cache.read_through(
            open_polls_key(guild_id), load, ttl=self._db.settings.cache_ttl_seconds, codec=_OPEN_CODEC
        )
        assert cached is not None  # noqa: S101 - the loader always returns a value
        return cached

    @gated(Feature.POLLS)
    async def vote(self, guild_id: int, number: int, user_id: int, position: int) -> VoteChange:
        """Cast or change ``user_id``'s one vote to option ``position``, counts included, in ONE statement.

        Raises:
            NotFoundError: no poll ``number`` (or it was deleted), or no such option.
            ConflictError: the poll is closed.
            PermissionDeniedError: the member is poll-banned.
        """
        guild_id, number, user_id = (
            snowflake("guild_id", guild_id),
            positive("number", number),
            snowflake("user_id", user_id),
        )
        position = integer("position", position, minimum=1, maximum=MAX_OPTIONS)
        params = {"guild_id": guild_id, "number": number, "user_id": user_id, "position": position}
        async with self._write() as session:
            if await _poll_banned(session, guild_id, user_id):
                raise PermissionDeniedError("user_id: poll-banned members cannot vote")
            row = (await session.execute(_VOTE_SQL, params)).mappings().one()
            if not row["is_open"]:
                await self._refuse_closed(session, guild_id, number)
            if not row["is_option"]:
                raise NotFoundError(f"position: poll #{number} has no option {position}")
            await _count(session, guild_id, row["option_id"], row["previous_option_id"])
        previous = row["previous_position"] if row["is_changed"] else position
        return VoteChange(
            guild_id=guild_id,
            number=number,
            user_id=user_id,
            position=position,
            previous_position=previous,
            is_changed=bool(row["is_changed"]),
        )

    @gated(Feature.POLLS)
    async def retract(self, guild_id: int, number: int, user_id: int, *, position: int | None = None) -> VoteChange:
        """Take back ``user_id``'s vote (only if it is for ``position``, when given: a removed reaction)."""
        guild_id, number, user_id = (
            snowflake("guild_id", guild_id),
            positive("number", number),
            snowflake("user_id", user_id),
        )
        only = None if position is None else integer("position", position, minimum=1, maximum=MAX_OPTIONS)
        params = {"guild_id": guild_id, "number": number, "user_id": user_id, "position": only}
        async with self._write() as session:
            row = (await session.execute(_RETRACT_SQL, params)).mappings().one()
            if not row["is_open"]:
                await self._refuse_closed(session, guild_id, number)
            await _count(session, guild_id, None, row["option_id"])
        previous = row["previous_position"]
        return VoteChange(
            guild_id=guild_id,
            number=number,
            user_id=user_id,
            position=None,
            previous_position=previous,
            is_changed=previous is not None,
        )

    async def tally(self, guild_id: int, number: int) -> dict[int, int]:
        """Votes per option position counted from the vote rows themselves (the live counts' ground truth)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        stmt = text("""
            SELECT o.position, count(v.user_id) AS votes
            FROM poll AS p JOIN poll_option AS o ON o.guild_id = p.guild_id AND o.poll_id = p.poll_id
            LEFT JOIN poll_vote AS v ON v.guild_id = o.guild_id AND v.option_id = o.option_id
            WHERE p.guild_id = :guild_id AND p.number = :number AND p.deleted_at IS NULL
            GROUP BY o.position ORDER BY o.position
        """)
        async with self._write() as session:
            rows = await session.execute(stmt, {"guild_id": guild_id, "number": number})
            return {int(position): int(votes) for position, votes in rows}

    async def close(self, guild_id: int, number: int) -> PollRead:
        """Close an open poll now (its close job is cancelled); ``ConflictError`` if it is already closed."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            closed = await self.close_in(session, guild_id, number)
            if closed is None:
                await self._refuse_closed(session, guild_id, number)
            assert closed is not None  # noqa: S101 - _refuse_closed raised otherwise
            await self._db.jobs.cancel_in(session, POLL_CLOSE, str(closed.poll_id))
            return closed

    async def close_in(self, session: AsyncSession, guild_id: int, number: int) -> PollRead | None:
        """Close poll ``number`` inside the caller's transaction (the close job's); None if it was not open."""
        session = unit_of_work(session)
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        stmt = (
            update(Poll)
            .where(col(Poll.guild_id) == guild_id, col(Poll.number) == number, col(Poll.status) == PollStatus.OPEN)
            .where(live(Poll))
            .values(
                status=PollStatus.CLOSED, closed_at=func.now(), updated_at=func.now(), **actor_columns(Poll, "update")
            )
            .returning(Poll)
        )
        poll = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
        if poll is None:
            return None
        await _audit(session, AuditAction.POLL_CLOSE, poll, status=(PollStatus.OPEN, PollStatus.CLOSED))
        self._stale(session, open_polls_key(guild_id))
        return await _read(session, poll)

    async def delete(self, guild_id: int, number: int) -> bool:
        """Delete a poll (soft: its number stays taken); False when there is none. Its close job goes too."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        stmt = (
            update(Poll)
            .where(col(Poll.guild_id) == guild_id, col(Poll.number) == number, live(Poll))
            .values(**soft_delete_values(Poll), updated_at=func.now())
            .returning(Poll)
        )
        async with self._write() as session:
            poll = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
            if poll is None:
                return False
            await self._db.jobs.cancel_in(session, POLL_CLOSE, str(poll.poll_id))
            await _audit(session, AuditAction.POLL_DELETE, poll, deleted=(False, True))
            self._stale(session, open_polls_key(guild_id))
            return True

    async def set_message(self, guild_id: int, number: int, message_id: int | None) -> PollRead:
        """Remember the Discord message the bot posted the poll as (reactions and buttons find it by this)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        message = optional_snowflake("message_id", message_id)
        stmt = (
            update(Poll)
            .where(col(Poll.guild_id) == guild_id, col(Poll.number) == number, live(Poll))
            .values(message_id=message, updated_at=func.now(), **actor_columns(Poll, "update"))
            .returning(Poll)
        )
        async with self._write() as session:
            poll = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
            if poll is None:
                raise NotFoundError(f"number: poll #{number} does not exist in guild {guild_id}")
            self._stale(session, open_polls_key(guild_id))
            return await _read(session, poll)

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    async def _find(session: AsyncSession, guild_id: int, number: int) -> Poll | None:
        stmt = select(Poll).where(col(Poll.guild_id) == guild_id, col(Poll.number) == number, live(Poll))
        return (await session.scalars(stmt)).one_or_none()

    async def _refuse_closed(self, session: AsyncSession, guild_id: int, number: int) -> None:
        """Raise why poll ``number`` takes no votes: it does not exist, or it is closed (or past its end)."""
        poll = await self._find(session, guild_id, number)
        if poll is None:
            raise NotFoundError(f"number: poll #{number} does not exist in guild {guild_id}")
        raise ConflictError(f"poll #{number} is closed; it takes no more votes")
