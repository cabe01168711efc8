"""Every public method of every controller refuses bad input, naming the argument, before any write.

The sweep is built by introspection, so a new controller or method joins it
with no edit here: every attribute of a ``Database`` that is a ``Controller``,
every public coroutine method on it, every parameter of that method. For each
parameter in turn, hypothesis draws values that are wrong for its annotation
(wrong types, ``bool`` and ``1.0`` for IDs, 0 and negatives, numbers past ``BIGINT``,
NUL characters and lone surrogates, NUL and NaN inside JSON, huge strings,
naive datetimes and ones at year 1 or 9999 with an offset, containers of the
wrong type, unknown enum labels …) while every other argument holds a valid
sample. The ``hostile`` values are also tried one by one for every parameter
they apply to, not only sampled. The call must
raise a ``GuildbaseError`` that names the parameter, leave every table's row
count unchanged, and let no driver or SQLAlchemy error escape.

The only hand-kept part is ``INTS`` and ``NAMED`` below: the valid sample (and,
for integers, the smallest valid value) for parameters whose annotation alone
does not say what a good value is.
"""

import collections.abc
import enum
import inspect
import math
import types
import typing
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from bad_input_samples import (
    BIG,
    CUT_TO_FIT,
    EMPTY_ALLOWED,
    ID,
    INTS,
    NAMED,
    NOW,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guildbase import Database, Settings
from guildbase.controllers.base import Controller
from guildbase.db.engine import create_async
from guildbase.errors import GuildbaseError, ValidationError
from guildbase.models import metadata
from guildbase.models.core import Feature
from guildbase.services.redis import create_redis
from guildbase.testing import shifted_now

"""Text kept as an excerpt by design (an exception's message), so a huge value is not an error."""

_TABLES = sorted(metadata.tables)


@dataclass(frozen=True)
class Param:
    controller: str
    method: str
    name: str
    kind: inspect._ParameterKind
    annotation: Any

    @property
    def id(self) -> str:
        return f"{self.controller}.{self.method}.{self.name}"


def _offline() -> Database:
    return Database(Settings(database_url="postgresql+asyncpg://sweep@127.0.0.1/none"))


def _params(database: Database) -> list[Param]:
    """Every parameter of every public coroutine method of every controller on ``database``."""
    found = []
    for attribute, controller in sorted(vars(database).items()):
        if not isinstance(controller, Controller):
            continue
        for method, function in inspect.getmembers(type(controller), inspect.iscoroutinefunction):
            if method.startswith("_"):
                continue
            signature = inspect.signature(function, eval_str=True)
            found += [
                Param(attribute, method, name, parameter.kind, parameter.annotation)
                for name, parameter in signature.parameters.items()
                if name != "self"
            ]
    return found


def _parts(annotation: Any) -> tuple[list[Any], bool]:
    """The non-None members of a union annotation, and whether None is allowed."""
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        args = list(typing.get_args(annotation))
        return [a for a in args if a is not type(None)], type(None) in args
    return [annotation], annotation is Any


def _enum(parts: list[Any]) -> type[enum.Enum] | None:
    return next((p for p in parts if isinstance(p, type) and issubclass(p, enum.Enum)), None)


def valid(param: Param) -> Any:  # noqa: PLR0911 - one answer per kind of parameter
    """A good value for ``param`` (from the tables above, else from its annotation)."""
    parts, optional = _parts(param.annotation)
    main = parts[0]
    if param.kind is inspect.Parameter.VAR_KEYWORD:
        return {}
    if (choice := _enum(parts)) is not None:
        return next(iter(choice))
    if param.name in NAMED:
        return NAMED[param.name]
    if main is int:
        return _ints(param)[0] if _ints(param) else ID
    if main is bool:
        return False
    if main is AsyncSession:
        return None  # filled in with a live unit of work at call time
    if main is timedelta:
        return timedelta(minutes=5)
    if typing.get_origin(main) in {Sequence, list, Iterable} or main is Sequence:
        return [ID]
    if optional:
        return None
    msg = f"no valid sample for {param.id}: {param.annotation!r}; add one to NAMED"
    raise AssertionError(msg)


_NAIVE = shifted_now().replace(tzinfo=None)  # the point: a naive datetime, derived from the clock
_TEXT_BAD = st.sampled_from(["bad\x00text", "\x00", "bad\ud800text", 5, b"bytes", 1.5, ["list"]])
_HUGE = st.just("x" * 100_001)
_ANY_WRONG = st.sampled_from([object(), 3.25, b"raw", ("tuple",), frozenset({1})])


def _int_bad(minimum: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.booleans(),
        st.integers(max_value=minimum - 1),
        st.integers(min_value=BIG, max_value=2**70),
        st.sampled_from(["5", "12x", 1.0, math.nan]),
    )


def _snowflake_bad() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.booleans(),
        st.integers(max_value=0),
        st.integers(min_value=BIG, max_value=2**70),
        st.sampled_from([" 12", "12x", "1_0", "1\x85", "", 1.5, [1]]),
    )


