"""Every table that holds a user ID says, next to its model, what erasing that user does to it (R10.2).

One declaration per table, in the model's own module, right after the class::

    personal_data(Reminder, "Reminders the user set.", retention="until sent", user_id=Erase.DELETE)

The four things erase can do to a user-ID column (``Erase``):

- ``DELETE``: the rows where the column names the user go;
- ``NULL``: the column is set to NULL (an array loses the ID, a JSONB value
  becomes ``{}``); the row stays;
- ``ANONYMISE``: the ID is replaced by ``TOMBSTONE_USER_ID`` (inside JSONB and
  text too, wherever it appears as a whole number); the row stays and still
  counts, but no longer says who. ``fold`` names the counters to add up when
  the column is part of the key (a daily rollup keeps the guild's totals);
- ``KEEP``: the row and the ID stay, with the stated legal reason (``keep``).

Which columns hold user IDs is decided by one rule (``user_id_columns``), so a
new table is held to it without anyone remembering: every ``BIGINT`` (and
snowflake), ``BIGINT[]`` and ``JSONB`` column is a candidate, except

- identity columns (the table's own row numbers: ``audit_id``, ``case_id``);
- plain ``BIGINT`` counters: a non-snowflake ``BIGINT`` is a candidate only
  when its name ends in ``_id`` or ``_by`` (``command_log_dead_letter.user_id``);
- IDs of other kinds of Discord object, by name: ``guild_id`` and every
  ``…channel_id(s)``, ``…role_id(s)``, ``…message_id(s)``.

Every remaining candidate must be declared, as a user column with its action
or in ``not_user`` with the reason it is not one (``level_multiplier.target_id``
is a role or a channel). ``tests/privacy/test_policy.py`` fails on any table or
column left out. Text columns that embed an ID (``audit_log.entity_id`` such as
``user:<id>``) may be declared too; they are handled like JSONB.

``docs/privacy.md`` is generated from these declarations (``guildbase privacy
docs``), so what it says erase does is what erase does.
"""

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from sqlalchemy import ARRAY, BigInteger, Column, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from guildbase.db.metadata import metadata
from guildbase.db.types import SnowflakeType

__all__ = [
    "ENCRYPTED_INFO_KEY",
    "STAMPS",
    "TOMBSTONE_USER_ID",
    "ColumnPolicy",
    "ColumnShape",
    "Erase",
    "TablePolicy",
    "anonymise",
    "is_encrypted",
    "keep",
    "personal_data",
    "policies",
    "policy_for",
    "shape_of",
    "unaccounted",
    "user_id_columns",
]

TOMBSTONE_USER_ID = 456_226_577_798_135_808
"""What an anonymised ID becomes: Discord's own "Deleted User" account, so a client shows the right thing."""

ENCRYPTED_INFO_KEY = "encrypted"
"""A column with ``info={"encrypted": True}`` (or a type with ``encrypted = True``) is noted as encrypted in
docs/privacy.md. The hook for the encrypted column type (R10.1): its columns need no other change here."""

_OTHER_OBJECT = re.compile(r"^(guild_id|.*channel_ids?|.*role_ids?|.*message_ids?)$")
_ID_NAME = re.compile(r".*_(id|by)$")


class Erase(enum.StrEnum):
    """What erasing a user does to a column that holds their ID."""

    DELETE = "delete"
    NULL = "null"
    ANONYMISE = "anonymise"
    KEEP = "keep"


class _Stamps(TypedDict):
    created_by: Erase
    updated_by: Erase


STAMPS: _Stamps = {"created_by": Erase.ANONYMISE, "updated_by": Erase.ANONYMISE}
"""The actor stamps of ``AuditMixin`` tables (``**STAMPS``): who set a row is anonymised, the setting stays."""


class ColumnShape(enum.StrEnum):
    """How an ID sits in a column, which decides how it is matched and rewritten."""

    BIGINT = "bigint"
    ARRAY = "bigint[]"
    JSONB = "jsonb"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class ColumnPolicy:
    """One user-ID column and what erase does to it."""

    column: str
    erase: Erase
    shape: ColumnShape
    reason: str | None = None
    """Why the ID is kept (``KEEP``), quoted in docs/privacy.md."""
    fold: tuple[str, ...] = ()
    """``ANONYMISE`` on a key column: counters summed into the tombstone's row instead of colliding."""


@dataclass(frozen=True, slots=True)
class _Spec:
    erase: Erase
    reason: str | None = None
    fold: tuple[str, ...] = ()


def keep(reason: str) -> Any:
    """A column erase leaves alone, and the legal reason why (shown in docs/privacy.md)."""
    if not reason.strip():
        msg = "a kept user ID needs its legal reason"
        raise ValueError(msg)
    return _Spec(Erase.KEEP, reason)


def anonymise(*, fold: Iterable[str] = ()) -> Any:
    """Replace the ID by the tombstone; ``fold``: the counters to add up when the column is in the key."""
    return _Spec(Erase.ANONYMISE, fold=tuple(fold))


@dataclass(frozen=True, slots=True)
class TablePolicy:
    """A table's whole declaration: why it holds personal data, for how long, and what erase does."""

    table: str
    purpose: str
    retention: str
    columns: tuple[ColumnPolicy, ...]
    not_user: Mapping[str, str] = field(default_factory=dict)
    """Candidate columns that are not user IDs, and why."""
    personal: Mapping[str, str] = field(default_factory=dict)
    """Other personal fields (free text written by or about the user): they go or stay with their row."""
    keep_rows: str | None = None
    """SQL condition of rows kept whole (``keep_reason`` says why); erase and the scan skip them."""
    keep_reason: str | None = None
    run_first: str | None = None
    """SQL run just before the table is erased, with ``:user_id`` bound (jobs that point at its rows, counts)."""

    @property
    def deletes(self) -> tuple[ColumnPolicy, ...]:
        """The columns whose match deletes the row."""
        return tuple(c for c in self.columns if c.erase is Erase.DELETE)

    def column(self, name: str) -> ColumnPolicy | None:
        """The declared policy of ``name``, if it is a user column."""
        return next((c for c in self.columns if c.column == name), None)


