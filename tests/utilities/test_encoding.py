"""Encodings round-trip any text (hypothesis) and refuse malformed input with a reason."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guildbase.utilities.encoding import (
    CODECS,
    MORSE,
    decode,
    decode_base64,
    decode_binary,
    decode_hex,
    decode_morse,
    decode_url,
    encode,
    encode_morse,
    normalise_morse,
)

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
MORSE_TEXT = st.lists(st.text(alphabet=sorted(MORSE) + [c.lower() for c in MORSE if c.isalpha()], min_size=1)).map(
    " ".join
)


@pytest.mark.parametrize("scheme", ["base64", "hex", "url", "binary"])
@given(text=TEXT)
def test_every_byte_scheme_round_trips_any_text(scheme: str, text: str) -> None:
    assert decode(scheme, encode(scheme, text)) == text
    assert decode(scheme.upper(), encode(scheme, text)) == text


@given(text=MORSE_TEXT)
def test_morse_round_trips_its_alphabet_up_to_case_and_spacing(text: str) -> None:
    assert decode_morse(encode_morse(text)) == normalise_morse(text)


def test_known_values() -> None:
    assert encode("base64", "héllo") == "aMOpbGxv"
    assert decode_base64("aMOpbGxv") == decode_base64("aMOp bGxv") == "héllo"
    assert decode_base64("aGk") == "hi"  # padding left out
    assert encode("hex", "hi") == "6869"
    assert decode_hex("0x68 69") == "hi"
    assert encode("url", "a b&c/ü") == "a%20b%26c%2F%C3%BC"
    assert encode("binary", "A") == "01000001"
    assert encode_morse("SOS help") == "... --- ... / .... . .-.. .--."
    assert set(CODECS) == {"base64", "hex", "url", "binary", "morse"}


@pytest.mark.parametrize(
    ("scheme", "bad", "reason"),
    [
        ("base64", "!!!!", "not base64"),
        ("base64", "/w==", "not UTF-8"),
        ("hex", "abc", "not hex"),
        ("hex", "ff", "not UTF-8"),
        ("binary", "0101", "not binary"),
        ("binary", "2" * 8, "not binary"),
        ("morse", "...---...", "not a Morse letter"),
        ("url", "%ff", "not UTF-8"),
        ("rot13", "x", "unknown scheme"),
    ],
)
def test_malformed_input_is_refused_with_the_reason(scheme: str, bad: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode(scheme, bad)


def test_text_morse_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="no code for"):
        encode_morse("snow ☃")
    assert decode_binary("") == ""
    assert decode_url("a+b") == "a+b"