def bad(param: Param) -> st.SearchStrategy[Any]:
    """Values that are wrong for ``param`` whatever else is passed, the ``hostile`` ones among them."""
    extra = hostile(param)
    by_kind = _bad_by_kind(param)
    return st.one_of(by_kind, st.sampled_from(extra)) if extra else by_kind


def _ints(param: Param) -> tuple[int, int] | None:
    """``INTS`` for ``param``: an entry for ``controller.method.name`` wins over one for the name alone."""
    return INTS.get(f"{param.controller}.{param.method}.{param.name}") or INTS.get(param.name)


def _bad_by_kind(param: Param) -> st.SearchStrategy[Any]:  # noqa: C901, PLR0911, PLR0912 - one branch per kind
    """The classic wrong values for ``param``'s annotation."""
    parts, optional = _parts(param.annotation)
    main = parts[0]
    none = st.nothing() if optional else st.none()
    if param.kind is inspect.Parameter.VAR_KEYWORD:
        return st.sampled_from([{"bogus_setting": 1}, {"no_such_field": "x"}])
    if _enum(parts) is not None:
        return st.one_of(none, st.sampled_from(["no-such-value", "", 5, True, "bad\x00"]))
    if param.name == "changes":
        return st.sampled_from([5, "prefix", [("prefix", "!")], {"bogus_setting": 1}, {"prefix": "a\x00"}])
    if main is int:
        strategy = _int_bad(_ints(param)[1]) if _ints(param) else _snowflake_bad()
        return st.one_of(none, strategy)
    if main is float:
        return st.one_of(none, st.sampled_from([True, "1.5", math.nan, math.inf, -math.inf, -1.0, 1e300]))
    if main is bool:
        return st.one_of(none, st.sampled_from(["yes", 1, 0, "true", 1.0]))
    if main is str:
        huge = st.nothing() if param.name in CUT_TO_FIT else _HUGE
        return st.one_of(none, _TEXT_BAD, huge)
    if main is datetime:
        return st.one_of(none, st.sampled_from([_NAIVE, "2026-01-01T00:00:00Z", 1_700_000_000, True]))
    if main is date:
        return st.one_of(none, st.sampled_from(["2026-01-01", 20260101, True]))
    if main is timedelta:
        return st.one_of(none, st.sampled_from([5, "5m", timedelta(seconds=-1), True]))
    if main is AsyncSession:
        return st.sampled_from([5, "session", object()])
    origin, args = typing.get_origin(main), typing.get_args(main)
    if origin in {dict, Mapping} or any(typing.get_origin(part) in {dict, Mapping} for part in parts):
        return st.one_of(none, st.sampled_from([5, "text", [1, 2], {"key": "bad\x00"}, {5: "int key"}]))
    if origin is tuple:
        return st.one_of(none, st.sampled_from([5, "x", (1, 2), (NOW, True), (_NAIVE, ID)]))
    if origin in {Sequence, list, Iterable} or main is Sequence:
        item = args[0] if args else Any
        nothing: list[Any] = [] if optional else [None]  # None is a good value of ``Sequence[...] | None``
        if item is str:
            empty: list[Any] = [] if param.name in EMPTY_ALLOWED else [[]]
            return st.sampled_from(["demo", *empty, [5], ["bad\x00"], *nothing, 5])
        if item is int:
            return st.sampled_from(["123", 5, [True], [0], [BIG], *nothing])
        return st.sampled_from([5, "x", [5], [object()], *nothing])
    if isinstance(main, type):
        return st.one_of(none, st.sampled_from([5, "x", {"a": 1}]))
    if typing.get_origin(main) is collections.abc.Callable:
        return st.sampled_from([5, "x", {"a": 1}])
    msg = f"no bad values for {param.id}: {param.annotation!r}"
    raise AssertionError(msg)