def _table_of(model: Any) -> Table:
    table = model if isinstance(model, Table) else getattr(model, "__table__", None)
    if not isinstance(table, Table):
        msg = f"{model!r} is not a table model"
        raise TypeError(msg)
    return table


def _is_bigint(type_: TypeEngine[Any]) -> bool:
    if isinstance(type_, TypeDecorator):
        return isinstance(type_.impl_instance, BigInteger)
    return isinstance(type_, BigInteger)


def shape_of(column: Column[Any]) -> ColumnShape | None:
    """How a column could hold an ID: BIGINT, BIGINT[], JSONB or text; None for any other type."""
    type_ = column.type
    if isinstance(type_, ARRAY):
        return ColumnShape.ARRAY if _is_bigint(type_.item_type) else None
    if isinstance(type_, JSONB):
        return ColumnShape.JSONB
    if _is_bigint(type_):
        return ColumnShape.BIGINT
    if isinstance(type_, Text) or type_.__class__.__name__ in {"String", "AutoString", "VARCHAR"}:
        return ColumnShape.TEXT
    return None


def user_id_columns(table: Table) -> dict[str, ColumnShape]:
    """The columns of ``table`` that may hold a user ID under the module's rule, and their shape."""
    found: dict[str, ColumnShape] = {}
    for column in table.columns:
        shape = shape_of(column)
        if shape is None or shape is ColumnShape.TEXT or column.identity is not None:
            continue
        if shape is not ColumnShape.JSONB and _OTHER_OBJECT.match(column.name):
            continue
        plain = shape is ColumnShape.BIGINT and not isinstance(column.type, SnowflakeType)
        if plain and not _ID_NAME.match(column.name):
            continue
        found[column.name] = shape
    return found


def personal_data(
    model: Any,
    purpose: str,
    *,
    retention: str,
    not_user: Mapping[str, str] | None = None,
    personal: Mapping[str, str] | None = None,
    keep_rows: str | None = None,
    keep_reason: str | None = None,
    run_first: str | None = None,
    **columns: "Erase | _Spec",
) -> TablePolicy:
    """Declare ``model``'s table's personal data: one line next to the model (see the module docstring).

    Raises ``ValueError`` at import for a column the table lacks or a ``KEEP``
    without its reason, so a typo never silently exempts a column.
    """
    table = _table_of(model)
    declared: list[ColumnPolicy] = []
    for name, given in columns.items():
        spec = given if isinstance(given, _Spec) else _Spec(Erase(given))
        if spec.erase is Erase.KEEP and not spec.reason:
            msg = f"{table.name}.{name}: use keep('<legal reason>') for a kept user ID"
            raise ValueError(msg)
        if name not in table.c or (shape := shape_of(table.c[name])) is None:
            msg = f"{table.name} has no BIGINT, BIGINT[], JSONB or text column {name!r}"
            raise ValueError(msg)
        declared.append(ColumnPolicy(name, spec.erase, shape, spec.reason, spec.fold))
    for name in [*(not_user or {}), *(personal or {})]:
        if name not in table.c:
            msg = f"{table.name} has no column {name!r}"
            raise ValueError(msg)
    if (keep_rows is None) != (keep_reason is None):
        msg = f"{table.name}: keep_rows and keep_reason go together"
        raise ValueError(msg)
    policy = TablePolicy(
        table.name,
        purpose,
        retention,
        tuple(declared),
        dict(not_user or {}),
        dict(personal or {}),
        keep_rows,
        keep_reason,
        run_first,
    )
    table.info["privacy"] = policy  # on the table itself: a throwaway table's policy dies with its metadata
    return policy


def _declared(table: Table) -> TablePolicy | None:
    policy = table.info.get("privacy")
    return policy if isinstance(policy, TablePolicy) else None


def policies(within: MetaData = metadata) -> list[TablePolicy]:
    """Every policy declared on the tables of ``within`` (the models' metadata), by table name."""
    found = (_declared(table) for _, table in sorted(within.tables.items()))
    return [policy for policy in found if policy is not None]


def policy_for(table: str, within: MetaData = metadata) -> TablePolicy | None:
    """The policy of ``table``, if it declared one."""
    found = within.tables.get(table)
    return None if found is None else _declared(found)


def is_encrypted(column: Column[Any]) -> bool:
    """Whether ``column`` is stored encrypted (the R10.1 hook: ``info`` or the column type says so)."""
    return bool(column.info.get(ENCRYPTED_INFO_KEY) or getattr(column.type, ENCRYPTED_INFO_KEY, False))


def unaccounted(metadata: MetaData) -> list[str]:
    """What the registry does not cover in ``metadata``: tables, and candidate columns, with no declaration."""
    problems = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        candidates = user_id_columns(table)
        policy = _declared(table)
        if policy is None:
            if candidates:
                problems.append(f"{table.name}: no personal_data() policy for {', '.join(sorted(candidates))}")
            continue
        covered = {c.column for c in policy.columns} | set(policy.not_user)
        missing = sorted(set(candidates) - covered)
        if missing:
            problems.append(f"{table.name}: {', '.join(missing)} neither declared nor in not_user")
    return problems
