"""Moderation rules: numbered cases and notes, their history, restrictions and expiry.

Guarantees:

- Numbers: a case or note takes ``next_number`` in the same transaction as its
  insert, after validation. A failed create rolls the counter back with it,
  so numbers stay 1..N with no gap and no duplicate, across processes.
- Expiry: ``claim_due`` hands each due case to one caller by setting
  ``claimed_at`` in the same ``UPDATE … WHERE case_id IN (SELECT … FOR UPDATE
  SKIP LOCKED)`` that selects it. A claim is a lease: a case whose handler
  crashed is claimable again once ``lease`` has passed. ``mark_expired`` (the
  punishment ran out and was lifted) and ``mark_processed`` (the handler is
  done without expiring it, e.g. it was lifted by hand) set ``processed_at``,
  which ends claiming for good; both are idempotent and report whether this
  call was the one that changed the case.
- Restrictions: jailed / snippet-banned / poll-banned is the latest non-voided
  case of the pair (by number) being the restricting one, still active. A timed
  JAIL whose expiry has been handled (``expired``) no longer restricts.
- Every reason edit, void, expiry, note edit and note delete is written to
  ``moderation_change`` in the same transaction as the change itself.

Queries whose plans matter are module-level builders (``history_query`` …) so
tests can EXPLAIN exactly the SQL the controller runs. Partial-index filters
use inline literals, never bind parameters: a generic prepared-statement plan
cannot prove a parameter matches an index predicate.
"""

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Text,
    Update,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.core import next_number, snowflake
from guildbase.db.context import current_actor
from guildbase.db.fast import prepare
from guildbase.db.stale import stale_keys
from guildbase.db.types import utcnow
from guildbase.db.validation import validate, validate_enum
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.core import CounterKind
from guildbase.models.moderation import (
    PAIRS,
    Case,
    CaseCreate,
    CaseOverview,
    CaseRead,
    CaseReasonUpdate,
    CaseStatus,
    CaseSummary,
    CaseType,
    ChangeAction,
    ModerationChange,
    ModerationChangeRead,
    Note,
    NoteCreate,
    NoteEdit,
    NoteRead,
    Restriction,
)
from guildbase.services.cache import ModelCodec
from guildbase.services.keys import guild_key

MAX_PAGE = 100
T = TypeVar("T")
DEFAULT_LEASE = timedelta(minutes=5)


# -- validation helpers -----------------------------------------------------------
def _number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError.single("number", "positive", f"must be a positive integer, got {value!r}")
    return value


def _limit(value: Any, maximum: int = MAX_PAGE) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValidationError.single("limit", "range", f"must be an integer from 1 to {maximum}, got {value!r}")
    return value


def _cursor(before: Any) -> int | None:
    if before is None:
        return None
    if isinstance(before, bool) or not isinstance(before, int) or before < 1:
        raise ValidationError.single("before", "positive", f"must be a case/note number, got {before!r}")
    return before


