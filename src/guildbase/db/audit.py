"""``record_audit``: the one way a controller writes its change to ``audit_log``.

Every mutating controller method calls it inside its own unit of work, with
the fields before and after the change, so the audit row commits or rolls
back with the change itself. It works on both kinds of unit:

- an ``AsyncSession`` (``self._write()``, a caller's ``…_in`` session): one
  Core ``INSERT`` on the session's transaction;
- a ``DriverUnit`` (``self._fast()``, opened with a transaction): the same
  ``INSERT``, compiled once, on ``unit.connection``;
- a benchmarked one-statement create (``cases.create``, ``notes.create``):
  ``audited_insert`` folds the audit row into the numbered insert itself, so
  the hot path stays one statement with no explicit transaction.

Only the fields whose values differ are stored (an insert has an empty
``before``, a delete an empty ``after``); a call where nothing differs writes
nothing and returns False, so a repeated idempotent write leaves no row.
The actor defaults to the acting user (``acting_as``); the source and the
correlation ID come from ``audit_context``, set once by the adapter.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic_core import to_jsonable_python
from sqlalchemy import BigInteger, Text, bindparam, cast, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.db.context import current_actor, current_correlation, current_source
from guildbase.db.fast import Prepared, prepare, translating
from guildbase.db.mixins import ACTING, Actor
from guildbase.db.numbering import NumberedInsert
from guildbase.db.types import NO_GUILD
from guildbase.db.unit_of_work import DriverUnit
from guildbase.models.audit import AUDIT_REASON_MAX_LENGTH, AuditAction, AuditEntity, AuditLog

__all__ = ["AuditedInsert", "audited_insert", "changed_fields", "locked_values", "record_audit"]

_COLUMNS = (
    "guild_id",
    "actor_id",
    "source",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "reason",
    "correlation_id",
)
_INSERT = prepare(
    insert(AuditLog).values(
        {
            name: bindparam(name, type_=JSONB if name in {"before", "after"} else AuditLog.__table__.c[name].type)  # type: ignore[attr-defined]
            for name in _COLUMNS
        }
    )
)


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose values differ, as JSON-ready ``(before, after)``; a missing field counts as None."""
    old = to_jsonable_python(dict(before))
    new = to_jsonable_python(dict(after))
    names = [name for name in {**old, **new} if old.get(name) != new.get(name)]
    return {n: old[n] for n in names if n in old}, {n: new[n] for n in names if n in new}


async def record_audit(
    unit: AsyncSession | DriverUnit,
    action: AuditAction,
    entity_type: AuditEntity,
    entity_id: int | str,
    *,
    guild_id: int | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str | None = None,
    actor: Actor = ACTING,
) -> bool:
    """Write one audit row for a change, in ``unit``'s transaction; False when nothing changed.

    Arguments come from the controller (already validated IDs, its own enum
    members), not from users; ``reason`` longer than the column allows is cut,
    because an audit row must never be the reason a change fails.
    """
    old, new = changed_fields(before or {}, after or {})
    if not old and not new:
        return False
    source = current_source()
    values: dict[str, Any] = {
        "guild_id": NO_GUILD if guild_id is None else guild_id,  # a global change is guild 0 (GuildKeyType)
        "actor_id": current_actor() if actor is ACTING else actor,
        "source": source,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "before": old,
        "after": new,
        "reason": None if reason is None else reason[:AUDIT_REASON_MAX_LENGTH],
        "correlation_id": current_correlation(),
    }
    if isinstance(unit, DriverUnit):
        values["before"], values["after"] = json.dumps(old), json.dumps(new)
        for name in ("source", "action", "entity_type"):  # asyncpg binds enum labels as text
            values[name] = None if values[name] is None else values[name].value
        with translating():
            await unit.connection.execute(_INSERT.sql, *_INSERT.args(values))
    else:
        await unit.execute(insert(AuditLog).values(**values))
    return True


async def locked_values(session: AsyncSession, model: type[Any], columns: Iterable[str], **key: Any) -> dict[str, Any]:
    """The ``columns`` of the row of ``model`` with ``key``, locked (``FOR UPDATE``); {} when there is none.

    The ``before`` of an update or an upsert: the lock holds the row until the
    write commits, so no concurrent write slips in between what is recorded as
    before and the change. (A row another transaction inserts after this read
    is recorded as a creation, a harmless simplification.)
    """
    table = model.__table__
    stmt = select(*(table.c[name] for name in columns)).where(*(table.c[name] == value for name, value in key.items()))
    row = (await session.execute(stmt.with_for_update())).mappings().one_or_none()
    return {} if row is None else dict(row)


@dataclass(frozen=True)
class AuditedInsert:
    """A numbered insert and its creation's audit row in ONE statement (the hot path; see ``audited_insert``)."""

    numbered: NumberedInsert
    prepared: Prepared

    async def fetchrow(self, connection: asyncpg.Connection, values: Mapping[str, Any]) -> dict[str, Any]:
        """Number, insert and audit on a driver connection; one statement, so it needs no transaction."""
        source = current_source()
        params = self.numbered.driver_args(values) | {
            "audit_actor_id": current_actor(),
            "audit_source": None if source is None else source.value,
            "audit_correlation_id": current_correlation(),
        }
        row = await self.prepared.fetchrow(connection, params)
        assert row is not None  # noqa: S101 - the numbered insert always returns its row
        return dict(row)


def audited_insert(
    numbered: NumberedInsert, action: AuditAction, entity_type: AuditEntity, key: str, fields: Iterable[str]
) -> AuditedInsert:
    """``numbered`` with the audit row of the creation added as a second data-modifying CTE (build at import).

    ``WITH counter AS (…), created AS (INSERT … RETURNING *), audited AS
    (INSERT INTO audit_log … SELECT … FROM created) SELECT * FROM created``:
    the row, its number and its audit row commit together in one round trip,
    the way ``numbered_insert`` alone did before. ``after`` holds ``fields``
    of the new row (NULLs left out, as ``record_audit`` leaves out fields an
    insert does not set); the entity ID is the row's ``key`` column.
    """
    created = numbered.statement.cte("created")
    pairs: list[Any] = []
    for name in fields:  # field names and labels are our own identifiers: rendered inline, never bound
        pairs += [literal_column(f"'{name}'"), created.c[name]]
    audit_table = AuditLog.__table__  # type: ignore[attr-defined]
    source = select(
        created.c.guild_id,
        bindparam("audit_actor_id", type_=BigInteger),
        cast(bindparam("audit_source", type_=Text), audit_table.c.source.type),
        cast(literal_column(f"'{action.value}'"), audit_table.c.action.type),
        cast(literal_column(f"'{entity_type.value}'"), audit_table.c.entity_type.type),
        cast(created.c[key], Text),
        literal_column("'{}'::jsonb"),
        func.jsonb_strip_nulls(func.jsonb_build_object(*pairs)),
        bindparam("audit_correlation_id", type_=Text),
    )
    audited = (
        insert(AuditLog)
        .from_select(
            [
                "guild_id",
                "actor_id",
                "source",
                "action",
                "entity_type",
                "entity_id",
                "before",
                "after",
                "correlation_id",
            ],
            source,
        )
        .cte("audited")
    )
    statement = select(*created.c).add_cte(audited)
    return AuditedInsert(numbered, prepare(statement))
