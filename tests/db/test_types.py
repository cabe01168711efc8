from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy import insert, select, text

from guildbase import Database, ValidationError
from guildbase.db.types import Snowflake, UTCDateTime, make_snowflake, snowflake_time, validate_snowflake
from guildbase.db.validation import validate
from guildbase.models.audit import AuditLog
from guildbase.testing import ids


class Payload(BaseModel):
    user_id: Snowflake
    at: UTCDateTime | None = None


@given(st.integers(min_value=1, max_value=make_snowflake(datetime.now(UTC))))
def test_every_real_snowflake_is_accepted(value: int) -> None:
    assert validate_snowflake(value) == value


@given(st.integers(max_value=0) | st.integers(min_value=2**63))
def test_non_positive_or_oversized_ids_are_rejected(value: int) -> None:
    with pytest.raises(ValueError, match="snowflake"):
        validate_snowflake(value)


def test_an_id_from_the_far_future_is_rejected() -> None:
    future = make_snowflake(datetime.now(UTC) + timedelta(days=800))
    with pytest.raises(ValueError, match="after next year"):
        validate_snowflake(future)


def test_snowflake_round_trips_its_timestamp() -> None:
    when = datetime(2023, 5, 1, 12, 0, tzinfo=UTC)
    assert snowflake_time(make_snowflake(when)) == when


@given(st.text().filter(lambda s: not s.isdigit()))
def test_non_numeric_strings_are_rejected_naming_the_field(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate(Payload, {"user_id": value})
    assert raised.value.fields == ["user_id"]


@pytest.mark.parametrize("value", ["1\x85", " 1100000000000000101", "1_100", "١٢٣", "+5", "0x10"])
def test_ids_with_stray_characters_are_refused_not_cleaned(value: str) -> None:
    with pytest.raises(ValidationError, match="decimal digits"):
        validate(Payload, {"user_id": value})


def test_snowflakes_serialize_to_json_as_strings() -> None:
    payload = validate(Payload, {"user_id": "1100000000000000101"})
    assert payload.user_id == 1100000000000000101
    assert payload.model_dump(mode="json")["user_id"] == "1100000000000000101"


def test_naive_datetimes_are_rejected_and_aware_ones_normalized_to_utc() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        validate(Payload, {"user_id": 1, "at": datetime(2024, 1, 1)})  # noqa: DTZ001
    paris = timezone(timedelta(hours=1))
    payload = validate(Payload, {"user_id": 1, "at": datetime(2024, 1, 1, 13, tzinfo=paris)})
    assert payload.at == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert payload.at is not None
    assert payload.at.tzinfo is UTC


async def test_database_rejects_a_non_positive_snowflake_with_a_named_check(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        async with db.session() as session:
            await session.execute(text("INSERT INTO guild (guild_id) VALUES (-1)"))
    assert raised.value.fields == ["guild_id"]
    assert "ck_guild_guild_id_positive" in str(raised.value)


BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base


async def test_timestamps_come_back_utc_aware(db: Database) -> None:
    guild = await db.guilds.join(BLOCK + 1)
    assert guild.joined_at.tzinfo is not None
    assert guild.joined_at.utcoffset() == timedelta(0)


async def test_any_named_check_violation_names_its_column(db: Database) -> None:
    await db.guilds.join(BLOCK + 1)
    with pytest.raises(ValidationError) as raised:
        async with db.session() as session:
            await session.execute(
                text("INSERT INTO member_level (guild_id, user_id, xp) VALUES (:guild, :user, -5)"),
                {"guild": BLOCK + 1, "user": BLOCK + 101},
            )
    assert raised.value.fields == ["xp"]


async def test_a_guild_key_stores_no_guild_as_0_and_reads_0_back_as_none(db: Database) -> None:
    """``GuildKeyType`` (``audit_log``, ``command_log``, ``reminder``): bound None is 0, stored 0 is None."""
    audit = AuditLog.__table__  # type: ignore[attr-defined]
    guild = ids.take(1)[0]
    async with db.session() as session:
        rows = [
            {"guild_id": value, "action": "feature_set", "entity_type": "guild", "entity_id": "x"}
            for value in (None, guild)
        ]
        inserted = (await session.execute(insert(audit).values(rows).returning(audit.c.audit_id))).scalars().all()
        raw = await session.execute(
            text("SELECT guild_id FROM audit_log WHERE audit_id = ANY(:ids) ORDER BY guild_id"), {"ids": list(inserted)}
        )
        assert raw.scalars().all() == [0, guild]
        typed = await session.execute(
            select(audit.c.guild_id).where(audit.c.audit_id.in_(inserted)).order_by(audit.c.audit_id)
        )
        assert typed.scalars().all() == [None, guild]
    with pytest.raises(ValidationError) as raised:
        async with db.session() as session:
            await session.execute(text("UPDATE audit_log SET guild_id = -1 WHERE audit_id = :a"), {"a": inserted[0]})
    assert raised.value.fields == ["guild_id"]
    assert "ck_audit_log_guild_id_not_negative" in str(raised.value)
