"""Conversions are reversible (hypothesis) and refuse what makes no sense."""

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from guildbase.testing import shifted_now
from guildbase.utilities.conversions import (
    RGB,
    TIMESTAMP_STYLES,
    UNITS,
    convert,
    discord_timestamp,
    from_hsl,
    parse_colour,
    parse_discord_timestamp,
)

PAIRS = [(a, b) for a, (kind, _) in UNITS.items() for b, (other, _) in UNITS.items() if kind == other]
BYTE = st.integers(min_value=0, max_value=255)


@given(pair=st.sampled_from(PAIRS), value=st.floats(min_value=0, max_value=1000, allow_nan=False))
def test_a_conversion_and_its_inverse_give_the_value_back(pair: tuple[str, str], value: float) -> None:
    try:
        there = convert(value, *pair)
    except ValueError as refused:  # e.g. 1,000 TiB in bytes is past MAX_MAGNITUDE: refused by name, not converted
        assert "at most" in str(refused)  # noqa: PT017 - the refusal is the other outcome this property allows
        assume(False)
    back = convert(there, pair[1], pair[0])
    assert math.isclose(back, value, rel_tol=1e-9, abs_tol=1e-9)


def test_known_conversions_and_refusals() -> None:
    assert convert(1, "mi", "km") == pytest.approx(1.609344)
    assert convert(100, "C", "F") == pytest.approx(212)
    assert convert(0, "k", "c") == pytest.approx(-273.15)
    assert convert(1, "GiB", "MiB") == 1024
    with pytest.raises(ValueError, match="cannot convert length"):
        convert(1, "km", "kg")
    with pytest.raises(ValueError, match="unknown unit"):
        convert(1, "parsec", "km")
    with pytest.raises(ValueError, match="absolute zero"):
        convert(-300, "c", "k")
    with pytest.raises(ValueError, match="finite"):
        convert(math.inf, "m", "km")


@given(red=BYTE, green=BYTE, blue=BYTE)
def test_colours_round_trip_through_hex_integer_rgb_and_hsl(red: int, green: int, blue: int) -> None:
    colour = RGB(red, green, blue)
    assert parse_colour(colour.hex) == colour
    assert parse_colour(colour.hex.upper().lstrip("#")) == colour
    assert parse_colour(hex(colour.value)) == colour
    assert parse_colour(f"rgb({red}, {green}, {blue})") == colour
    assert from_hsl(*colour.hsl) == colour


def test_colour_forms_and_refusals() -> None:
    assert parse_colour("#f80") == RGB(255, 136, 0)
    assert parse_colour("0xff8800") == RGB(255, 136, 0)
    assert parse_colour("255,136,0").hex == "#ff8800"
    assert parse_colour("16746496") == RGB(255, 136, 0)  # a decimal integer (discord.Colour's value)
    for bad in ("#ff88", "rgb(256, 0, 0)", "orange-ish", "16777216"):
        with pytest.raises(ValueError, match=r"colour|0-255"):
            parse_colour(bad)


@given(
    # hypothesis takes naive bounds and applies ``timezones`` to what it draws
    when=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1), timezones=st.just(UTC)),  # noqa: DTZ001
    style=st.sampled_from(sorted(TIMESTAMP_STYLES)),
)
def test_discord_timestamps_round_trip_to_the_second(when: datetime, style: str) -> None:
    parsed, parsed_style = parse_discord_timestamp(discord_timestamp(when, style))
    assert (parsed, parsed_style) == (when.replace(microsecond=0), style)


def test_timestamp_forms_and_refusals() -> None:
    moment = shifted_now().replace(microsecond=0).astimezone(timezone(timedelta(hours=2)))
    assert discord_timestamp(moment, "R") == f"<t:{int(moment.timestamp())}:R>"
    assert parse_discord_timestamp("<t:0>") == (datetime(1970, 1, 1, tzinfo=UTC), "f")
    with pytest.raises(ValueError, match="timezone-aware"):
        discord_timestamp(moment.replace(tzinfo=None))
    with pytest.raises(ValueError, match="unknown style"):
        discord_timestamp(moment, "x")
    with pytest.raises(ValueError, match="not a Discord timestamp"):
        parse_discord_timestamp("<t:abc:R>")
