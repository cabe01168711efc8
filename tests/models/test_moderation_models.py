from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from guildbase import Database
from guildbase.db.validation import validate
from guildbase.errors import ConflictError, ValidationError
from guildbase.models.core import REASON_MAX_LENGTH
from guildbase.models.moderation import MAY_EXPIRE, REQUIRES_EXPIRY, CaseCreate, CaseType
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
MOD = BLOCK + 201
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def case(**overrides: Any) -> dict[str, Any]:
    return {"guild_id": GUILD, "type": "WARN", "user_id": USER, "moderator_id": MOD} | overrides


def fields_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        validate(CaseCreate, data)
    return raised.value.fields


@given(st.sampled_from(CaseType), st.booleans())
def test_expiry_is_required_for_temporary_types_and_refused_where_it_cannot_apply(
    case_type: CaseType, with_expiry: bool
) -> None:
    data = case(type=case_type, expires_at=FUTURE if with_expiry else None)
    allowed = (case_type in MAY_EXPIRE) if with_expiry else (case_type not in REQUIRES_EXPIRY)
    if allowed:
        assert validate(CaseCreate, data).type is case_type
    else:
        assert fields_of(data) == ["expires_at"]


@given(st.sampled_from(CaseType), st.sampled_from([str.lower, str.upper, str.title]))
def test_case_type_labels_are_accepted_in_any_case(case_type: CaseType, spell: Any) -> None:
    assert validate(CaseCreate, case(type=spell(case_type.value))).type is case_type


@given(st.text(min_size=1, max_size=20).filter(lambda label: label.upper() not in CaseType.__members__))
def test_unknown_case_types_are_rejected_on_the_type_field(label: str) -> None:
    assert fields_of(case(type=label)) == ["type"]


@given(st.one_of(st.integers(max_value=0), st.integers(min_value=2**63)))
def test_ids_outside_the_snowflake_range_are_rejected_on_their_field(value: int) -> None:
    assert fields_of(case(user_id=value)) == ["user_id"]
    assert fields_of(case(moderator_id=value)) == ["moderator_id"]


@given(st.integers(min_value=0, max_value=REASON_MAX_LENGTH + 50))
def test_reason_length_is_bounded(length: int) -> None:
    data = case(reason="r" * length)
    if length <= REASON_MAX_LENGTH:
        assert validate(CaseCreate, data).reason == data["reason"]
    else:
        assert fields_of(data) == ["reason"]


def test_naive_expiry_is_rejected() -> None:
    assert fields_of(case(type="TEMPBAN", expires_at=datetime(2099, 1, 1))) == ["expires_at"]  # noqa: DTZ001


def test_unknown_fields_are_rejected() -> None:
    assert fields_of(case(case_reason="legacy name")) == ["case_reason"]


@pytest.mark.parametrize(
    ("case_type", "expires_at", "constraint"),
    [
        ("TEMPBAN", None, "ck_mod_case_expiry_required"),
        ("WARN", FUTURE, "ck_mod_case_expiry_allowed"),
    ],
)
async def test_the_database_enforces_the_expiry_rules_for_other_writers(
    db: Database, case_type: str, expires_at: datetime | None, constraint: str
) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError, match=constraint):
        async with db.session() as session:
            await session.execute(
                text(
                    "INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, expires_at) "
                    "VALUES (:g, 1, CAST(:t AS mod_case_type), :u, :m, :e)"
                ),
                {"g": GUILD, "t": case_type, "u": USER, "m": MOD, "e": expires_at},
            )


async def test_the_database_refuses_a_duplicate_case_number_in_a_guild(db: Database) -> None:
    await db.guilds.join(GUILD)
    insert = text("INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id) VALUES (:g, 7, 'WARN', :u, :m)")
    async with db.session() as session:
        await session.execute(insert, {"g": GUILD, "u": USER, "m": MOD})
    with pytest.raises(ConflictError, match="uq_mod_case_guild_id_number"):
        async with db.session() as session:
            await session.execute(insert, {"g": GUILD, "u": USER, "m": MOD})
