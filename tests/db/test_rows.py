"""``db.rows``: read models built from checked rows are exactly what ``model_validate`` would give."""

import re
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any

import pytest
from pydantic import AfterValidator, BaseModel, field_validator
from pydantic import ValidationError as PydanticValidationError
from raw_rows import fetch_records
from sqlalchemy.engine import URL
from sqlmodel import SQLModel, col, select

from guildbase import Database
from guildbase.db.rows import assemble, read_all, read_one, reader
from guildbase.db.types import utcnow
from guildbase.models.moderation import Case, CaseRead, CaseStatus, CaseSummary, CaseType, Restriction
from guildbase.testing import ids

BLOCK = ids.block()
GUILD = BLOCK + 1
USER = BLOCK + 101
MOD = BLOCK + 102
AT = utcnow().replace(microsecond=0) - timedelta(days=30)  # a stored time, from the clock


def case_row(**changes: Any) -> dict[str, Any]:
    """A ``mod_case`` row as asyncpg returns it: enum columns as their text values."""
    row: dict[str, Any] = {
        "case_id": 7,
        "guild_id": GUILD,
        "number": 3,
        "type": "WARN",
        "user_id": USER,
        "moderator_id": MOD,
        "reason": "spam",
        "status": "active",
        "role_ids": [BLOCK + 5],
        "expires_at": None,
        "mod_log_message_id": None,
        "details": {"source": "automod"},
        "processed_at": None,
        "created_at": AT,
        "updated_at": AT,
        "created_by": None,
        "updated_by": None,
    }
    return row | changes


def same(built: BaseModel, validated: BaseModel) -> None:
    """Equal, the same value types field by field, the same fields set and the same JSON."""
    assert built == validated
    for name in type(validated).model_fields:
        assert type(getattr(built, name)) is type(getattr(validated, name)), name
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_dump_json() == validated.model_dump_json()


def test_a_case_row_is_built_as_validation_builds_it() -> None:
    row = case_row()
    assert reader(CaseRead)._fast
    built = read_one(CaseRead, row)
    same(built, CaseRead.model_validate(row))
    assert built.type is CaseType.WARN
    assert built.status is CaseStatus.ACTIVE
    with pytest.raises(PydanticValidationError, match="frozen"):
        built.reason = "changed"


class DailyUses(SQLModel):
    day: date
    command: str
    uses: int
    average_duration_ms: float


def test_an_int_for_a_float_field_becomes_a_float() -> None:
    row = {"day": AT.date(), "command": "ping", "uses": 4, "average_duration_ms": 12}
    built = read_all(DailyUses, [row])[0]
    same(built, DailyUses.model_validate(row))
    assert type(built.average_duration_ms) is float


def test_a_missing_field_with_a_default_is_filled_and_not_marked_set() -> None:
    row = case_row()
    del row["role_ids"], row["mod_log_message_id"]
    built = read_one(CaseRead, row)
    same(built, CaseRead.model_validate(row))
    assert built.role_ids == []
    assert "role_ids" not in built.model_fields_set


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number", "3"),  # lax validation coerces it: so does the reader, by validating
        ("number", 3.0),
        ("created_at", datetime(2026, 11, 2, 13, 0, tzinfo=timezone(timedelta(hours=1)))),  # normalized to UTC
        ("reason", None),
        ("created_at", datetime(2026, 11, 2, 12, 0)),  # noqa: DTZ001 - a naive value, as validation takes it
    ],
)
def test_a_value_of_another_type_goes_through_validation(field: str, value: Any) -> None:
    row = case_row(**{field: value})
    same(read_one(CaseRead, row), CaseRead.model_validate(row))


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("type", "NOT_A_TYPE", "type"),
        ("status", "gone", "status"),
        ("number", "three", "number"),
        ("details", [1, 2], "details"),
    ],
)
def test_a_bad_value_raises_the_error_validation_raises(field: str, value: Any, rule: str) -> None:
    row = case_row(**{field: value})
    with pytest.raises(PydanticValidationError, match=rule):
        CaseRead.model_validate(row)
    with pytest.raises(PydanticValidationError, match=rule):
        read_one(CaseRead, row)


def test_a_missing_required_field_raises_as_validation_does() -> None:
    row = case_row()
    del row["number"]
    with pytest.raises(PydanticValidationError, match="number"):
        read_one(CaseRead, row)


class Shouted(SQLModel):
    word: str

    @field_validator("word")
    @classmethod
    def upper(cls, value: str) -> str:
        return value.upper()


class Trimmed(BaseModel):
    word: Annotated[str, AfterValidator(str.strip)]


