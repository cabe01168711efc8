"""Moderation rules for cases: numbering, history, restrictions and expiry.

The moderation domain is split by concept: this module holds ``CaseController``
(and re-exports the rest, so ``guildbase.controllers.moderation`` stays the one
import); ``moderation_queries`` holds the EXPLAINed query builders and the
summary; ``notes`` holds ``NoteController``; ``moderation_common`` the argument
checks and the change trail both controllers write.

Guarantees:

- Numbers: a case takes the guild's next number in the same statement as its
  insert (``db.numbering``; built from the table's own columns), after
  validation. ``create`` (one statement on a driver connection) and
  ``create_in`` (inside the caller's session) run that same statement. A
  failed create rolls the counter back with it, so numbers stay 1..N with no
  gap and no duplicate, across processes. At most ``counter_admission``
  creations per guild and process wait on its counter row (``db.hot_rows``).
- Expiry: a case with ``expires_at`` enqueues its expiry job (``CASE_EXPIRY``)
  in the transaction that creates it, and voiding the case cancels that job in
  the void's transaction; the job runner (``guildbase.jobs``) lifts it once.
  ``mark_expired`` (the punishment ran out and was lifted) and
  ``mark_processed`` (done without expiring it, e.g. it was lifted by hand)
  set ``processed_at``; both are idempotent and report whether this call was
  the one that changed the case.
- Restrictions: jailed / snippet-banned / poll-banned is the latest non-voided
  case of the pair (by number) being the restricting one, still active. A timed
  JAIL whose expiry has been handled (``expired``) no longer restricts.
- Every creation, reason edit, void, expiry, processing and mod-log link is
  written to ``audit_log`` (``db.audit.record_audit``) in the same transaction
  as the change itself; ``changes()`` reads it back.
"""

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.case_create import CREATE_CASE, CREATE_CASE_AUDITED, _audit_created, _case_values
from guildbase.controllers.case_search import CaseSearch
from guildbase.controllers.escalation import escalate_in, may_escalate
from guildbase.controllers.moderation_common import MAX_PAGE, _actor, _change, _missing, _trail
from guildbase.controllers.moderation_queries import (
    _ACTIVE,
    history_query,
    latest_pair_query,
    moderator_query,
    overview_query,
    recent_query,
    summary_from_rows,
    summary_key,
    summary_query,
    type_query,
)
from guildbase.controllers.notes import NoteController, notes_query
from guildbase.db.audit import record_audit
from guildbase.db.context import current_actor
from guildbase.db.fast import prepare
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import assemble, read_all, read_one
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    instance,
    mapping,
    optional_aware,
    optional_positive,
    page_limit,
    positive,
    snowflake,
    snowflakes,
    unit_of_work,
    validate,
    validate_enum,
)
from guildbase.errors import ConflictError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity, AuditLogRead
from guildbase.models.core import CounterKind
from guildbase.models.moderation import (
    CASE_EXPIRY,
    MAX_ROLE_IDS,
    PAIRS,
    Case,
    CaseCreate,
    CaseExpiryPayload,
    CaseOverview,
    CaseRead,
    CaseReasonUpdate,
    CaseStatus,
    CaseSummary,
    CaseType,
    Restriction,
)
from guildbase.services.cache import ModelCodec

__all__ = [
    "CREATE_CASE",
    "MAX_PAGE",
    "CaseController",
    "NoteController",
    "history_query",
    "latest_pair_query",
    "moderator_query",
    "notes_query",
    "overview_query",
    "recent_query",
    "summary_from_rows",
    "summary_key",
    "summary_query",
    "type_query",
]