_EARLY = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))  # no UTC equivalent: before year 1
_LATE = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5)))  # after year 9999 in UTC
_DEEP: dict[str, Any] = {}
_level = _DEEP
for _ in range(200):
    _level["a"] = {}
    _level = _level["a"]
_SURROGATES = ["\ud800", "a\udfffb", "lone \udc80 low"]
_JSON_HOSTILE = [
    {"a": {"b": ["nul \x00 inside"]}},
    {"key\x00": 1},
    {"a": "\ud800"},
    {"a": [1, {"b": "x\udc80"}]},
    {"a": math.nan},
    {"a": {"b": math.inf}},
    _DEEP,
]
_WRONG_MAPPINGS = [[("key", "value")], ("key", "value"), {"key"}, "key=value"]


def hostile(param: Param) -> list[Any]:  # noqa: PLR0911 - one list per kind of parameter
    """The values the reliability issue names, each of which must be refused by name for ``param``.

    Lone surrogates and NUL inside JSON, datetimes at the edges of the range
    with an offset, ``True`` and ``1.0`` as IDs, and containers of the wrong type.
    """
    parts, _ = _parts(param.annotation)
    main = parts[0]
    if param.kind is inspect.Parameter.VAR_KEYWORD or _enum(parts) is not None or main is AsyncSession:
        return []
    if param.name == "changes":
        return [{"prefix": value} for value in _SURROGATES] + _WRONG_MAPPINGS[:2]
    if main is int:
        return [True, False, 1.0, float(ID)] if not _ints(param) else [True, 1.0, 5.0]
    if main is str:
        return [*_SURROGATES, "nul\x00", b"bytes"]
    if main is datetime:
        return [_EARLY, _LATE]
    origin, args = typing.get_origin(main), typing.get_args(main)
    if origin in {dict, Mapping} or any(typing.get_origin(part) in {dict, Mapping} for part in parts):
        return [*_JSON_HOSTILE, *_WRONG_MAPPINGS]
    if origin in {Sequence, list, Iterable} or main is Sequence:
        item = args[0] if args else Any
        if item is int:
            return [{ID: ID}, b"\x01\x02", [True], [1.0], [float(ID)], {"a": 1}]
        if item is str:
            return [{"demo": 1}, b"demo", [b"demo"], ["\ud800"]]
    return []


async def _row_counts(db: Database) -> dict[str, int]:
    query = " UNION ALL ".join(f"SELECT '{name}', count(*) FROM {name}" for name in _TABLES)
    async with db.session() as session:
        return {name: int(count) for name, count in (await session.execute(text(query))).all()}


async def _call(db: Database, param: Param, value: Any) -> None:
    signature = inspect.signature(getattr(type(getattr(db, param.controller)), param.method), eval_str=True)
    method: Callable[..., Any] = getattr(getattr(db, param.controller), param.method)
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, parameter in list(signature.parameters.items())[1:]:
        current = Param(param.controller, param.method, name, parameter.kind, parameter.annotation)
        given = value if name == param.name else valid(current)
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            keywords |= given
        elif parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            keywords[name] = given
        else:
            positional.append(given)
    sessions = [i for i, p in enumerate(list(signature.parameters.values())[1:]) if p.annotation is AsyncSession]
    if sessions and param.name != "session":
        async with db.session() as session:
            positional[sessions[0]] = session
            await method(*positional, **keywords)
    else:
        await method(*positional, **keywords)


