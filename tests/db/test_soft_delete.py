"""Soft-deleted rows stay hidden on every path: ORM, Core and the prepared hot path.

The check is on the SQL itself: a statement that reads or updates a
SoftDeleteMixin table must carry that table's ``live`` criterion
(``<table or alias>.deleted_at IS NULL``). It is applied to every statement the
controllers compile once (``db.fast.Prepared`` objects at module level), and to
every statement the soft-delete reads actually run, captured from both
SQLAlchemy and asyncpg while they run against a row that was soft-deleted.
"""

import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import bindparam, select
from sqlmodel import SQLModel, col

import guildbase.controllers
from guildbase import Database, NotFoundError
from guildbase.db.fast import Prepared, prepare
from guildbase.db.mixins import SoftDeleteMixin, live, live_sql
from guildbase.db.types import utcnow
from guildbase.models.core import GlobalBlacklist
from guildbase.models.moderation import Note
from guildbase.testing import ids, statements_on

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
GONE = BLOCK + 102
MOD = BLOCK + 201


def _soft_delete_tables() -> dict[str, type[SoftDeleteMixin]]:
    found: dict[str, type[SoftDeleteMixin]] = {}
    pending: list[type[SQLModel]] = list(SoftDeleteMixin.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        table = getattr(model, "__table__", None)
        if table is not None:
            found[table.name] = model  # type: ignore[assignment]
    return found


SOFT = _soft_delete_tables()
_REFERENCE = re.compile(r"\b(?:FROM|JOIN|UPDATE)\s+(\w+)(?:\s+AS\s+(\w+))?", re.IGNORECASE)


def forgotten_live(sql: str) -> list[str]:
    """The soft-delete tables ``sql`` reads or updates without their live criterion."""
    missing = set()
    for table, alias in _REFERENCE.findall(sql):
        if table in SOFT and f"{alias or table}.deleted_at IS NULL" not in sql:
            missing.add(table)
    return sorted(missing)


def _prepared_statements() -> dict[str, Prepared]:
    found = {}
    for info in pkgutil.iter_modules(guildbase.controllers.__path__):
        module = importlib.import_module(f"guildbase.controllers.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, Prepared):
                found[f"{info.name}.{name}"] = value
    return found


def test_the_live_fragment_is_the_rendered_criterion() -> None:
    for table, model in SOFT.items():
        assert live_sql(model) == f"{table}.deleted_at IS NULL"
    assert {"global_blacklist", "note"} <= SOFT.keys()


def test_every_prepared_controller_statement_on_a_soft_delete_table_hides_deleted_rows() -> None:
    prepared = _prepared_statements()
    touching = {name for name, p in prepared.items() if any(t in SOFT for t, _ in _REFERENCE.findall(p.sql))}
    assert touching, "no prepared statement reads a soft-delete table: the check would prove nothing"
    assert {name: forgotten_live(prepared[name].sql) for name in touching} == {name: [] for name in touching}


async def _seed(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.blacklist.add("user", GONE, reason="lifted")
    await db.blacklist.remove("user", GONE)
    await db.notes.create(GUILD, GONE, MOD, "deleted note")  # 1
    await db.notes.delete(GUILD, 1)
    await db.notes.create(GUILD, USER, MOD, "live note")  # 2
    await db.polls.create(GUILD, MOD, MOD, "deleted poll?", ["yes", "no"])  # 1
    await db.polls.delete(GUILD, 1)


async def _blacklist_get(db: Database) -> Any:
    async with db.session() as session:
        return await GlobalBlacklist.get(session, 1)


async def _note_get(db: Database) -> Any:
    async with db.session() as session:
        return await Note.get(session, 1)


async def _edit_deleted(db: Database) -> Any:
    with pytest.raises(NotFoundError):
        await db.notes.edit(GUILD, 1, "resurrected?")


async def _not_found(call: Awaitable[Any]) -> bool:
    with pytest.raises(NotFoundError):
        await call
    return True


# Every controller read (and write that looks rows up) of a soft-delete table, and
# what it must answer about the deleted row. ``history`` and ``changes`` show deleted
# rows on purpose (they opt in) and are not listed.
READS: dict[str, tuple[Callable[[Database], Awaitable[Any]], Callable[[Any], bool]]] = {
    "blacklist.is_blacklisted": (lambda db: db.blacklist.is_blacklisted("user", GONE), lambda r: r is False),
    "blacklist.is_blacklisted(now)": (
        lambda db: db.blacklist.is_blacklisted("user", GONE, now=utcnow()),
        lambda r: r is False,
    ),
    "blacklist.list_active": (lambda db: db.blacklist.list_active("user"), lambda r: r == []),
    "blacklist.remove": (lambda db: db.blacklist.remove("user", GONE), lambda r: r is False),
    "GlobalBlacklist.get": (_blacklist_get, lambda r: r is None),
    "notes.get": (lambda db: db.notes.get(GUILD, 1), lambda r: r is None),
    "notes.list_for_user": (lambda db: db.notes.list_for_user(GUILD, GONE), lambda r: r == []),
    "notes.edit": (_edit_deleted, lambda _: True),
    "notes.delete": (lambda db: db.notes.delete(GUILD, 1), lambda r: r is False),
    "Note.get": (_note_get, lambda r: r is None),
    "polls.get": (lambda db: db.polls.get(GUILD, 1), lambda r: r is None),
    "polls.open_polls": (lambda db: db.polls.open_polls(GUILD), lambda r: r.polls == []),
    "polls.tally": (lambda db: db.polls.tally(GUILD, 1), lambda r: r == {}),
    "polls.vote": (lambda db: _not_found(db.polls.vote(GUILD, 1, USER, 1)), lambda _: True),
    "polls.retract": (lambda db: _not_found(db.polls.retract(GUILD, 1, USER)), lambda _: True),
    "polls.close": (lambda db: _not_found(db.polls.close(GUILD, 1)), lambda _: True),
    "polls.set_message": (lambda db: _not_found(db.polls.set_message(GUILD, 1, MOD)), lambda _: True),
    "polls.delete": (lambda db: db.polls.delete(GUILD, 1), lambda r: r is False),
}


async def test_every_read_of_a_soft_delete_table_hides_deleted_rows_on_every_path(pooled_db: Database) -> None:
    await _seed(pooled_db)
    seen: set[str] = set()
    for name, (call, expected) in READS.items():
        async with statements_on(pooled_db.engine) as statements:
            answer = await call(pooled_db)
        assert expected(answer), f"{name} answered {answer!r} about a soft-deleted row"
        for sql in statements:
            assert forgotten_live(sql) == [], f"{name} ran SQL without the live criterion: {sql}"
            seen |= {table for table, _ in _REFERENCE.findall(sql) if table in SOFT}
    assert seen == SOFT.keys(), "every soft-delete table was read through the check"
    assert [e.target_id for e in await pooled_db.blacklist.history("user", GONE)] == [GONE]  # the opt-in still sees it


async def test_a_query_that_forgets_the_live_criterion_is_caught(pooled_db: Database) -> None:
    await _seed(pooled_db)
    table = GlobalBlacklist.__table__  # type: ignore[attr-defined]
    forgetful = select(table).where(table.c.target_id == GONE)  # Core on the table: no session filter applies
    async with statements_on(pooled_db.engine) as statements, pooled_db.session() as session:
        rows = (await session.execute(forgetful)).all()
    assert len(rows) == 1  # the lifted entry leaks
    assert [forgotten_live(sql) for sql in statements] == [["global_blacklist"]]
    hand_prepared = prepare(select(table).where(table.c.target_id == bindparam("target_id")))
    assert forgotten_live(hand_prepared.sql) == ["global_blacklist"]
    fixed = prepare(select(table).where(table.c.target_id == bindparam("target_id"), live(GlobalBlacklist)))
    assert forgotten_live(fixed.sql) == []
    assert forgotten_live(str(select(Note).where(col(Note.user_id) == USER, live(Note)))) == []