_SUMMARY = prepare(
    summary_query(bindparam("guild_id", type_=BigInteger), bindparam("user_id", type_=BigInteger))  # type: ignore[arg-type]
)
_SUMMARY_CODEC = ModelCodec(CaseSummary)

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
class CaseController(CaseSearch):
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
                "type": validate_enum("case_type", CaseType, case_type),
                "user_id": user_id,
                "moderator_id": moderator_id,
                "reason": reason,
                "role_ids": snowflakes("role_ids", role_ids, max_items=MAX_ROLE_IDS),
                "expires_at": expires_at,
                "mod_log_message_id": mod_log_message_id,
                "details": mapping("details", details),
            },
        )
        if checked.expires_at is not None and checked.expires_at <= utcnow():
            raise ValidationError.single("expires_at", "future", f"must be in the future, got {checked.expires_at}")
        # At most ``counter_admission`` creations of this process wait on the guild's counter row at once.
        async with self._db.hot_rows.admit(checked.guild_id, CounterKind.CASE):
            # An expiry job, or a warn escalation (R4.3), commits with the case: the in-transaction path.
            if checked.expires_at is not None or await may_escalate(self._db, checked):
                async with self._write() as session:
                    return await self.create_in(session, checked)
            # One statement (number + insert + audit row), so no explicit transaction is needed.
            async with self._fast(transaction=False) as unit:
                row = await CREATE_CASE_AUDITED.fetchrow(unit.connection, _case_values(checked))  # errors translated
                self._stale(unit, summary_key(checked.guild_id, checked.user_id))
        return read_one(CaseRead, row)  # the row PostgreSQL just wrote and checked

    async def create_in(self, session: AsyncSession, checked: CaseCreate) -> CaseRead:
        """Insert an already validated case inside the caller's transaction (job handlers compose it).

        The same numbered insert as ``create``. A case with ``expires_at``
        enqueues its expiry job in the same transaction, and a WARN applies the
        guild's escalation rules (``controllers/escalation.py``) there too. The user's
        ``summary_key`` is invalidated once that transaction commits.
        """
        session, checked = unit_of_work(session), instance("checked", checked, CaseCreate)
        created = CaseRead.model_validate(await CREATE_CASE.execute_in(session, _case_values(checked)))
        await _audit_created(session, created)
        if created.type is CaseType.WARN:  # the guild's escalation rules, in this same transaction
            await escalate_in(session, created, self.create_in)
        if created.expires_at is not None and created.type in CASE_EXPIRY:
            await self._db.jobs.enqueue_in(
                session,
                CASE_EXPIRY[created.type],
                run_at=created.expires_at,
                payload=CaseExpiryPayload(guild_id=created.guild_id, number=created.number),
                dedupe_key=str(created.case_id),
                guild_id=created.guild_id,
            )
        self._stale(session, summary_key(created.guild_id, created.user_id))
        return created

    async def get(self, guild_id: int, number: int) -> CaseRead | None:
        """Case ``number`` of the guild, or None."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
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
            "limit": page_limit(limit, MAX_PAGE),
            "before": optional_positive("before", before),
        }
        prepared = _HISTORY if params["before"] is None else _HISTORY_BEFORE
        async with self._fast(transaction=False) as unit:
            rows = await prepared.fetch(unit.connection, params)
        return read_all(CaseRead, rows)

    async def overview(self, guild_id: int, user_id: int, *, limit: int = 20) -> CaseOverview:
        """The user's newest cases and their summary (counts, restrictions) in one statement.

        What a ``/modlogs @user`` screen shows; always fresh from PostgreSQL,
        one pool checkout and one round trip instead of ``history`` + ``summary``.
        """
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "user_id": snowflake("user_id", user_id),
            "limit": page_limit(limit, MAX_PAGE),
        }
        async with self._fast(transaction=False) as unit:
            rows = await _OVERVIEW.fetch(unit.connection, params)
        summary = summary_from_rows(json.loads(rows[0]["summary"]))
        cases = read_all(CaseRead, [row for row in rows if row["case_id"] is not None])
        return assemble(CaseOverview, cases=cases, summary=summary)  # both built from checked rows

    async def by_moderator(
        self, guild_id: int, moderator_id: int, *, limit: int = 25, before: int | None = None
    ) -> list[CaseRead]:
        """Cases made by one moderator, newest first (keyset by number like ``history``)."""
        stmt = moderator_query(
            snowflake("guild_id", guild_id),
            snowflake("moderator_id", moderator_id),
            limit=page_limit(limit, MAX_PAGE),
            before=optional_positive("before", before),
        )
        return await self._list(stmt)

    async def by_type(
        self, guild_id: int, case_type: CaseType | str, *, limit: int = 25, before: int | None = None
    ) -> list[CaseRead]:
        """A guild's cases of one type, newest first (keyset by number like ``history``)."""
        kind = validate_enum("case_type", CaseType, case_type)
        stmt = type_query(
            snowflake("guild_id", guild_id),
            kind,
            limit=page_limit(limit, MAX_PAGE),
            before=optional_positive("before", before),
        )
        return await self._list(stmt)

    async def recent(
        self, guild_id: int, *, since: datetime | None = None, until: datetime | None = None, limit: int = 50
    ) -> list[CaseRead]:
        """A guild's cases created in ``[since, until)``, newest first."""
        stmt = recent_query(
            snowflake("guild_id", guild_id),
            since=optional_aware("since", since),
            until=optional_aware("until", until),
            limit=page_limit(limit, MAX_PAGE),
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
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        checked = validate(CaseReasonUpdate, {"reason": reason})
        actor = _actor(actor_id)
        async with self._write() as session:
            case = await self._locked(session, guild_id, number)
            await _change(session, case, AuditAction.CASE_REASON, "reason", checked.reason, actor=actor)
            return CaseRead.model_validate(case)

    async def void(self, guild_id: int, number: int, *, actor_id: int | None = None) -> CaseRead:
        """Mark a case as a mistake: it stays in the history but no longer counts or expires.

        Raises:
            ConflictError: the case is already voided.
        """
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        actor = _actor(actor_id)
        async with self._write() as session:
            case = await self._locked(session, guild_id, number)
            if case.status is CaseStatus.VOIDED:
                raise ConflictError(f"case #{number}: is already voided")
            if case.type in CASE_EXPIRY:  # a voided case never expires: its job goes now
                await self._db.jobs.cancel_in(session, CASE_EXPIRY[case.type], str(case.case_id))
            await _change(session, case, AuditAction.CASE_VOID, "status", CaseStatus.VOIDED, actor=actor)
            self._stale(session, summary_key(guild_id, case.user_id))
            return CaseRead.model_validate(case)

    async def set_mod_log_message(self, guild_id: int, number: int, message_id: int) -> CaseRead:
        """Remember the mod-log message posted for a case (after the case exists)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        message_id = snowflake("message_id", message_id)
        async with self._write() as session:
            case = await self._locked(session, guild_id, number)
            await _change(
                session, case, AuditAction.CASE_MOD_LOG, "mod_log_message_id", message_id, actor=current_actor()
            )
            return CaseRead.model_validate(case)

    async def changes(self, guild_id: int, number: int) -> list[AuditLogRead]:
        """Every recorded change to a case after its creation (its audit rows), oldest first."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            case = await self._find(session, guild_id, number)
            if case is None:
                raise _missing("case", guild_id, number)
            assert case.case_id is not None  # noqa: S101 - a loaded case has its key
            return await _trail(session, AuditEntity.CASE, case.case_id)

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
    async def mark_expired(self, guild_id: int, number: int, *, actor_id: int | None = None) -> bool:
        """The punishment ran out and was lifted: active → expired, processed. False if already done."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            user_id = await self.mark_expired_in(session, guild_id, number, actor_id=actor_id)
        return user_id is not None

    async def mark_expired_in(
        self, session: AsyncSession, guild_id: int, number: int, *, actor_id: int | None = None
    ) -> int | None:
        """``mark_expired`` inside the caller's transaction: the case's user_id, or None if already done.

        The user's ``summary_key`` is invalidated once that transaction commits.
        """
        session = unit_of_work(session)
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        actor = _actor(actor_id)
        stmt = (
            update(Case)
            .where(col(Case.guild_id) == guild_id, col(Case.number) == number, _ACTIVE)
            .where(col(Case.expires_at).is_not(None))
            .values(
                status=CaseStatus.EXPIRED,
                processed_at=func.coalesce(col(Case.processed_at), func.now()),
                updated_at=func.now(),
                **actor_columns(Case, "update", actor=actor),
            )
            .returning(col(Case.case_id), col(Case.user_id))
        )
        row = (await session.execute(stmt)).one_or_none()
        if row is None:
            await self._require(session, guild_id, number)
            return None
        await record_audit(
            session,
            AuditAction.CASE_EXPIRE,
            AuditEntity.CASE,
            row.case_id,
            guild_id=guild_id,
            before={"status": CaseStatus.ACTIVE},
            after={"status": CaseStatus.EXPIRED},
            actor=actor,
        )
        self._stale(session, summary_key(guild_id, row.user_id))
        return int(row.user_id)

    async def mark_processed(self, guild_id: int, number: int) -> bool:
        """The expiry handler is done with the case without expiring it. False if already processed."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            return await self.mark_processed_in(session, guild_id, number)

    async def mark_processed_in(self, session: AsyncSession, guild_id: int, number: int) -> bool:
        """``mark_processed`` inside the caller's transaction."""
        session = unit_of_work(session)
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        stmt = (
            update(Case)
            .where(col(Case.guild_id) == guild_id, col(Case.number) == number)
            .where(col(Case.processed_at).is_(None))
            .values(processed_at=func.now(), updated_at=func.now(), **actor_columns(Case, "update"))
            .returning(col(Case.case_id), col(Case.processed_at))
        )
        row = (await session.execute(stmt)).one_or_none()
        if row is not None:
            await record_audit(
                session,
                AuditAction.CASE_PROCESSED,
                AuditEntity.CASE,
                row.case_id,
                guild_id=guild_id,
                before={"processed_at": None},
                after={"processed_at": row.processed_at},
            )
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
            return read_all(CaseRead, await session.scalars(stmt))

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
