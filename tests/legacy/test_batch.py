"""The value rules every mapper shares, and the XP and snippet-name rules."""

import math
from datetime import UTC, datetime, timedelta, timezone

from guildbase.legacy.batch import dumps, snowflake, utc
from guildbase.legacy.mappers.members import convert_xp
from guildbase.legacy.mappers.snippets import allowed_name
from guildbase.models.levels import MAX_XP


def test_naive_legacy_times_are_utc_and_aware_ones_are_converted() -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).replace(tzinfo=None)  # what timestamp(3) reads as
    assert utc(naive) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    paris = datetime(2024, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert utc(paris) == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert utc(None) is None


def test_only_ids_guildbase_can_store_are_kept() -> None:
    assert snowflake(1_100_000_000_000_000_001) == 1_100_000_000_000_000_001
    assert [snowflake(v) for v in (0, -5, None, 2**63 - 1, "12")] == [None, None, None, None, 12]


def test_xp_rounds_half_up_and_clamps_to_the_stored_range() -> None:
    assert [convert_xp(v) for v in (1234.5, 1234.49, 0.5, -3.0, math.nan, math.inf, None)] == [
        1235,
        1234,
        1,
        0,
        0,
        0,
        0,
    ]
    assert convert_xp(1e15) == MAX_XP


def test_a_name_breaking_todays_rule_changes_as_little_as_possible() -> None:
    assert allowed_name("has  space\there", "x") == "has-space-here"
    assert allowed_name("@everyone`#", "x") == "everyone"
    assert allowed_name("n" * 40, "x") == "n" * 32
    assert allowed_name("@#<>", "snippet-9") == "snippet-9"
    assert allowed_name("café☕", "x") == "café☕"


def test_empty_details_are_written_as_an_empty_object() -> None:
    assert dumps({}) == "{}"
    assert dumps({"legacy": {"case_type": "MUTE"}}) == '{"legacy": {"case_type": "MUTE"}}'
