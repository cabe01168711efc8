"""The argument checks of ``db.validation``, and the defects they closed, seen from the facade."""

import enum
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from guildbase import Database, ValidationError
from guildbase.db.types import make_snowflake, utcnow
from guildbase.db.validation import (
    aware,
    flag,
    page_limit,
    snowflake,
    validate,
    validate_enum,
)
from guildbase.db.validation import (
    text as checked_text,
)
from guildbase.errors import SHOWN_MAX, shown
from guildbase.models.core import Feature, GuildConfigUpdate
from guildbase.models.custom_commands import CustomCommandCreate
from guildbase.models.moderation import Case, CaseCreate, CaseType
from guildbase.services.leaderboard import Period
from guildbase.testing import shifted_now

GUILD = make_snowflake(utcnow() - timedelta(days=400), 1)


async def _guild_rows(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(text("SELECT count(*) FROM guild"))).scalar_one())


@pytest.mark.parametrize("value", [True, False, 1.0, "12x", " 12", "1\x85", [1], None])
def test_ids_refuse_bools_floats_and_strings_with_stray_characters(value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        snowflake("guild_id", value)
    assert raised.value.fields == ["guild_id"]


def test_ids_accept_ints_and_the_decimal_strings_discord_sends() -> None:
    assert snowflake("guild_id", GUILD) == GUILD
    assert snowflake("guild_id", str(GUILD)) == GUILD


async def test_true_is_not_accepted_as_guild_1(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await db.guilds.join(True)  # type: ignore[arg-type]
    assert raised.value.fields == ["guild_id"]
    assert await _guild_rows(db) == 0


@pytest.mark.parametrize("value", [True, 0, -1, 101, 2**63, "5", 5.0, None])
def test_page_limits_have_one_rule_and_one_wording(value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        page_limit(value, 100)
    assert str(raised.value) == f"limit: must be an integer from 1 to 100, got {shown(value)}"


async def test_limit_true_fails_everywhere_a_page_is_asked_for(db: Database) -> None:
    for call in (
        db.cases.history(GUILD, GUILD, limit=True),
        db.notes.list_for_user(GUILD, GUILD, limit=True),
        db.bookmarks.list_for_user(GUILD, limit=True),
        db.reminders.list_for_user(GUILD, limit=True),
        db.levels.leaderboard(GUILD, limit=True),
        db.logs.recent_commands(limit=True),
        db.jobs.failed(limit=True),
        db.afk.due(limit=True),
    ):
        with pytest.raises(ValidationError) as raised:
            await call
        assert raised.value.fields == ["limit"]


def test_naive_datetimes_are_refused_and_aware_ones_come_back_in_utc() -> None:
    with pytest.raises(ValidationError, match="now: must be a timezone-aware datetime"):
        aware("now", shifted_now().replace(tzinfo=None))  # the point: naive
    plus_two = shifted_now().astimezone(ZoneInfo("Europe/Paris"))
    assert aware("now", plus_two).tzinfo is UTC


@pytest.mark.parametrize(
    ("enum_cls", "spellings"),
    [
        (Feature, ["levels", "LEVELS", "Levels", Feature.LEVELS]),
        (CaseType, ["ban", "BAN", "Ban", CaseType.BAN]),
        (Period, ["week", "WEEK", Period.WEEK]),
    ],
)
def test_every_enum_takes_its_value_or_name_in_any_case(enum_cls: type[enum.Enum], spellings: list[object]) -> None:
    members = {validate_enum("field", enum_cls, spelling) for spelling in spellings}
    assert len(members) == 1


async def test_feature_names_ignore_letter_case_like_case_types(db: Database) -> None:
    await db.guilds.join(GUILD)
    features = await db.guild_config.set_feature(GUILD, "LEVELS", enabled=False)
    assert features[Feature.LEVELS] is False
    assert (await db.cases.create(GUILD, GUILD, GUILD, "warn")).type is CaseType.WARN


@pytest.mark.parametrize("value", ["yes", 1, 0, None, "true"])
def test_flags_must_be_real_booleans(value: object) -> None:
    with pytest.raises(ValidationError, match="enabled: must be True or False"):
        flag("enabled", value)


async def test_set_feature_with_enabled_yes_is_a_validation_error(db: Database) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError) as raised:
        await db.guild_config.set_feature(GUILD, "levels", enabled="yes")  # type: ignore[arg-type]
    assert raised.value.fields == ["enabled"]


@pytest.mark.parametrize("value", ["a\x00b", "\x00", "bad\ud800", "\udfff"])
def test_text_with_nul_or_lone_surrogates_is_refused(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        checked_text("reason", value, max_length=100)
    assert raised.value.fields == ["reason"]
    with pytest.raises(ValidationError) as raised:
        validate(GuildConfigUpdate, {"welcome_message": value})
    assert raised.value.fields == ["welcome_message"]


async def test_nul_in_any_text_is_a_validation_error_never_a_driver_error(db: Database) -> None:
    await db.guilds.join(GUILD)
    attempts = {
        "prefix": db.guild_config.set_prefix(GUILD, "!\x00"),
        "reason": db.cases.create(GUILD, GUILD, GUILD, "WARN", reason="spam\x00"),
        "content": db.notes.create(GUILD, GUILD, GUILD, "note\x00"),
        "command": db.logs.record_command(GUILD, "ping\x00"),
        "params.key": db.logs.record_command(GUILD, "ping", params={"key": "\x00"}),
    }
    for field, attempt in attempts.items():
        with pytest.raises(ValidationError) as raised:
            await attempt
        assert raised.value.fields == [field]


@given(st.text(min_size=SHOWN_MAX + 1, max_size=2000))
def test_messages_echo_at_most_a_short_excerpt_of_the_bad_value(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        validate_enum("feature", Feature, value)
    echoed = str(raised.value).split(", got ", 1)[1]
    assert len(echoed) <= SHOWN_MAX
    assert echoed.endswith("…")


def test_pydantic_messages_read_like_ours() -> None:
    with pytest.raises(ValidationError) as raised:
        validate(GuildConfigUpdate, {"prefix": "", "locale": "x" * 500, "bogus": 1})
    assert raised.value.fields == ["prefix", "locale", "bogus"]
    assert str(raised.value.errors[0]) == "prefix: must be 1-10 characters, got 0"
    assert str(raised.value.errors[1]) == "locale: must be at most 10 characters, got 500"
    assert str(raised.value.errors[2]) == "bogus: must not be given (not a known field), got 1"
    assert all("should" not in str(error) for error in raised.value.errors)


async def test_the_hot_config_mirror_validates_its_key_first(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guild_config.get(GUILD)
    for key in ([1], True, {GUILD}):
        with pytest.raises(ValidationError) as raised:
            await db.guild_config.get(key)  # type: ignore[arg-type]
        assert raised.value.fields == ["guild_id"]


def test_validate_builds_plain_models_like_sqlmodel_and_as_strictly() -> None:
    data = {
        "guild_id": GUILD,
        "type": CaseType.WARN,
        "user_id": GUILD + 5,
        "moderator_id": GUILD + 6,
        "reason": "spam",
    }
    built, reference = validate(CaseCreate, data), CaseCreate.model_validate(data, strict=True)
    assert built == reference
    assert built.__dict__ == reference.__dict__
    assert built.model_fields_set == reference.model_fields_set == set(data)
    with pytest.raises(ValidationError, match="user_id"):  # strict: a bool is not an ID, as with SQLModel's path
        validate(CaseCreate, {**data, "user_id": True})
    command = {"guild_id": GUILD, "name": "hello", "template": "hi", "author_id": GUILD + 5}
    with pytest.raises(ValidationError, match="required_rank"):  # the validator without an instance would say 0
        validate(CustomCommandCreate, {**command, "required_rank": False})


def test_validate_builds_table_models_through_sqlmodel_so_they_carry_their_orm_state() -> None:
    case = validate(Case, {"guild_id": GUILD, "number": 1, "type": "WARN", "user_id": GUILD + 5, "moderator_id": GUILD})
    assert isinstance(case, Case)
    assert sa_inspect(case).transient  # SQLAlchemy's instance state is there: the session can add it
