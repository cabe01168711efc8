"""GDPR export and erase (R10.2): every row about a user, in every table, by the policies of the models.

- ``export`` streams one JSON document: ``{"user_id", "exported_at",
  "tables": {table: [rows]}, "redis": {...}}``. Each table is read through a
  server-side cursor, a batch at a time, so memory stays flat whatever the
  user's history; ``export_to`` writes it to a file.
- ``erase`` runs every table's policy (``guildbase.privacy.policy``) in ONE
  transaction: rows deleted, columns nulled or anonymised to the tombstone ID,
  kept rows left alone; the user's pending jobs (reminder deliveries, AFK
  expiries) go with it. After the commit, Redis: sessions ended, leaderboard
  entries removed, keys naming the user deleted. Every step is idempotent:
  a second erase finds nothing and says so, and one interrupted after the
  commit (status ``erased``) is finished by running it again.
- Both are recorded in ``privacy_request`` (who asked, when, status, counts
  per table, never the data) and audited (``privacy_export`` /
  ``privacy_erase``, entity ``privacy_request``; the actor is the acting
  user, or the requester when nobody is acting).
- ``locate`` answers "where is this ID still?" from the PostgreSQL catalog,
  not from the policies: the proof that an erase left only what is kept.
"""

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TextIO

from redis.exceptions import RedisError
from sqlalchemy import Table, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.audit import record_audit
from guildbase.db.context import current_actor
from guildbase.db.mixins import ACTING
from guildbase.db.rows import read_all
from guildbase.db.stale import keys_of_table
from guildbase.db.types import utcnow
from guildbase.db.validation import snowflake
from guildbase.errors import ValidationError
from guildbase.models import metadata
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.privacy import PrivacyRequest, PrivacyRequestKind, PrivacyRequestRead, PrivacyRequestStatus
from guildbase.privacy.policy import TOMBSTONE_USER_ID, TablePolicy, policies
from guildbase.privacy.redis_data import erase_redis, export_redis
from guildbase.privacy.rendering import RowWriter
from guildbase.privacy.scan import Located, locate
from guildbase.privacy.statements import TableStatements, statements

__all__ = ["EraseStep", "ExportChunk", "PrivacyController", "plan_size"]

BATCH = 1000
"""Rows per cursor fetch and per exported chunk."""


@dataclass(frozen=True, slots=True)
class ExportChunk:
    """A piece of the export's JSON text; ``table`` and ``rows`` say what it carried (for a progress bar)."""

    text: str
    table: str | None = None
    rows: int = 0
    done: bool = False
    """The last piece of a table (or of the Redis part): a progress bar advances by one step."""


@dataclass(frozen=True, slots=True)
class EraseStep:
    """One table (or Redis) erased: what was done to how many rows; the last step carries the request."""

    table: str
    counts: Mapping[str, int]
    request: PrivacyRequestRead | None = None


@dataclass
class _Plan:
    table: Table
    policy: TablePolicy
    sql: TableStatements
    writer: RowWriter
    export_sql: TableStatements = field(init=False)

    def __post_init__(self) -> None:
        self.export_sql = statements(self.table, self.policy, "$1")


def _plans() -> list[_Plan]:
    """Every declared table, children before parents (a row goes before the row it hangs off)."""
    order = {table.name: index for index, table in enumerate(reversed(metadata.sorted_tables))}
    found = []
    for policy in policies():
        table = metadata.tables[policy.table]
        if policy.columns:
            found.append(_Plan(table, policy, statements(table, policy), RowWriter(table)))
    return sorted(found, key=lambda plan: order[plan.table.name])


def plan_size() -> int:
    """Steps of an export or an erase: one per table with user columns, and one for Redis."""
    return len(_plans()) + 1


def _user(user_id: object, requested_by: object) -> tuple[int, int]:
    user, by = snowflake("user_id", user_id), snowflake("requested_by", requested_by)
    if user == TOMBSTONE_USER_ID:
        raise ValidationError.single("user_id", "tombstone", "is the tombstone every erased ID becomes; not a user")
    return user, by


