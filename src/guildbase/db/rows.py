"""Read models from rows PostgreSQL already checked: built directly, each value checked by its type only.

Why: a list read returns up to thousands of rows, and validating a SQLModel
read model costs about 5 µs per row (``model_construct`` 7 µs: SQLModel's
``__new__`` and pydantic's per-field default walk), more than the query. The
W7/W8 profiles in ``docs/performance.md`` found 60-85 % of those reads' time
there. The database has already enforced the rules a read model would
re-check (column types, ``CHECK`` constraints, enum types, snowflake range
checks), so re-running them per row proves nothing.

``read_all(Model, rows)`` therefore builds each instance as pydantic's own
``model_construct`` does (``__dict__``, fields set, no extra, no private
state), after one cheap check per value: its Python type is exactly the
field's (``type(v) is int``), or it is converted the way validation would
(an enum's value to its member, an int to a float). A value that fails that
check, a field missing without a default, or a model whose validators or
private attributes mean more than types (model or field validators,
``extra="allow"``, table models) make that row, or that model, go through the
full ``model_validate``, so the result is always what validation would give,
and bad data still raises pydantic's error naming the field.

Rows may be asyncpg ``Record``s, mappings (SQLAlchemy ``RowMapping``, dicts) or
ORM instances (read by attribute, as ``from_attributes`` validation does).
"""

import enum
import gc
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin
from uuid import UUID

import asyncpg
from pydantic import AfterValidator, BaseModel, BeforeValidator, PlainValidator, WrapValidator
from pydantic_core import PydanticUndefined

from guildbase.db.types import UTCDateTime, coerce_snowflake

__all__ = ["RowReader", "assemble", "read_all", "read_one", "reader"]

M = TypeVar("M", bound=BaseModel)

_EXACT = (int, str, bool, bytes, date, time, timedelta, UUID, dict, list)
"""Types whose value is kept as is when its type is exactly the field's (``bool`` is not an ``int`` here)."""

_VALIDATORS = (AfterValidator, BeforeValidator, PlainValidator, WrapValidator)
_TRUSTED_VALIDATORS = {coerce_snowflake, *(item.func for item in get_args(UTCDateTime)[1:])}
"""Snowflake and UTC datetime validators: a BIGINT with its ``> 0`` check, a ``timestamptz`` read in UTC."""
_TRUSTED_NAMES = {"any_case.<locals>.convert"}
"""The case-insensitive enum spelling: a stored enum value is already its canonical spelling."""
_set_attr = object.__setattr__


class _Refused(Exception):  # noqa: N818 - a signal, not an error
    """A value the type check cannot vouch for: the row goes through ``model_validate``."""


def _unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """``(inner type, nullable, Annotated metadata)`` of ``Annotated[X, …]``, ``X | None``, ``Optional[X]``."""
    nullable = False
    metadata: list[Any] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            metadata.extend(extra)
        elif origin is Union or origin is types.UnionType:
            members = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(members) < len(get_args(annotation))
            if len(members) != 1:
                return annotation, nullable, metadata
            annotation = members[0]
        else:
            return annotation, nullable, metadata


def _plain(annotation: Any) -> bool:
    """Whether a container's element type is one a typed column or decoded JSON already holds as is."""
    if annotation is Any or annotation in (int, str, float, bool):
        return True
    if get_origin(annotation) is Annotated:
        inner, *metadata = get_args(annotation)
        return _trusted(metadata) and _plain(inner)
    return get_origin(annotation) in (list, dict) and all(_plain(arg) for arg in get_args(annotation))


def _trusted(metadata: Iterable[Any]) -> bool:
    """Whether every validator in a field's metadata only re-checks what PostgreSQL's types already ensure."""
    for item in metadata:
        if not isinstance(item, _VALIDATORS):
            continue  # a constraint (max_length, ge, …) or a serializer: the column's CHECK holds it
        function = item.func
        if function not in _TRUSTED_VALIDATORS and function.__qualname__ not in _TRUSTED_NAMES:
            return False
    return True


@dataclass(frozen=True)
class _Check:
    """What a value must be to be kept: ``kind`` is any, exact, enum, float, utc or never."""

    kind: str
    nullable: bool = False
    type: Any = None


def _check(annotation: Any, metadata: Iterable[Any]) -> _Check:
    """How one field's value is vouched for, from its annotation and its validators."""
    inner, nullable, inner_metadata = _unwrap(annotation)
    if not _trusted([*metadata, *inner_metadata]):
        return _Check("never")
    if inner is Any:
        return _Check("any")
    origin = get_origin(inner)
    if origin in (list, dict) and _plain(inner):
        inner = origin
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        kind = "enum"
    elif inner is float:
        kind = "float"
    elif inner is datetime:
        kind = "utc"  # naive or another offset: validation accepts, converts or refuses it
    elif inner in _EXACT:
        kind = "exact"
    else:
        return _Check("never")  # a nested model, a Literal, a union of several types: validation decides
    return _Check(kind, nullable, inner)


