"""The case queries whose plans matter, as module-level builders the tests EXPLAIN.

Each builder is exactly the SQL the controller runs (``CaseController`` compiles
the per-command ones once with ``db.fast.prepare``). Partial-index filters use
inline literals, never bind parameters: a generic prepared-statement plan
cannot prove a parameter matches an index predicate.

History is ordered and paginated by ``number``, the guild's own timeline (a
unique keyset within the guild).
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Text, cast, func, literal_column, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Mapped
from sqlmodel import col

from guildbase.db.rows import assemble
from guildbase.db.stale import stale_keys
from guildbase.models.moderation import PAIRS, Case, CaseStatus, CaseSummary, CaseType
from guildbase.services.keys import guild_key

__all__ = [
    "history_query",
    "latest_pair_query",
    "moderator_query",
    "overview_query",
    "recent_query",
    "summary_from_rows",
    "summary_key",
    "summary_query",
    "type_query",
]

T = TypeVar("T")


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


def summary_key(guild_id: int, user_id: int) -> str:
    """Cache key of one user's ``CaseSummary``; dropped by create, void and expiry of their cases only."""
    return guild_key(guild_id, "cases", user_id, "summary")


# Model CRUD on a case (a script's ``Case.update(session, …)``) drops its user's summary too.
stale_keys(Case, lambda row: (summary_key(row.guild_id, row.user_id),))


def summary_query(guild_id: int, user_id: int) -> Select[Any]:
    """Per type: the user's non-voided cases, and the number and status of the newest (one index range scan)."""
    newest_status = func.array_agg(aggregate_order_by(col(Case.status), col(Case.number).desc()))[literal_column("1")]
    return (
        select(col(Case.type), func.count(), func.max(col(Case.number)), newest_status)
        .where(col(Case.guild_id) == guild_id, col(Case.user_id) == user_id, _NOT_VOIDED)
        .group_by(col(Case.type))
    )


_CASE_TYPES: dict[str, CaseType] = {kind.value: kind for kind in CaseType}
_ALL_TYPES = tuple(CaseType)  # iterating the enum class itself costs more than the rest of the summary
_ACTIVE_STATUS = CaseStatus.ACTIVE.value


def summary_from_rows(rows: Iterable[Any]) -> CaseSummary:
    """Counts per type, and each pair restriction from the newest case of its two types.

    ``rows`` are ``(type, count, newest number, newest status)``, from
    ``summary_query`` or decoded from ``overview_query``'s JSON. Every value
    was made here from what PostgreSQL returned, so the summary is built
    without re-validation (it is on every ``/modlogs`` call: W7).
    """
    counts = dict.fromkeys(_ALL_TYPES, 0)
    newest: dict[CaseType, tuple[int, str]] = {}
    for kind, count, number, status in rows:
        member = _CASE_TYPES[kind]
        counts[member] = int(count)
        newest[member] = (number, status)
    restrictions = {}
    for restriction, (on, off) in PAIRS.items():
        started, ended = newest.get(on), newest.get(off)
        restrictions[restriction] = (
            started is not None and started[1] == _ACTIVE_STATUS and (ended is None or started[0] > ended[0])
        )
    return assemble(CaseSummary, counts=counts, restrictions=restrictions)


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
