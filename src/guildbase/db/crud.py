"""CRUDMixin: get / create / update / delete / upsert for sync and async sessions.

Each operation is written once, against a sync ``Session``. Called with an
``AsyncSession``, the same code runs through ``AsyncSession.run_sync`` (the
greenlet bridge SQLAlchemy provides for exactly this), so the two session
kinds can never drift apart.
"""

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Self, TypeVar, overload

from sqlalchemy import ColumnElement, and_, inspect, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import func
from sqlmodel import SQLModel

from guildbase.db.mixins import SoftDeleteMixin, TimestampMixin, actor_columns
from guildbase.db.session import INCLUDE_DELETED
from guildbase.db.stale import mark_stale
from guildbase.db.validation import validate
from guildbase.errors import NotFoundError, ValidationError, shown

__all__ = ["CRUDMixin"]

T = TypeVar("T")
Data = SQLModel | Mapping[str, Any]


def _dispatch(
    session: Session | AsyncSession, fn: Callable[..., T], *args: Any, **kwargs: Any
) -> T | Coroutine[Any, Any, T]:
    if isinstance(session, AsyncSession):
        return session.run_sync(fn, *args, **kwargs)
    return fn(session, *args, **kwargs)


def _as_dict(data: Data) -> dict[str, Any]:
    if isinstance(data, SQLModel):
        return data.model_dump(exclude_unset=True)
    return dict(data)


def _table_key(model: type[SQLModel]) -> list[Any]:
    """The columns of the table's primary key (a superset of the mapper's identity on guild tables)."""
    return list(inspect(model).local_table.primary_key)