PARAMS = _params(_offline())
HOSTILE = [param for param in PARAMS if hostile(param)]


@dataclass
class Sweep:
    db: Database
    counts: dict[str, int]
    """Row counts of every table when the sweep began; nothing may ever change them."""


@pytest.fixture(scope="module")
async def sweep(settings: Settings, redis_url: str | None) -> AsyncIterator[Sweep]:
    """One savepoint-isolated Database for the whole sweep: nothing may be written, so sharing it is safe."""
    assert settings.database_url is not None
    engine = create_async(settings.database_url, settings)
    client = create_redis(redis_url)
    await client.flushdb()
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            database = Database(settings).bind(connection, client)
            # Every feature on in the guild the valid arguments name: a gate must not answer for a bad argument.
            await database.guilds.join(ID)
            for feature in Feature:
                await database.guild_config.set_feature(ID, feature, enabled=True)
            yield Sweep(database, await _row_counts(database))
        finally:
            await transaction.rollback()
    await client.aclose()
    await engine.dispose()


class _Unchecked(Controller):
    """A throwaway controller that forgets its checks, to show the sweep notices."""

    async def count(self, guild_id: int) -> int:
        return 0 if guild_id else 1


def test_a_new_controller_joins_the_sweep_by_being_on_the_facade() -> None:
    database = _offline()
    database.unchecked = _Unchecked(database)  # type: ignore[attr-defined]
    assert [p.id for p in _params(database) if p.controller == "unchecked"] == ["unchecked.count.guild_id"]


async def test_the_sweep_fails_a_method_that_skips_its_checks(sweep: Sweep) -> None:
    sweep.db.unchecked = _Unchecked(sweep.db)  # type: ignore[attr-defined]
    param = Param("unchecked", "count", "guild_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, int)
    try:
        with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"), pytest.raises(GuildbaseError):
            await _call(sweep.db, param, True)
    finally:
        del sweep.db.unchecked  # type: ignore[attr-defined]


def test_the_sweep_covers_every_controller_on_the_facade() -> None:
    controllers = {p.controller for p in PARAMS}
    assert {"guilds", "guild_config", "members", "blacklist", "cases", "levels", "jobs", "logs"} <= controllers
    assert len(PARAMS) > 150


@pytest.mark.parametrize("param", PARAMS, ids=lambda p: p.id)
@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
async def test_every_bad_argument_is_refused_naming_it_before_any_write(
    sweep: Sweep, param: Param, data: st.DataObject
) -> None:
    db = sweep.db
    value = data.draw(bad(param), label=param.name)
    with pytest.raises(GuildbaseError) as raised:
        await _call(db, param, value)
    error = raised.value
    named = error.fields if isinstance(error, ValidationError) else []
    if isinstance(value, Mapping) and (param.name == "changes" or param.kind is inspect.Parameter.VAR_KEYWORD):
        expected = set(value)  # a bad setting is named as the caller spelled it
    else:
        expected = {param.name}
    assert any(f in expected or f.split(".")[0] in expected for f in named) or (
        not named and param.name in str(error)
    ), f"{param.id}={value!r}: {error!r}"
    assert await _row_counts(db) == sweep.counts


@pytest.mark.parametrize("param", HOSTILE, ids=lambda p: p.id)
async def test_every_hostile_value_is_refused_by_name_before_any_write(sweep: Sweep, param: Param) -> None:
    """Not sampled: every value of ``hostile`` for every parameter it applies to, every run."""
    for value in hostile(param):
        with pytest.raises(GuildbaseError) as raised:
            await _call(sweep.db, param, value)
        error = raised.value
        named = error.fields if isinstance(error, ValidationError) else []
        expected = set(value) if param.name == "changes" and isinstance(value, Mapping) else {param.name}
        assert any(f in expected or f.split(".")[0] in expected for f in named) or (
            not named and param.name in str(error)
        ), f"{param.id}={value!r}: {error!r}"
    assert await _row_counts(sweep.db) == sweep.counts