class PrivacyController(Controller):
    """``db.privacy``: export, erase, locate, and the record of requests."""

    def export(self, user_id: int, *, requested_by: int) -> AsyncIterator[ExportChunk]:
        """Stream the user's data as JSON; arguments are checked now, before any read."""
        user, by = _user(user_id, requested_by)
        return self._export(user, by)

    async def export_to(self, out: TextIO, user_id: int, *, requested_by: int) -> PrivacyRequestRead:
        """Write the user's data as one JSON document to ``out``; returns the recorded request."""
        user, by = _user(user_id, requested_by)
        if not hasattr(out, "write"):
            raise ValidationError.single("out", "file", "must be a text file open for writing")
        async for chunk in self._export(user, by):
            out.write(chunk.text)
        return await self._last(user, PrivacyRequestKind.EXPORT)

    def erase_steps(self, user_id: int, *, requested_by: int) -> AsyncIterator[EraseStep]:
        """``erase``, one step per table (for a progress bar); stopping early rolls the whole erase back."""
        user, by = _user(user_id, requested_by)
        return self._erase(user, by)

    async def erase(self, user_id: int, *, requested_by: int) -> PrivacyRequestRead:
        """Erase the user by every table's policy, in one transaction, then in Redis; returns the request.

        Status ``done``: everything is erased. ``erased``: the database part
        committed but Redis could not be cleaned; run the erase again.
        """
        user, by = _user(user_id, requested_by)
        request: PrivacyRequestRead | None = None
        async for step in self._erase(user, by):
            request = step.request or request
        assert request is not None  # noqa: S101 - the last step always carries it
        return request

    async def locate(self, user_id: int) -> Located:
        """Where ``user_id`` still appears in any BIGINT, BIGINT[] or JSONB column (from the catalog)."""
        user = snowflake("user_id", user_id)
        async with self._write() as session:  # must see this process's erase: never a lagging replica
            return await locate(session, user)

    async def requests(self, user_id: int) -> list[PrivacyRequestRead]:
        """Every export and erase of ``user_id``, oldest first."""
        user = snowflake("user_id", user_id)
        stmt = (
            select(PrivacyRequest).where(col(PrivacyRequest.user_id) == user).order_by(col(PrivacyRequest.request_id))
        )
        async with self._read() as session:
            return read_all(PrivacyRequestRead, (await session.scalars(stmt)).all())

    # -- the request record -------------------------------------------------------
    async def _open(self, kind: PrivacyRequestKind, user: int, by: int) -> int:
        """Record the request before anything is read or erased (it survives a failure)."""
        stmt = (
            insert(PrivacyRequest)
            .values(kind=kind, user_id=user, requested_by=by)
            .returning(col(PrivacyRequest.request_id))
        )
        async with self._write() as session:
            request_id = (await session.execute(stmt)).scalar_one()
        return int(request_id or 0)  # an identity: never NULL

    async def _finish(
        self,
        session: AsyncSession,
        request_id: int,
        status: PrivacyRequestStatus,
        counts: Mapping[str, Any],
        *,
        audited: AuditAction | None = None,
        requested_by: int | None = None,
    ) -> PrivacyRequestRead:
        done = status is not PrivacyRequestStatus.ERASED
        values: dict[str, Any] = {"status": status, "counts": dict(counts)}
        if done:
            values["finished_at"] = utcnow()
        stmt = (
            update(PrivacyRequest)
            .where(col(PrivacyRequest.request_id) == request_id)
            .values(**values)
            .returning(PrivacyRequest)
        )
        row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one()
        if audited is not None:
            actor = ACTING if current_actor() is not None else requested_by
            total = sum(int(n) for t, a in counts.items() if t != "redis" for n in dict(a).values())
            after = {"kind": row.kind.value, "status": status.value, "tables": len(counts), "rows": total}
            await record_audit(
                session, audited, AuditEntity.PRIVACY_REQUEST, request_id, guild_id=None, after=after, actor=actor
            )
        return PrivacyRequestRead.model_validate(row)

    async def _failed(self, request_id: int, error: BaseException) -> None:
        stmt = (
            update(PrivacyRequest)
            .where(col(PrivacyRequest.request_id) == request_id)
            .values(status=PrivacyRequestStatus.FAILED, error=type(error).__name__, finished_at=utcnow())
        )
        async with self._write() as session:
            await session.execute(stmt)

    async def _last(self, user: int, kind: PrivacyRequestKind) -> PrivacyRequestRead:
        stmt = (
            select(PrivacyRequest)
            .where(col(PrivacyRequest.user_id) == user, col(PrivacyRequest.kind) == kind)
            .order_by(col(PrivacyRequest.request_id).desc())
            .limit(1)
        )
        async with self._write() as session:
            return PrivacyRequestRead.model_validate((await session.scalars(stmt)).one())

    # -- export ---------------------------------------------------------------------
    async def _export(self, user: int, by: int) -> AsyncIterator[ExportChunk]:
        request_id = await self._open(PrivacyRequestKind.EXPORT, user, by)
        counts: dict[str, Any] = {}
        try:
            head = {"user_id": str(user), "exported_at": utcnow().isoformat(), "request_id": request_id}
            yield ExportChunk(json.dumps(head)[:-1] + ', "tables": {')
            first = True
            async with self._fast() as unit:  # one transaction: a cursor lives in one, and it only reads
                for plan in _plans():
                    rows = 0
                    prefix = ("" if first else ", ") + json.dumps(plan.table.name) + ": ["
                    pieces: list[str] = []
                    cursor = unit.connection.cursor(plan.export_sql.select, user, prefetch=BATCH)
                    async for record in cursor:
                        pieces.append(plan.writer.render(record))
                        rows += 1
                        if len(pieces) >= BATCH:
                            yield ExportChunk(prefix + ", ".join(pieces), plan.table.name, len(pieces))
                            prefix, pieces = ", ", []
                    yield ExportChunk(prefix + ", ".join(pieces) + "]", plan.table.name, len(pieces), done=True)
                    first = False
                    if rows:
                        counts[plan.table.name] = {"export": rows}
            held = await export_redis(self._db.redis, self._db.web_sessions, user)
            yield ExportChunk('}, "redis": ' + json.dumps(held) + "}\n", "redis", done=True)
            counts["redis"] = {name: len(values) for name, values in held.items()}
        except BaseException as error:
            await self._failed(request_id, error)
            raise
        async with self._write() as session:
            await self._finish(
                session,
                request_id,
                PrivacyRequestStatus.DONE,
                counts,
                audited=AuditAction.PRIVACY_EXPORT,
                requested_by=by,
            )

    # -- erase ----------------------------------------------------------------------
    async def _erase(self, user: int, by: int) -> AsyncIterator[EraseStep]:
        request_id = await self._open(PrivacyRequestKind.ERASE, user, by)
        counts: dict[str, Any] = {}
        try:
            async with self._write() as session:
                for plan in _plans():
                    done = await self._erase_table(session, plan, user)
                    if done:
                        counts[plan.table.name] = done
                    yield EraseStep(plan.table.name, done)
                await self._finish(
                    session,
                    request_id,
                    PrivacyRequestStatus.ERASED,
                    counts,
                    audited=AuditAction.PRIVACY_ERASE,
                    requested_by=by,
                )
        except BaseException as error:
            await self._failed(request_id, error)
            raise
        try:
            cleaned = await erase_redis(self._db.redis, self._db.web_sessions, user)
        except (RedisError, OSError):
            async with self._write() as session:
                request = await self._finish(session, request_id, PrivacyRequestStatus.ERASED, counts)
            yield EraseStep("redis", {}, request)
            return
        counts["redis"] = cleaned
        async with self._write() as session:
            request = await self._finish(session, request_id, PrivacyRequestStatus.DONE, counts)
        yield EraseStep("redis", cleaned, request)

    async def _erase_table(self, session: AsyncSession, plan: _Plan, user: int) -> dict[str, int]:
        """Run one table's policy; the rows per action (actions that touched nothing are left out)."""
        params = {"user_id": user}
        sql = plan.sql
        keys_of = keys_of_table(plan.table.name)
        done: dict[str, int] = {}
        if sql.first is not None:
            await session.execute(text(sql.first), params)
        for action, statement in (("delete", sql.delete), ("null", sql.null), ("anonymise", sql.anonymise)):
            if statement is None:
                continue
            if keys_of is None:
                result = await session.execute(text(statement), params)
                count = int(result.rowcount)  # type: ignore[attr-defined]
            else:  # the rows feed a cache: their keys go stale after the commit
                rows = (await session.execute(text(statement + " RETURNING *"), params)).mappings().all()
                for row in rows:
                    self._stale(session, *keys_of(SimpleNamespace(**row)))
                count = len(rows)
            if count:
                done[action] = count
        for statement in sql.fold:
            count = int((await session.execute(text(statement), params)).scalar_one())
            if count:
                done["anonymise"] = done.get("anonymise", 0) + count
        return done
