r"""The SQL of export and erase, built from a table's policy: one place decides how an ID is matched.

An ID is matched by the shape of its column (``policy.ColumnShape``):

- ``BIGINT``: equality (the indexes on ``user_id`` columns serve it);
- ``BIGINT[]``: ``= ANY``;
- ``JSONB`` and text: the ID as a whole number in the text (``\m<id>\M``), so
  ``{"user_id": "123"}``, ``{"ids": [123]}`` and ``user:123`` all match and
  ``1234`` does not.

Identifiers come from the metadata and are quoted (``row``, ``before`` and
``after`` are column names); the user ID is always a bound parameter, written
``:user_id`` for SQLAlchemy's ``text()`` or ``$1`` for asyncpg (``param``).
"""

from dataclasses import dataclass

from sqlalchemy import Table

from guildbase.privacy.policy import TOMBSTONE_USER_ID, ColumnPolicy, ColumnShape, Erase, TablePolicy

__all__ = ["TableStatements", "match", "statements"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _bigint(param: str) -> str:
    """The parameter typed once for all its uses (asyncpg deduces one type per parameter)."""
    return f"CAST({param} AS bigint)"


def _pattern(param: str) -> str:
    """The regular expression of the ID as a whole number in text."""
    return f"('\\m' || CAST({param} AS text) || '\\M')"


def match(column: str, shape: ColumnShape, param: str) -> str:
    """The condition "``column`` holds the user ID bound as ``param``"."""
    name, param = _q(column), _bigint(param)
    if shape is ColumnShape.BIGINT:
        return f"{name} = {param}"
    if shape is ColumnShape.ARRAY:
        return f"{param} = ANY({name})"
    text = f"{name}::text" if shape is ColumnShape.JSONB else name
    return f"{text} ~ {_pattern(param)}"


def _rewritten(column: ColumnPolicy, param: str) -> str:
    """The new value of a NULL or ANONYMISE column in a row that matched."""
    name, param = _q(column.column), _bigint(param)
    pattern = _pattern(param)
    nulled = column.erase is Erase.NULL
    if column.shape is ColumnShape.BIGINT:
        return "NULL" if nulled else str(TOMBSTONE_USER_ID)
    if column.shape is ColumnShape.ARRAY:
        return f"array_remove({name}, {param})" if nulled else f"array_replace({name}, {param}, {TOMBSTONE_USER_ID})"
    if column.shape is ColumnShape.JSONB:
        return (
            "'{}'::jsonb" if nulled else f"regexp_replace({name}::text, {pattern}, '{TOMBSTONE_USER_ID}', 'g')::jsonb"
        )
    return "NULL" if nulled else f"regexp_replace({name}, {pattern}, '{TOMBSTONE_USER_ID}', 'g')"


@dataclass(frozen=True, slots=True)
class TableStatements:
    """What erase runs on one table, in order, and what export reads from it."""

    table: str
    first: str | None
    delete: str | None
    fold: tuple[str, ...]
    null: str | None
    anonymise: str | None
    select: str
    count: str


def _update(table: Table, columns: list[ColumnPolicy], keep: str, param: str) -> str | None:
    if not columns:
        return None
    sets = ", ".join(
        f"{_q(c.column)} = CASE WHEN {match(c.column, c.shape, param)} THEN {_rewritten(c, param)} "
        f"ELSE {_q(c.column)} END"
        for c in columns
    )
    where = " OR ".join(match(c.column, c.shape, param) for c in columns)
    return f"UPDATE {_q(table.name)} SET {sets} WHERE ({where}){keep}"  # noqa: S608 - identifiers from the metadata


def _fold(table: Table, column: ColumnPolicy, keep: str, param: str) -> str:
    """Move the user's rows onto the tombstone's, adding up ``fold`` where the tombstone has the key already."""
    name, target = _q(table.name), _q(column.column)
    others = [c.name for c in table.primary_key.columns if c.name != column.column]
    keys = ", ".join(_q(c) for c in others)
    sums = ", ".join(f"sum({_q(f)})" for f in column.fold)
    folded = ", ".join(_q(f) for f in column.fold)
    adds = ", ".join(f"{_q(f)} = existing.{_q(f)} + EXCLUDED.{_q(f)}" for f in column.fold)
    conflict = ", ".join(_q(c.name) for c in table.primary_key.columns)
    return (
        f"WITH gone AS (DELETE FROM {name} WHERE {match(column.column, column.shape, param)}{keep} RETURNING *), "  # noqa: S608
        f"merged AS (INSERT INTO {name} AS existing ({keys}, {target}, {folded}) "
        f"SELECT {keys}, {TOMBSTONE_USER_ID}, {sums} FROM gone GROUP BY {keys} "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {adds} RETURNING 1) "
        "SELECT count(*) FROM gone"
    )


def statements(table: Table, policy: TablePolicy, param: str = ":user_id") -> TableStatements:
    """The statements of ``policy`` on ``table``, with the user ID bound as ``param``."""
    keep = f" AND NOT ({policy.keep_rows})" if policy.keep_rows else ""
    deletes = [c for c in policy.columns if c.erase is Erase.DELETE]
    delete = None
    if deletes:
        where = " OR ".join(match(c.column, c.shape, param) for c in deletes)
        delete = f"DELETE FROM {_q(table.name)} WHERE ({where}){keep}"  # noqa: S608 - identifiers from the metadata
    folds = tuple(_fold(table, c, keep, param) for c in policy.columns if c.erase is Erase.ANONYMISE and c.fold)
    nulls = [c for c in policy.columns if c.erase is Erase.NULL]
    anonymised = [c for c in policy.columns if c.erase is Erase.ANONYMISE and not c.fold]
    every = " OR ".join(match(c.column, c.shape, param) for c in policy.columns) or "false"
    return TableStatements(
        table.name,
        policy.run_first,
        delete,
        folds,
        _update(table, nulls, keep, param),
        _update(table, anonymised, keep, param),
        f"SELECT * FROM {_q(table.name)} WHERE {every}",  # noqa: S608 - identifiers from the metadata
        f"SELECT count(*) FROM {_q(table.name)} WHERE {every}",  # noqa: S608
    )