def _statements(variable: str, check: _Check, constant: str) -> list[str]:
    """Source lines that keep, convert or refuse (``raise _Refused``) one value held in ``variable``."""
    guard = f"{variable} is not None and " if check.nullable else ""
    if check.kind == "exact":
        return [f"if {guard}type({variable}) is not {constant}: raise _Refused"]
    if check.kind == "enum":  # an unknown value raises KeyError, an unhashable one TypeError
        return [f"if {guard}type({variable}) is not {constant}: {variable} = {constant}_members[{variable}]"]
    if check.kind == "float":
        return [
            f"if {guard}type({variable}) is not float:",
            f"    if type({variable}) is not int: raise _Refused",
            f"    {variable} = float({variable})",
        ]
    if check.kind == "utc":
        return [f"if {guard}(type({variable}) is not datetime or {variable}.tzinfo is not UTC): raise _Refused"]
    return []  # any


def _compile(
    model: type[BaseModel],
    checks: dict[str, _Check],
    *,
    by_attribute: bool = False,
    columns: tuple[str, ...] | None = None,
) -> Callable[[Any], Any]:
    """One function building ``model`` from a row holding every field (generated once, like a dataclass's init).

    A row is read by key, by attribute, or (``columns``: the result's column
    names in order) unpacked by position in one step, which costs a fraction of
    one keyed lookup per field.
    """
    namespace: dict[str, Any] = {
        "_Refused": _Refused,
        "_new": object.__new__,
        "_set": _set_attr,
        "_model": model,
        "datetime": datetime,
        "UTC": UTC,
    }
    lines = ["def build(row):"]
    if columns is not None:
        lines.append(f"    {''.join(f'c{i}, ' for i in range(len(columns)))}= row")
    names = []
    for index, (name, check) in enumerate(checks.items()):
        variable, constant = f"v{index}", f"t{index}"
        namespace[constant] = check.type
        if check.kind == "enum":
            namespace[f"{constant}_members"] = check.type._value2member_map_
        read = f"row.{name}" if by_attribute else f"row[{name!r}]"
        if columns is not None:
            read = f"c{columns.index(name)}"
        lines.append(f"    {variable} = {read}")
        lines.extend(f"    {line}" for line in _statements(variable, check, constant))
        names.append(f"{name!r}: {variable}")
    namespace["_fields"] = frozenset(checks)
    lines += [
        "    instance = _new(_model)",
        f"    _set(instance, '__dict__', {{{', '.join(names)}}})",
        "    _set(instance, '__pydantic_fields_set__', set(_fields))",
        "    _set(instance, '__pydantic_extra__', None)",
        "    _set(instance, '__pydantic_private__', None)",
        "    return instance",
    ]
    exec("\n".join(lines), namespace)  # noqa: S102 - source built from the model's own field names
    return namespace["build"]  # type: ignore[no-any-return]