def _moment(field: str, value: Any) -> datetime:
    if value is None:
        return utcnow()
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError.single(field, "timezone", f"must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _literal(value: str) -> ColumnElement[Any]:
    """An inline SQL literal for a value that must match a partial index predicate."""
    return literal_column(f"'{value}'")


def _type_in(types: Iterable[CaseType]) -> ColumnElement[bool]:
    return col(Case.type).in_([_literal(t.value) for t in sorted(types)])


_ACTIVE = col(Case.status) == _literal(CaseStatus.ACTIVE.value)
_NOT_VOIDED = col(Case.status) != _literal(CaseStatus.VOIDED.value)


# -- query builders (EXPLAINed by the tests) ----------------------------------------
def _page(stmt: Select[T], number: Mapped[int], limit: int, before: int | None) -> Select[T]:
    if before is not None:
        stmt = stmt.where(number < before)
    return stmt.order_by(number.desc()).limit(limit)


def history_query(guild_id: int, user_id: int, *, limit: int = 25, before: int | None = None) -> Select[Case]:
    """A user's cases in a guild, newest first (``ix_mod_case_guild_id_user_id_number``)."""
    stmt = select(Case).where(col(Case.guild_id) == guild_id, col(Case.user_id) == user_id)
    return _page(stmt, col(Case.number), limit, before)


def moderator_query(guild_id: int, moderator_id: int, *, limit: int = 25, before: int | None = None) -> Select[Case]:
    """Cases a moderator made in a guild, newest first."""
    stmt = select(Case).where(col(Case.guild_id) == guild_id, col(Case.moderator_id) == moderator_id)
    return _page(stmt, col(Case.number), limit, before)


def type_query(guild_id: int, case_type: CaseType, *, limit: int = 25, before: int | None = None) -> Select[Case]:
    """A guild's cases of one type, newest first."""
    stmt = select(Case).where(col(Case.guild_id) == guild_id, col(Case.type) == case_type)
    return _page(stmt, col(Case.number), limit, before)


def recent_query(
    guild_id: int, *, since: datetime | None = None, until: datetime | None = None, limit: int = 50
) -> Select[Case]:
    """A guild's cases created in a time window, newest first (``ix_mod_case_guild_id_created_at``)."""
    stmt = select(Case).where(col(Case.guild_id) == guild_id)
    if since is not None:
        stmt = stmt.where(col(Case.created_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Case.created_at) < until)
    return stmt.order_by(col(Case.created_at).desc(), col(Case.case_id).desc()).limit(limit)


def latest_pair_query(guild_id: int, user_id: int, types: Iterable[CaseType]) -> Select[Case]:
    """The user's non-voided pair cases of ``types``, newest first (partial ``…_pair`` index)."""
    return (
        select(Case)
        .where(col(Case.guild_id) == guild_id, col(Case.user_id) == user_id, _type_in(types), _NOT_VOIDED)
        .order_by(col(Case.number).desc())
    )


def notes_query(guild_id: int, user_id: int, *, limit: int = 25, before: int | None = None) -> Select[Note]:
    """A user's live notes, newest first (``ix_note_guild_id_user_id_number``)."""
    stmt = select(Note).where(col(Note.guild_id) == guild_id, col(Note.user_id) == user_id)
    return _page(stmt.where(col(Note.deleted_at).is_(None)), col(Note.number), limit, before)


def claim_due_query(now: datetime, limit: int, lease: timedelta) -> Update:
    """Claim up to ``limit`` due cases in one statement (partial ``ix_mod_case_due`` index)."""
    due = (
        select(col(Case.case_id))
        .where(
            _ACTIVE,
            col(Case.processed_at).is_(None),
            col(Case.expires_at).is_not(None),
            col(Case.expires_at) <= now,
            (col(Case.claimed_at).is_(None)) | (col(Case.claimed_at) <= now - lease),
        )
        .order_by(col(Case.expires_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return update(Case).where(col(Case.case_id).in_(due)).values(claimed_at=now).returning(Case)


async def _record(
    session: AsyncSession,
    guild_id: int,
    action: ChangeAction,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    actor_id: int | None,
    case_id: int | None = None,
    note_id: int | None = None,
) -> None:
    session.add(
        ModerationChange(
            guild_id=guild_id,
            case_id=case_id,
            note_id=note_id,
            action=action,
            actor_id=actor_id,
            before=dict(before),
            after=dict(after),
        )
    )
    await session.flush()


def summary_key(guild_id: int, user_id: int) -> str:
    """Cache key of one user's ``CaseSummary``; dropped by create, void and expiry of their cases only."""
    return guild_key(guild_id, "cases", user_id, "summary")


# Model CRUD on a case (a script's ``Case.update(session, …)``) drops its user's summary too.
stale_keys(Case, lambda row: (summary_key(row.guild_id, row.user_id),))


def _actor(actor_id: int | None) -> int | None:
    return current_actor() if actor_id is None else snowflake("actor_id", actor_id)


# The per-command path: the guild's next number and the insert in ONE statement.
# The counter row stays locked only while this statement runs, and a failed insert
# (bad guild, CHECK) rolls the number back with it: no gap, no duplicate.
_CREATE_CASE = prepare(
    text("""
WITH counter AS (
    INSERT INTO guild_counter AS c (guild_id, kind, last_value) VALUES (:guild_id, 'case', 1)
    ON CONFLICT (guild_id, kind) DO UPDATE SET last_value = c.last_value + 1
    RETURNING c.last_value
)
INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, reason, role_ids, expires_at,
                      mod_log_message_id, details, created_by, updated_by)
SELECT :guild_id, counter.last_value, CAST(:type AS mod_case_type), :user_id, :moderator_id, :reason, :role_ids,
       :expires_at, :mod_log_message_id, CAST(:details AS jsonb), :actor, :actor
FROM counter
RETURNING *
""").bindparams(bindparam("role_ids", type_=ARRAY(BigInteger)))
)


def summary_query(guild_id: int, user_id: int) -> Select[Any]:
    """Per type: the user's non-voided cases, and the number and status of the newest (one index range scan)."""
    newest_status = func.array_agg(aggregate_order_by(col(Case.status), col(Case.number).desc()))[literal_column("1")]
    return (
        select(col(Case.type), func.count(), func.max(col(Case.number)), newest_status)
        .where(col(Case.guild_id) == guild_id, col(Case.user_id) == user_id, _NOT_VOIDED)
        .group_by(col(Case.type))
    )


def summary_from_rows(rows: Iterable[Any]) -> CaseSummary:
    """Counts per type, and each pair restriction from the newest case of its two types."""
    by_type = {CaseType(kind): (int(count), int(newest), CaseStatus(status)) for kind, count, newest, status in rows}
    restrictions = {}
    for restriction, (on, off) in PAIRS.items():
        latest = max((t for t in (on, off) if t in by_type), key=lambda t: by_type[t][1], default=None)
        restrictions[restriction] = latest is on and by_type[on][2] is CaseStatus.ACTIVE
    return CaseSummary(
        counts={kind: by_type[kind][0] if kind in by_type else 0 for kind in CaseType}, restrictions=restrictions
    )


_SUMMARY = prepare(
    summary_query(bindparam("guild_id", type_=BigInteger), bindparam("user_id", type_=BigInteger))  # type: ignore[arg-type]
)
_SUMMARY_CODEC = ModelCodec(CaseSummary)


def overview_query(guild_id: int, user_id: int, *, limit: int = 20) -> Select[Any]:
    """``summary_query`` packed as JSON text, LEFT JOIN LATERAL ``history_query``: one round trip.

    The summary travels as text so it is decoded once, not once per history
    row; the outer join keeps it when the user has no cases at all.
    """
    summary = summary_query(guild_id, user_id).subquery("t")
    packed = func.coalesce(func.json_agg(func.json_build_array(*summary.c)), literal_column("'[]'"))
    head = select(cast(packed, Text).label("summary")).subquery("s")
    history = history_query(guild_id, user_id, limit=limit).subquery("h").lateral()
    return select(head.c.summary, history).select_from(head.outerjoin(history, true()))


_OVERVIEW = prepare(
    overview_query(
        bindparam("guild_id", type_=BigInteger),  # type: ignore[arg-type]
        bindparam("user_id", type_=BigInteger),  # type: ignore[arg-type]
        limit=bindparam("limit", type_=BigInteger),  # type: ignore[arg-type]
    )
)


# A user's history is read by every moderation command: the same builder, compiled once.
_HISTORY, _HISTORY_BEFORE = (
    prepare(
        history_query(
            bindparam("guild_id", type_=BigInteger),  # type: ignore[arg-type]
            bindparam("user_id", type_=BigInteger),  # type: ignore[arg-type]
            limit=bindparam("limit", type_=BigInteger),  # type: ignore[arg-type]
            before=before,  # type: ignore[arg-type]
        )
    )
    for before in (None, bindparam("before", type_=BigInteger))
)


# -- cases --------------------------------------------------------------------------
class CaseController(Controller):
    """Numbered moderation cases: create, read, edit the reason, void, expire."""

    async def create(
        self,
        guild_id: int,
        user_id: int,
        moderator_id: int,
        case_type: CaseType | str,
        *,
        reason: str | None = None,
        role_ids: Iterable[int] = (),
        expires_at: datetime | None = None,
        mod_log_message_id: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> CaseRead:
        """Record a moderation action and give it the guild's next case number.

        Raises:
            ValidationError: a field breaks a rule (unknown type, missing or past
                expiry for a temporary type, expiry on a type that cannot expire,
                reason too long, bad ID) or the guild does not exist. Nothing is
                written and no number is used.
        """
        checked = validate(
            CaseCreate,
            {
                "guild_id": guild_id,
                "type": case_type,
                "user_id": user_id,
                "moderator_id": moderator_id,
                "reason": reason,
                "role_ids": list(role_ids),
                "expires_at": expires_at,
                "mod_log_message_id": mod_log_message_id,
                "details": dict(details or {}),
            },
        )
        if checked.expires_at is not None and checked.expires_at <= utcnow():
            raise ValidationError.single("expires_at", "future", f"must be in the future, got {checked.expires_at}")
        params = checked.model_dump(mode="python") | {
            "type": checked.type.value,
            "details": json.dumps(checked.details, separators=(",", ":")),
            "actor": current_actor(),
        }
        # One statement (number + insert), so no explicit transaction is needed.
        async with self._fast(transaction=False) as unit:
            row = await _CREATE_CASE.fetchrow(unit.connection, params)  # constraint errors arrive translated
            self._stale(unit, summary_key(checked.guild_id, checked.user_id))
        return CaseRead.model_validate(dict(row))  # type: ignore[arg-type]

    async def create_in(self, session: AsyncSession, checked: CaseCreate) -> CaseRead:
        """Insert an already validated case inside the caller's transaction (job handlers compose it).

        The user's ``summary_key`` is invalidated once that transaction commits.
        """
        actor = current_actor()
        number = await next_number(session, checked.guild_id, CounterKind.CASE)
        case = Case.model_validate(checked, update={"number": number, "created_by": actor, "updated_by": actor})
        session.add(case)
        await session.flush()
        await session.refresh(case)
        self._stale(session, summary_key(checked.guild_id, checked.user_id))
        return CaseRead.model_validate(case)

    async def get(self, guild_id: int, number: int) -> CaseRead | None:
        """Case ``number`` of the guild, or None."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        async with self._write() as session:
            case = await self._find(session, guild_id, number)
            return None if case is None else CaseRead.model_validate(case)

    async def history(
        self, guild_id: int, user_id: int, *, limit: int = 25, before: int | None = None
    ) -> list[CaseRead]:
        """A user's cases, newest first; pass ``before=page[-1].number`` for the next page."""
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "user_id": snowflake("user_id", user_id),
            "limit": _limit(limit),
            "before": _cursor(before),
        }
        prepared = _HISTORY if params["before"] is None else _HISTORY_BEFORE
        async with self._fast(transaction=False) as unit:
            rows = await prepared.fetch(unit.connection, params)
        return [CaseRead.model_validate(dict(row)) for row in rows]

    async def overview(self, guild_id: int, user_id: int, *, limit: int = 20) -> CaseOverview:
        """The user's newest cases and their summary (counts, restrictions) in one statement.

        What a ``/modlogs @user`` screen shows; always fresh from PostgreSQL,
        one pool checkout and one round trip instead of ``history`` + ``summary``.
        """
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "user_id": snowflake("user_id", user_id),
            "limit": _limit(limit),
        }
        async with self._fast(transaction=False) as unit:
            rows = await _OVERVIEW.fetch(unit.connection, params)
        summary = summary_from_rows(json.loads(rows[0]["summary"]))
        cases = [CaseRead.model_validate(dict(row)) for row in rows if row["case_id"] is not None]
        return CaseOverview(cases=cases, summary=summary)

    async def by_moderator(
        self, guild_id: int, moderator_id: int, *, limit: int = 25, before: int | None = None
    ) -> list[CaseRead]:
        """Cases made by one moderator, newest first (keyset by number like ``history``)."""
        stmt = moderator_query(
            snowflake("guild_id", guild_id),
            snowflake("moderator_id", moderator_id),
            limit=_limit(limit),
            before=_cursor(before),
        )
        return await self._list(stmt)

    async def by_type(
        self, guild_id: int, case_type: CaseType | str, *, limit: int = 25, before: int | None = None
    ) -> list[CaseRead]:
        """A guild's cases of one type, newest first (keyset by number like ``history``)."""
        kind = validate_enum("type", CaseType, case_type.upper() if isinstance(case_type, str) else case_type)
        stmt = type_query(snowflake("guild_id", guild_id), kind, limit=_limit(limit), before=_cursor(before))
        return await self._list(stmt)

    async def recent(
        self, guild_id: int, *, since: datetime | None = None, until: datetime | None = None, limit: int = 50
    ) -> list[CaseRead]:
        """A guild's cases created in ``[since, until)``, newest first."""
        stmt = recent_query(
            snowflake("guild_id", guild_id),
            since=None if since is None else _moment("since", since),
            until=None if until is None else _moment("until", until),
            limit=_limit(limit),
        )
        return await self._list(stmt)

    async def counts(self, guild_id: int, user_id: int) -> dict[CaseType, int]:
        """How many cases of each type a user has (voided ones excluded); absent types are 0."""
        return (await self.summary(guild_id, user_id)).counts

    async def summary(self, guild_id: int, user_id: int) -> CaseSummary:
        """Counts and restrictions of one user, read through the cache (two indexed queries on a miss)."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)

        async def load() -> CaseSummary:
            async with self._fast(transaction=False) as unit:
                rows = await _SUMMARY.fetch(unit.connection, {"guild_id": guild_id, "user_id": user_id})
            return summary_from_rows(rows)

        summary = await self._db.cache.read_through(
            summary_key(guild_id, user_id), load, ttl=self._db.settings.cache_ttl_seconds, codec=_SUMMARY_CODEC
        )
        assert summary is not None  # noqa: S101 - the loader always returns a summary
        return summary

    async def update_reason(
        self, guild_id: int, number: int, reason: str | None, *, actor_id: int | None = None
    ) -> CaseRead:
        """Replace a case's reason, recording the old and new reason and who changed it."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        checked = validate(CaseReasonUpdate, {"reason": reason})
        actor = _actor(actor_id)
        async with self._write() as session:
            case = await self._locked(session, guild_id, number)
            before = case.reason
            case.reason, case.updated_by = checked.reason, actor
            await _record(
                session,
                guild_id,
                ChangeAction.CASE_REASON,
                {"reason": before},
                {"reason": checked.reason},
                actor_id=actor,
                case_id=case.case_id,
            )
            await session.refresh(case)
            return CaseRead.model_validate(case)

    async def void(self, guild_id: int, number: int, *, actor_id: int | None = None) -> CaseRead:
        """Mark a case as a mistake: it stays in the history but no longer counts or expires.

        Raises:
            ConflictError: the case is already voided.
        """
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        actor = _actor(actor_id)
        async with self._write() as session:
            case = await self._locked(session, guild_id, number)
            if case.status is CaseStatus.VOIDED:
                raise ConflictError(f"case #{number}: is already voided")
            before = case.status
            case.status, case.updated_by = CaseStatus.VOIDED, actor
            await _record(
                session,
                guild_id,
                ChangeAction.CASE_VOID,
                {"status": before.value},
                {"status": CaseStatus.VOIDED.value},
                actor_id=actor,
                case_id=case.case_id,
            )
            await session.refresh(case)
            self._stale(session, summary_key(guild_id, case.user_id))
            return CaseRead.model_validate(case)

    async def set_mod_log_message(self, guild_id: int, number: int, message_id: int) -> CaseRead:
        """Remember the mod-log message posted for a case (after the case exists)."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        message_id = snowflake("mod_log_message_id", message_id)
        async with self._write() as session:
            case = await self._locked(session, guild_id, number)
            case.mod_log_message_id = message_id
            await session.flush()
            await session.refresh(case)
            return CaseRead.model_validate(case)

    async def changes(self, guild_id: int, number: int) -> list[ModerationChangeRead]:
        """Every recorded change to a case, oldest first."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        async with self._write() as session:
            case = await self._find(session, guild_id, number)
            if case is None:
                raise _missing("case", guild_id, number)
            stmt = (
                select(ModerationChange)
                .where(col(ModerationChange.case_id) == case.case_id)
                .order_by(col(ModerationChange.change_id))
            )
            return [ModerationChangeRead.model_validate(row) for row in await session.scalars(stmt)]

    # -- restrictions ---------------------------------------------------------------
    async def restrictions(self, guild_id: int, user_id: int) -> dict[Restriction, bool]:
        """Every pair restriction of the user at once (from the cached summary)."""
        return (await self.summary(guild_id, user_id)).restrictions

    async def is_jailed(self, guild_id: int, user_id: int) -> bool:
        """Whether the user's latest JAIL/UNJAIL case is a JAIL that has not expired."""
        return await self._restricted(guild_id, user_id, Restriction.JAIL)

    async def is_snippet_banned(self, guild_id: int, user_id: int) -> bool:
        """Whether the user's latest SNIPPETBAN/SNIPPETUNBAN case is a SNIPPETBAN."""
        return await self._restricted(guild_id, user_id, Restriction.SNIPPET)

    async def is_poll_banned(self, guild_id: int, user_id: int) -> bool:
        """Whether the user's latest POLLBAN/POLLUNBAN case is a POLLBAN."""
        return await self._restricted(guild_id, user_id, Restriction.POLL)

    async def jail_roles(self, guild_id: int, user_id: int) -> list[int]:
        """The roles saved by the user's latest (non-voided) JAIL, for UNJAIL to restore; [] if none."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        stmt = latest_pair_query(guild_id, user_id, [CaseType.JAIL]).limit(1)
        async with self._write() as session:
            case = (await session.scalars(stmt)).first()
            return [] if case is None else list(case.role_ids)

    # -- expiry -------------------------------------------------------------------------
    async def claim_due(
        self, now: datetime | None = None, limit: int = 100, *, lease: timedelta = DEFAULT_LEASE
    ) -> list[CaseRead]:
        """Hand out up to ``limit`` due cases, each to exactly one caller, soonest expiry first.

        A case stays claimed for ``lease``; call ``mark_expired`` or
        ``mark_processed`` when done, or it is handed out again after the lease.
        """
        moment = _moment("now", now)
        if lease <= timedelta(0):
            raise ValidationError.single("lease", "positive", f"must be a positive duration, got {lease}")
        stmt = claim_due_query(moment, _limit(limit, 10_000), lease)
        async with self._write() as session:
            claimed = list(await session.scalars(stmt, execution_options={"populate_existing": True}))
            claimed.sort(key=lambda case: (case.expires_at, case.case_id))
            return [CaseRead.model_validate(case) for case in claimed]

    async def mark_expired(self, guild_id: int, number: int, *, actor_id: int | None = None) -> bool:
        """The punishment ran out and was lifted: active → expired, processed. False if already done."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        async with self._write() as session:
            user_id = await self.mark_expired_in(session, guild_id, number, actor_id=actor_id)
        return user_id is not None

    async def mark_expired_in(
        self, session: AsyncSession, guild_id: int, number: int, *, actor_id: int | None = None
    ) -> int | None:
        """``mark_expired`` inside the caller's transaction: the case's user_id, or None if already done.

        The user's ``summary_key`` is invalidated once that transaction commits.
        """
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        actor = _actor(actor_id)
        stmt = (
            update(Case)
            .where(col(Case.guild_id) == guild_id, col(Case.number) == number, _ACTIVE)
            .where(col(Case.expires_at).is_not(None))
            .values(
                status=CaseStatus.EXPIRED,
                processed_at=func.coalesce(col(Case.processed_at), func.now()),
                updated_at=func.now(),
                updated_by=actor,
            )
            .returning(col(Case.case_id), col(Case.user_id))
        )
        row = (await session.execute(stmt)).one_or_none()
        if row is None:
            await self._require(session, guild_id, number)
            return None
        await _record(
            session,
            guild_id,
            ChangeAction.CASE_EXPIRE,
            {"status": CaseStatus.ACTIVE.value},
            {"status": CaseStatus.EXPIRED.value},
            actor_id=actor,
            case_id=row.case_id,
        )
        self._stale(session, summary_key(guild_id, row.user_id))
        return int(row.user_id)

    async def mark_processed(self, guild_id: int, number: int) -> bool:
        """The expiry handler is done with the case without expiring it. False if already processed."""
        async with self._write() as session:
            return await self.mark_processed_in(session, guild_id, number)

    async def mark_processed_in(self, session: AsyncSession, guild_id: int, number: int) -> bool:
        """``mark_processed`` inside the caller's transaction."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        stmt = (
            update(Case)
            .where(col(Case.guild_id) == guild_id, col(Case.number) == number)
            .where(col(Case.processed_at).is_(None))
            .values(processed_at=func.now(), updated_at=func.now())
        )
        if (await session.execute(stmt)).rowcount:  # type: ignore[attr-defined]
            return True
        await self._require(session, guild_id, number)
        return False

    # -- helpers ---------------------------------------------------------------------------
    async def _restricted(self, guild_id: int, user_id: int, restriction: Restriction) -> bool:
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        on, off = PAIRS[restriction]
        stmt = latest_pair_query(guild_id, user_id, [on, off]).limit(1)
        async with self._write() as session:
            latest = (await session.scalars(stmt)).first()
            return latest is not None and latest.type is on and latest.status is CaseStatus.ACTIVE

    async def _list(self, stmt: Select[Case]) -> list[CaseRead]:
        async with self._write() as session:
            return [CaseRead.model_validate(case) for case in await session.scalars(stmt)]

    @staticmethod
    async def _find(session: AsyncSession, guild_id: int, number: int, *, lock: bool = False) -> Case | None:
        stmt = select(Case).where(col(Case.guild_id) == guild_id, col(Case.number) == number)
        if lock:
            stmt = stmt.with_for_update()
        return (await session.scalars(stmt)).one_or_none()

    async def _locked(self, session: AsyncSession, guild_id: int, number: int) -> Case:
        case = await self._find(session, guild_id, number, lock=True)
        if case is None:
            raise _missing("case", guild_id, number)
        return case

    async def _require(self, session: AsyncSession, guild_id: int, number: int) -> None:
        if await self._find(session, guild_id, number) is None:
            raise _missing("case", guild_id, number)


# -- notes ----------------------------------------------------------------------------
class NoteController(Controller):
    """Numbered moderator notes about users; edits and deletes are recorded."""

    async def create(self, guild_id: int, user_id: int, moderator_id: int, content: str) -> NoteRead:
        """Add a note with the guild's next note number (no number is used if it fails)."""
        checked = validate(
            NoteCreate, {"guild_id": guild_id, "user_id": user_id, "moderator_id": moderator_id, "content": content}
        )
        actor = current_actor()
        async with self._write() as session:
            number = await next_number(session, checked.guild_id, CounterKind.NOTE)
            note = Note.model_validate(checked, update={"number": number, "created_by": actor, "updated_by": actor})
            session.add(note)
            await session.flush()
            await session.refresh(note)
            return NoteRead.model_validate(note)

    async def get(self, guild_id: int, number: int) -> NoteRead | None:
        """Note ``number`` of the guild, or None (also when deleted)."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        async with self._write() as session:
            note = await self._find(session, guild_id, number)
            return None if note is None else NoteRead.model_validate(note)

    async def list_for_user(
        self, guild_id: int, user_id: int, *, limit: int = 25, before: int | None = None
    ) -> list[NoteRead]:
        """A user's live notes, newest first; pass ``before=page[-1].number`` for the next page."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        stmt = notes_query(guild_id, user_id, limit=_limit(limit), before=_cursor(before))
        async with self._write() as session:
            return [NoteRead.model_validate(note) for note in await session.scalars(stmt)]

    async def edit(self, guild_id: int, number: int, content: str, *, actor_id: int | None = None) -> NoteRead:
        """Replace a note's text, recording the old and new text and who changed it."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        checked = validate(NoteEdit, {"content": content})
        actor = _actor(actor_id)
        async with self._write() as session:
            note = await self._locked(session, guild_id, number)
            before = note.content
            note.content, note.updated_by = checked.content, actor
            await _record(
                session,
                guild_id,
                ChangeAction.NOTE_EDIT,
                {"content": before},
                {"content": checked.content},
                actor_id=actor,
                note_id=note.note_id,
            )
            await session.refresh(note)
            return NoteRead.model_validate(note)

    async def delete(self, guild_id: int, number: int, *, actor_id: int | None = None) -> bool:
        """Soft-delete a note (its number is never reused); False if it does not exist."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        actor = _actor(actor_id)
        async with self._write() as session:
            note = await self._find(session, guild_id, number, lock=True)
            if note is None:
                return False
            note.deleted_at, note.deleted_by = utcnow(), actor
            await _record(
                session,
                guild_id,
                ChangeAction.NOTE_DELETE,
                {"content": note.content, "deleted": False},
                {"deleted": True},
                actor_id=actor,
                note_id=note.note_id,
            )
            return True

    async def changes(self, guild_id: int, number: int) -> list[ModerationChangeRead]:
        """Every recorded change to a note (deleted notes included), oldest first."""
        guild_id, number = snowflake("guild_id", guild_id), _number(number)
        async with self._write() as session:
            note = await self._find(session, guild_id, number, include_deleted=True)
            if note is None:
                raise _missing("note", guild_id, number)
            stmt = (
                select(ModerationChange)
                .where(col(ModerationChange.note_id) == note.note_id)
                .order_by(col(ModerationChange.change_id))
            )
            return [ModerationChangeRead.model_validate(row) for row in await session.scalars(stmt)]

    @staticmethod
    async def _find(
        session: AsyncSession, guild_id: int, number: int, *, lock: bool = False, include_deleted: bool = False
    ) -> Note | None:
        stmt = select(Note).where(col(Note.guild_id) == guild_id, col(Note.number) == number)
        if lock:
            stmt = stmt.with_for_update()
        return (await session.scalars(stmt, execution_options={"include_deleted": include_deleted})).one_or_none()

    async def _locked(self, session: AsyncSession, guild_id: int, number: int) -> Note:
        note = await self._find(session, guild_id, number, lock=True)
        if note is None:
            raise _missing("note", guild_id, number)
        return note


def _missing(kind: str, guild_id: int, number: int) -> NotFoundError:
    return NotFoundError(f"{kind} #{number} does not exist in guild {guild_id}")