def test_validators_that_change_values_are_never_skipped() -> None:
    assert read_all(Shouted, [{"word": "hey"}]) == [Shouted(word="HEY")]
    assert read_all(Trimmed, [{"word": " hey "}]) == [Trimmed(word="hey")]
    assert not reader(Shouted)._fast
    assert not reader(Trimmed)._fast


class Attributes:
    """An object read by attribute, as ``from_attributes`` validation reads an ORM instance."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def test_an_object_is_read_by_attribute() -> None:
    row = case_row(type=CaseType.KICK, status=CaseStatus.VOIDED)
    same(read_one(CaseRead, Attributes(row)), CaseRead.model_validate(row))


async def test_rows_of_the_database_read_as_validated(db: Database) -> None:
    """Real ``Record``s and ORM instances: the reads equal validation of the same rows."""
    await db.guilds.join(GUILD)
    for case_type in (CaseType.WARN, CaseType.BAN, CaseType.UNBAN):
        await db.cases.create(GUILD, USER, MOD, case_type, reason="r")
    history = await db.cases.history(GUILD, USER)
    overview = await db.cases.overview(GUILD, USER)
    async with db.session() as session:
        stmt = select(Case).where(col(Case.guild_id) == GUILD).order_by(col(Case.number).desc())
        orm = (await session.scalars(stmt)).all()
        validated = [CaseRead.model_validate(case) for case in orm]
        assert read_all(CaseRead, orm) == validated
    for built, expected in zip(history, validated, strict=True):
        same(built, expected)
    assert overview.cases == history
    assert [c.type for c in history] == [CaseType.UNBAN, CaseType.BAN, CaseType.WARN]
    since = utcnow().date()
    await db.logs.record_command(USER, "ping", guild_id=GUILD, duration_ms=4)
    await db.logs.flush()
    stats = await db.logs.command_stats(days=1, guild_id=GUILD, until=since + timedelta(days=1))
    assert [(s.command, s.uses, s.average_duration_ms) for s in stats] == [("ping", 1, 4.0)]


async def test_records_in_any_column_order_with_extra_columns_build_what_validation_builds(database_url: URL) -> None:
    rows = await fetch_records(
        database_url,
        "SELECT 'ping' || n AS command, 2.5::float8 * n AS average_duration_ms, n::bigint AS uses,"
        " current_date - n AS day, 'not a field' AS other FROM generate_series(1, 50) AS n",
    )
    built = read_all(DailyUses, rows)
    assert [b.command for b in built] == [f"ping{n}" for n in range(1, 51)]
    for one, row in zip(built, rows, strict=True):
        same(one, DailyUses.model_validate(dict(row)))


async def test_records_whose_values_need_validation_are_validated(database_url: URL) -> None:
    # uses as text and a NULL day: the positional build refuses, validation coerces one and rejects the other.
    coerced = await fetch_records(
        database_url, "SELECT current_date AS day, 'ping' AS command, '3' AS uses, 1 AS average_duration_ms"
    )
    assert read_all(DailyUses, coerced) == [DailyUses.model_validate(dict(coerced[0]))]
    assert read_all(DailyUses, coerced)[0].uses == 3
    assert type(read_all(DailyUses, coerced)[0].average_duration_ms) is float
    missing = await fetch_records(
        database_url, "SELECT NULL::date AS day, 'ping' AS command, 3 AS uses, 1.0 AS average_duration_ms"
    )
    with pytest.raises(PydanticValidationError, match="day"):
        read_all(DailyUses, missing)


async def test_records_with_a_repeated_column_name_are_read_by_key(database_url: URL) -> None:
    rows = await fetch_records(
        database_url,
        "SELECT current_date AS day, 'a' AS command, 1 AS uses, 1.0 AS average_duration_ms, 'b' AS command",
    )
    assert read_all(DailyUses, rows) == [DailyUses.model_validate(dict(rows[0]))]


def test_assemble_gives_what_validation_gives_for_composed_values() -> None:
    counts = {kind: index for index, kind in enumerate(CaseType)}
    restrictions = {restriction: restriction is Restriction.JAIL for restriction in Restriction}
    built = assemble(CaseSummary, counts=counts, restrictions=restrictions)
    validated = CaseSummary(counts=counts, restrictions=restrictions)
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == validated.model_fields_set


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"counts": {}}, "missing ['restrictions']"),
        ({"counts": {}, "restrictions": {}, "extra": 1}, "unknown ['extra']"),
    ],
    ids=["missing", "unknown"],
)
def test_assemble_refuses_anything_but_every_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(TypeError, match=re.escape(named)):
        assemble(CaseSummary, **fields)