class CRUDMixin(SQLModel):
    """Standard operations on a table model, validated before any SQL runs.

    ``pk`` is the primary key value, or a tuple for composite keys, in the
    table's column order. Passing an ``AsyncSession`` returns an awaitable.
    """

    @classmethod
    def _pk_columns(cls) -> Sequence[Any]:
        return list(inspect(cls).primary_key)

    @classmethod
    def _pk_clause(cls, pk: Any) -> ColumnElement[bool]:
        columns = cls._pk_columns()
        values = pk if isinstance(pk, tuple) else (pk,)
        if len(values) != len(columns):
            names = ", ".join(column.key for column in columns)
            raise ValidationError.single(
                "pk", "arity", f"{cls.__name__} has primary key ({names}); got {len(values)} value(s)"
            )
        return and_(*(column == value for column, value in zip(columns, values, strict=True)))

    @classmethod
    def validated(cls, data: Data, **extra: Any) -> Self:
        """Build an instance from untrusted data, raising ``ValidationError`` naming the field."""
        return validate(cls, _as_dict(data) | extra)

    # -- get -------------------------------------------------------------
    @classmethod
    def _get(cls, session: Session, pk: Any, include_deleted: bool) -> Self | None:
        stmt = select(cls).where(cls._pk_clause(pk)).execution_options(**{INCLUDE_DELETED: include_deleted})
        return session.scalars(stmt).one_or_none()

    @overload
    @classmethod
    def get(
        cls, session: AsyncSession, pk: Any, *, include_deleted: bool = False
    ) -> Coroutine[Any, Any, Self | None]: ...
    @overload
    @classmethod
    def get(cls, session: Session, pk: Any, *, include_deleted: bool = False) -> Self | None: ...
    @classmethod
    def get(cls, session: Session | AsyncSession, pk: Any, *, include_deleted: bool = False) -> Any:
        """The row with this primary key, or None (soft-deleted rows only with ``include_deleted``)."""
        return _dispatch(session, cls._get, pk, include_deleted)

    # -- create ----------------------------------------------------------
    @classmethod
    def _create(cls, session: Session, data: Data) -> Self:
        obj = cls.validated(data)
        session.add(obj)
        session.flush()
        session.refresh(obj)
        return obj

    @overload
    @classmethod
    def create(cls, session: AsyncSession, data: Data) -> Coroutine[Any, Any, Self]: ...
    @overload
    @classmethod
    def create(cls, session: Session, data: Data) -> Self: ...
    @classmethod
    def create(cls, session: Session | AsyncSession, data: Data) -> Any:
        """Validate ``data`` and insert it; server defaults are loaded back."""
        return _dispatch(session, cls._create, data)

    # -- update ----------------------------------------------------------
    @classmethod
    def _update(cls, session: Session, pk: Any, changes: Data) -> Self:
        obj = cls._get(session, pk, include_deleted=False)
        if obj is None:
            msg = f"{cls.__name__} {pk!r} does not exist"
            raise NotFoundError(msg)
        values = _as_dict(changes)
        unknown = sorted(set(values) - set(cls.model_fields))
        if unknown:
            msg = f"must not be given ({cls.__name__} has no such field), got {shown(values[unknown[0]])}"
            raise ValidationError.single(unknown[0], "unknown_field", msg)
        checked = cls.validated(obj.model_dump() | values)
        for name in values:
            setattr(obj, name, getattr(checked, name))
        session.flush()
        session.refresh(obj)
        return obj

    @overload
    @classmethod
    def update(cls, session: AsyncSession, pk: Any, changes: Data) -> Coroutine[Any, Any, Self]: ...
    @overload
    @classmethod
    def update(cls, session: Session, pk: Any, changes: Data) -> Self: ...
    @classmethod
    def update(cls, session: Session | AsyncSession, pk: Any, changes: Data) -> Any:
        """Apply a partial change after validating the whole resulting row."""
        return _dispatch(session, cls._update, pk, changes)

    # -- delete ----------------------------------------------------------
    @classmethod
    def _delete(cls, session: Session, pk: Any, hard: bool) -> bool:
        obj = cls._get(session, pk, include_deleted=hard)
        if obj is None:
            return False
        if isinstance(obj, SoftDeleteMixin) and not hard:
            obj.mark_deleted()
        else:
            session.delete(obj)
        session.flush()
        return True

    @overload
    @classmethod
    def delete(cls, session: AsyncSession, pk: Any, *, hard: bool = False) -> Coroutine[Any, Any, bool]: ...
    @overload
    @classmethod
    def delete(cls, session: Session, pk: Any, *, hard: bool = False) -> bool: ...
    @classmethod
    def delete(cls, session: Session | AsyncSession, pk: Any, *, hard: bool = False) -> Any:
        """Delete the row (soft delete for SoftDeleteMixin models unless ``hard``); False if absent."""
        return _dispatch(session, cls._delete, pk, hard)

    # -- restore ---------------------------------------------------------
    @classmethod
    def _restore(cls, session: Session, pk: Any) -> Self:
        obj = cls._get(session, pk, include_deleted=True)
        if obj is None or not isinstance(obj, SoftDeleteMixin):
            msg = f"{cls.__name__} {pk!r} does not exist or cannot be restored"
            raise NotFoundError(msg)
        obj.mark_restored()
        session.flush()
        return obj

    @overload
    @classmethod
    def restore(cls, session: AsyncSession, pk: Any) -> Coroutine[Any, Any, Self]: ...
    @overload
    @classmethod
    def restore(cls, session: Session, pk: Any) -> Self: ...
    @classmethod
    def restore(cls, session: Session | AsyncSession, pk: Any) -> Any:
        """Bring a soft-deleted row back."""
        return _dispatch(session, cls._restore, pk)

    # -- upsert ----------------------------------------------------------
    @classmethod
    def _upsert(
        cls, session: Session, data: Data, conflict: Sequence[str] | None, update: Sequence[str] | None
    ) -> Self:
        given = _as_dict(data)
        obj = cls.validated(given)
        table_columns = {column.key for column in inspect(cls).columns}
        values = {name: getattr(obj, name) for name in given if name in table_columns}
        # The table's primary key, which is the database's unique key: on a guild table keyed (id, guild_id) the
        # ORM identity is the id alone, and ``ON CONFLICT (id)`` would name no unique index.
        conflict_keys = list(conflict) if conflict else [column.key for column in _table_key(cls)]
        update_keys = (
            list(update) if update is not None else [k for k in values if k not in conflict_keys and k != "created_by"]
        )
        for name, value in actor_columns(cls, "insert").items():
            values.setdefault(name, value)
        stmt = insert(cls).values(**values)
        assignments: dict[str, Any] = {key: stmt.excluded[key] for key in update_keys}
        if assignments:  # the row is written: stamp it as any update is
            for name in actor_columns(cls, "update"):
                assignments.setdefault(name, stmt.excluded[name])
        if issubclass(cls, TimestampMixin):
            assignments["updated_at"] = func.now()
        if assignments:
            upsert = stmt.on_conflict_do_update(index_elements=conflict_keys, set_=assignments)
        else:
            upsert = stmt.on_conflict_do_nothing(index_elements=conflict_keys)
        row = session.scalars(upsert.returning(cls), execution_options={"populate_existing": True}).one_or_none()
        if row is not None:
            mark_stale(session, [row])  # a statement, not a flush: the flush event never sees it
        if row is None:  # DO NOTHING hit an existing row: return it unchanged
            pk = tuple(values[key] for key in conflict_keys)
            return session.scalars(
                select(cls).where(and_(*(getattr(cls, k) == v for k, v in zip(conflict_keys, pk, strict=True))))
            ).one()
        return row

    @overload
    @classmethod
    def upsert(
        cls,
        session: AsyncSession,
        data: Data,
        *,
        conflict: Sequence[str] | None = None,
        update: Sequence[str] | None = None,
    ) -> Coroutine[Any, Any, Self]: ...
    @overload
    @classmethod
    def upsert(
        cls, session: Session, data: Data, *, conflict: Sequence[str] | None = None, update: Sequence[str] | None = None
    ) -> Self: ...
    @classmethod
    def upsert(
        cls,
        session: Session | AsyncSession,
        data: Data,
        *,
        conflict: Sequence[str] | None = None,
        update: Sequence[str] | None = None,
    ) -> Any:
        """Insert, or update on conflict, in ONE ``INSERT … ON CONFLICT`` statement (no race).

        ``conflict`` names the unique columns (default: the primary key);
        ``update`` names the columns to overwrite (default: every given column
        outside the key; an empty list means ``DO NOTHING``).
        """
        return _dispatch(session, cls._upsert, data, conflict, update)
