"""Report rows that are the decoded database rows themselves: typed fields, no per-row Python work.

Why: a report returns thousands of rows (a 30-day usage report is 1,800), and
even the cheapest pydantic model costs about 0.7 µs a row to build (object,
``__dict__``, fields set: ``db.rows``), which is as much as PostgreSQL and
asyncpg together spend on the row. The W8 profile in ``docs/performance.md``
found that build to be half of the report's time. asyncpg can decode rows
straight into a subclass of its ``Record`` (``fetch(…, record_class=…)``), in
C, for nothing; ``RecordRow`` is such a subclass with a field per annotation,
so the report's rows cost exactly what the query costs.

A ``RecordRow`` is read like a frozen read model: attributes (``row.day``),
``model_dump()`` (``mode="json"`` for JSON-ready values), ``model_dump_json()``,
equality with another row of the same values. It is also indexable like the
record it is (``row["day"]``, ``row[0]``). It is valid as a pydantic field or a
FastAPI response type (serialised as an object of its fields). Rows are only
ever made by asyncpg from a query whose columns are the row's fields, by name
(``check_columns`` verifies one row of each result); there is no constructor.
"""

from collections.abc import Iterable
from operator import itemgetter
from typing import Any, ClassVar, Literal, get_origin, get_type_hints

import asyncpg
from pydantic import GetJsonSchemaHandler, TypeAdapter, create_model
from pydantic_core import core_schema

__all__ = ["RecordRow", "check_columns"]


class RecordRow(asyncpg.Record):  # type: ignore[misc] # asyncpg ships no type information
    """Base of the report rows: subclass it with one annotation per column (``day: date``)."""

    __slots__ = ()
    model_fields_names: ClassVar[tuple[str, ...]] = ()
    _adapter: ClassVar[TypeAdapter[Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hints = {
            name: hint
            for name, hint in get_type_hints(cls).items()
            if not name.startswith("_") and get_origin(hint) is not ClassVar and name != "model_fields_names"
        }
        taken = [name for name in hints if hasattr(asyncpg.Record, name)]
        if taken:
            msg = f"{cls.__name__}: {', '.join(taken)} would hide the record's own methods; rename the column"
            raise TypeError(msg)
        cls.model_fields_names = tuple(hints)
        for name in hints:
            setattr(cls, name, property(itemgetter(name), doc=f"The row's ``{name}`` column."))
        # The same fields as a plain pydantic model: how a row is dumped to JSON-ready values.
        fields: dict[str, Any] = {name: (hint, ...) for name, hint in hints.items()}
        shape = create_model(cls.__name__, **fields)
        cls._adapter = TypeAdapter(shape)

    def model_dump(self, *, mode: Literal["json", "python"] = "python") -> dict[str, Any]:
        """The row as a dict of its fields (``mode="json"``: dates as ISO strings, as pydantic gives them)."""
        values = {name: self[name] for name in self.model_fields_names}
        if mode == "python":
            return values
        dumped: dict[str, Any] = self._adapter.dump_python(self._adapter.validate_python(values), mode=mode)
        return dumped

    def model_dump_json(self) -> str:
        """The row as a JSON object of its fields."""
        return self._adapter.dump_json(self._adapter.validate_python(self.model_dump())).decode()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={self[name]!r}" for name in self.model_fields_names)
        return f"{type(self).__name__}({fields})"

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> core_schema.CoreSchema:
        """Accepted as is where a model's field or a response declares this row type; dumped as its fields."""
        return core_schema.is_instance_schema(
            cls,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda row, info: row.model_dump(mode=info.mode), info_arg=True
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        """The JSON schema of an object of the row's fields (what OpenAPI documents)."""
        return handler(cls._adapter.core_schema)


def check_columns(row_type: type[RecordRow], rows: Iterable[asyncpg.Record]) -> None:
    """Fail loudly (at the first report, in every test) if a statement's columns are not the row's fields."""
    for row in rows:
        columns = tuple(row.keys())
        if columns != row_type.model_fields_names:
            msg = f"{row_type.__name__} expects the columns {row_type.model_fields_names}, the query gave {columns}"
            raise TypeError(msg)
        return