def _fast_path(model: type[BaseModel], checks: dict[str, _Check]) -> bool:
    """Whether the model's validation means no more than its field types (so a type check is equivalent)."""
    decorators = model.__pydantic_decorators__
    if decorators.model_validators or decorators.field_validators or decorators.root_validators:
        return False
    if model.__private_attributes__ or model.model_config.get("extra") == "allow":
        return False
    if any(check.kind == "never" for check in checks.values()):
        return False
    if not all(name.isidentifier() for name in checks):
        return False
    return not getattr(model, "__table__", None)  # an ORM instance needs SQLAlchemy's instrumentation


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a list of fresh models is built (they hold no cycles).

    Each model is three GC-tracked objects (the instance, its ``__dict__``, its
    fields set) that stay alive until the list is returned, so a build of
    thousands of rows triggers collections that walk every object the process
    holds: the W8 profile measured 23 µs per row with the collector running and
    5 µs with it paused. Paused, the allocations still count, and the collector
    runs once after the build instead of several times inside it. The build has
    no ``await``, so nothing else in this thread runs meanwhile.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class RowReader(Generic[M]):
    """Builds one read model from rows; made once per model by ``reader(Model)``."""

    __slots__ = ("_by_attribute", "_by_key", "_by_position", "_checks", "_defaults", "_fast", "model")

    def __init__(self, model: type[M]) -> None:
        self.model = model
        checks = {name: _check(info.annotation, info.metadata) for name, info in model.model_fields.items()}
        self._checks = checks
        self._by_position: dict[tuple[str, ...], Callable[[Any], Any] | None] = {}
        self._fast = _fast_path(model, checks)
        self._defaults: dict[str, tuple[Any, bool]] = {}
        for name, info in model.model_fields.items():
            if info.default_factory is not None:
                self._defaults[name] = (info.default_factory, True)
            elif info.default is not PydanticUndefined:
                self._defaults[name] = (info.default, False)
        if self._fast:
            self._by_key = _compile(model, checks, by_attribute=False)
            self._by_attribute = _compile(model, checks, by_attribute=True)

    def one(self, row: Any) -> M:
        """The read model of one row (a ``Record``, a mapping or an ORM instance)."""
        if not self._fast:
            return self._validate(row)
        try:
            return self._by_key(row) if hasattr(row, "keys") else self._by_attribute(row)  # type: ignore[no-any-return]
        except (_Refused, KeyError, TypeError, AttributeError):
            return self._partial(row)

    def all(self, rows: Iterable[Any]) -> list[M]:
        """The read models of ``rows``, in order: one generated call per row while every row passes."""
        rows = rows if isinstance(rows, list) else list(rows)
        if not self._fast or not rows:
            return [self._validate(row) for row in rows]
        build = self._builder(rows[0])
        with _collector_paused():
            try:
                return [build(row) for row in rows]
            except (_Refused, KeyError, TypeError, AttributeError, ValueError):
                one = self.one  # some row needs defaults or validation: row by row, each the way it needs
                return [one(row) for row in rows]

    def _builder(self, first: Any) -> Callable[[Any], Any]:
        """How the rows of one result are read: by position when they are ``Record``s holding every field.

        The rows of one query result share their columns, so the first row's
        column names choose the generated function for all of them (one per
        column order, made once). A row whose shape differs fails the unpacking
        (``ValueError``) or a type check, and the list is built row by row.
        """
        if not isinstance(first, asyncpg.Record):
            return self._by_key if hasattr(first, "keys") else self._by_attribute
        columns = tuple(first.keys())
        build = self._by_position.get(columns, _UNSEEN)
        if build is _UNSEEN:
            fits = set(self._checks) <= set(columns) and len(set(columns)) == len(columns)  # no repeated name
            build = _compile(self.model, self._checks, columns=columns) if fits else None
            if len(self._by_position) < _MAX_COLUMN_ORDERS:
                self._by_position[columns] = build
        return self._by_key if build is None else build

    def _partial(self, row: Any) -> M:
        """A row without some defaulted fields (or one the type check refused): defaults filled in, or validation."""
        fields = self.model.model_fields
        given = dict(row) if hasattr(row, "keys") else {n: getattr(row, n) for n in fields if hasattr(row, n)}
        full = dict(given)
        for name in fields:
            if name not in full:
                if name not in self._defaults:
                    return self._validate(row)
                default, factory = self._defaults[name]
                full[name] = default() if factory else default
        try:
            instance: M = self._by_key(full)
        except (_Refused, KeyError, TypeError):
            return self._validate(row)
        _set_attr(instance, "__pydantic_fields_set__", set(given) & set(fields))
        return instance

    def _validate(self, row: Any) -> M:
        if hasattr(row, "keys") and not isinstance(row, dict):
            row = dict(row)  # an asyncpg Record or a RowMapping: validated as the mapping it is
        validated: M = self.model.model_validate(row)
        return validated


_READERS: dict[type[BaseModel], RowReader[Any]] = {}
_UNSEEN: Any = object()
_MAX_COLUMN_ORDERS = 16
"""Positional builders kept per model (a model is read by a handful of statements)."""


def reader(model: type[M]) -> RowReader[M]:
    """The process's ``RowReader`` of ``model`` (its plan is worked out once)."""
    found: RowReader[M] | None = _READERS.get(model)
    if found is None:
        found = _READERS[model] = RowReader(model)
    return found


def read_all(model: type[M], rows: Iterable[Any]) -> list[M]:
    """``[model.model_validate(row) for row in rows]``, at the cost of a type check per value."""
    return reader(model).all(rows)


def read_one(model: type[M], row: Any) -> M:
    """``model.model_validate(row)`` for one row the database checked (same result, less work)."""
    return reader(model).one(row)


def assemble(model: type[M], **fields: Any) -> M:
    """``model.model_construct(**fields)`` for a model whose every field is given, at a quarter of its cost.

    For results this code composed itself from checked values (a summary
    counted from typed rows, an overview of read models): nothing to validate,
    no defaults to fill. Missing or unknown fields are a programming error and
    raise ``TypeError`` at once, not a half-built model later.
    """
    if fields.keys() != model.model_fields.keys():
        missing = sorted(model.model_fields.keys() - fields.keys())
        unknown = sorted(fields.keys() - model.model_fields.keys())
        msg = f"{model.__name__} needs exactly its fields (missing {missing}, unknown {unknown})"
        raise TypeError(msg)
    instance = object.__new__(model)
    _set_attr(instance, "__dict__", fields)
    _set_attr(instance, "__pydantic_fields_set__", set(fields))
    _set_attr(instance, "__pydantic_extra__", None)
    _set_attr(instance, "__pydantic_private__", None)
    return instance
