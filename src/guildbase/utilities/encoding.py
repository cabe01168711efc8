"""Text encodings: base64, hex, URL (percent), binary and Morse, each with its inverse.

Every ``encode_*`` takes any text (encoded as UTF-8 first where the scheme is
about bytes) and every ``decode_*`` gives that text back, or raises
``ValueError`` naming what is wrong with its input. Morse has no letter case
and only its own alphabet: ``decode_morse(encode_morse(t)) == normalise_morse(t)``.
"""

import base64
import binascii
import urllib.parse
from collections.abc import Callable

__all__ = [
    "CODECS",
    "MORSE",
    "decode",
    "decode_base64",
    "decode_binary",
    "decode_hex",
    "decode_morse",
    "decode_url",
    "encode",
    "encode_base64",
    "encode_binary",
    "encode_hex",
    "encode_morse",
    "encode_url",
    "normalise_morse",
]

MORSE: dict[str, str] = {
    "A": ".-", "B": "-...", "C": "-.-.", "D": "-..", "E": ".", "F": "..-.", "G": "--.", "H": "....",
    "I": "..", "J": ".---", "K": "-.-", "L": ".-..", "M": "--", "N": "-.", "O": "---", "P": ".--.",
    "Q": "--.-", "R": ".-.", "S": "...", "T": "-", "U": "..-", "V": "...-", "W": ".--", "X": "-..-",
    "Y": "-.--", "Z": "--..", "0": "-----", "1": ".----", "2": "..---", "3": "...--", "4": "....-",
    "5": ".....", "6": "-....", "7": "--...", "8": "---..", "9": "----.", ".": ".-.-.-", ",": "--..--",
    "?": "..--..", "'": ".----.", "!": "-.-.--", "/": "-..-.", "(": "-.--.", ")": "-.--.-", "&": ".-...",
    ":": "---...", ";": "-.-.-.", "=": "-...-", "+": ".-.-.", "-": "-....-", "_": "..--.-", '"': ".-..-.",
    "$": "...-..-", "@": ".--.-.",
}  # fmt: skip
"""International Morse code (ITU-R M.1677), letters, digits and punctuation."""
_FROM_MORSE = {code: letter for letter, code in MORSE.items()}
WORD_GAP = " / "


def _utf8(data: bytes, scheme: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"the {scheme} decodes to bytes that are not UTF-8 text"
        raise ValueError(msg) from None


def encode_base64(text: str) -> str:
    """``text`` as UTF-8, base64-encoded (standard alphabet, padded)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_base64(encoded: str) -> str:
    """The text ``encoded`` holds; padding may be left out, whitespace is ignored."""
    compact = "".join(encoded.split())
    compact += "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        msg = "not base64: use A-Z, a-z, 0-9, + and /, with = padding"
        raise ValueError(msg) from None
    return _utf8(data, "base64")


def encode_hex(text: str) -> str:
    """``text`` as UTF-8 bytes in lower-case hex, two digits a byte."""
    return text.encode("utf-8").hex()


def decode_hex(encoded: str) -> str:
    """The text of hex digits (spaces and a ``0x`` prefix allowed)."""
    compact = "".join(encoded.split()).removeprefix("0x")
    try:
        data = bytes.fromhex(compact)
    except ValueError:
        msg = "not hex: an even number of digits 0-9 and a-f"
        raise ValueError(msg) from None
    return _utf8(data, "hex")


def encode_url(text: str) -> str:
    """``text`` percent-encoded for a URL component (everything but unreserved characters)."""
    return urllib.parse.quote(text, safe="")


def decode_url(encoded: str) -> str:
    """The text of a percent-encoded string (``+`` stays a plus)."""
    try:
        return urllib.parse.unquote(encoded, errors="strict")
    except UnicodeDecodeError:
        msg = "the percent-escapes are not UTF-8 text"
        raise ValueError(msg) from None


def encode_binary(text: str) -> str:
    """``text`` as UTF-8 bytes, each as eight binary digits, separated by spaces."""
    return " ".join(f"{byte:08b}" for byte in text.encode("utf-8"))


def decode_binary(encoded: str) -> str:
    """The text of space-separated groups of 8 binary digits (or one unbroken run of them)."""
    compact = "".join(encoded.split())
    if not compact:
        return ""
    if len(compact) % 8 or set(compact) - {"0", "1"}:
        msg = "not binary: groups of eight 0s and 1s"
        raise ValueError(msg)
    data = bytes(int(compact[i : i + 8], 2) for i in range(0, len(compact), 8))
    return _utf8(data, "binary")


def normalise_morse(text: str) -> str:
    """What Morse can carry of ``text``: upper case, words separated by one space."""
    return " ".join(text.upper().split())


def encode_morse(text: str) -> str:
    """``text`` in Morse: letters separated by spaces, words by `` / ``."""
    words = normalise_morse(text).split(" ")
    unknown = sorted({c for word in words for c in word if c not in MORSE})
    if unknown:
        msg = f"Morse has no code for {''.join(unknown)[:20]!r}"
        raise ValueError(msg)
    return WORD_GAP.join(" ".join(MORSE[c] for c in word) for word in words if word)


def decode_morse(encoded: str) -> str:
    """The text of Morse (``.`` and ``-``; letters split by spaces, words by ``/``)."""
    words = []
    for word in encoded.split("/"):
        letters = word.split()
        unknown = [code for code in letters if code not in _FROM_MORSE]
        if unknown:
            msg = f"not a Morse letter: {unknown[0][:20]!r}"
            raise ValueError(msg)
        if letters:
            words.append("".join(_FROM_MORSE[code] for code in letters))
    return " ".join(words)


CODECS: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
    "base64": (encode_base64, decode_base64),
    "hex": (encode_hex, decode_hex),
    "url": (encode_url, decode_url),
    "binary": (encode_binary, decode_binary),
    "morse": (encode_morse, decode_morse),
}
"""Scheme name → (encode, decode)."""


def _codec(scheme: str) -> tuple[Callable[[str], str], Callable[[str], str]]:
    found = CODECS.get(scheme.lower())
    if found is None:
        msg = f"unknown scheme {scheme[:20]!r}; use one of {', '.join(CODECS)}"
        raise ValueError(msg)
    return found


def encode(scheme: str, text: str) -> str:
    """``text`` encoded with ``scheme`` (a key of ``CODECS``, any letter case)."""
    return _codec(scheme)[0](text)


def decode(scheme: str, encoded: str) -> str:
    """``encoded`` decoded with ``scheme``."""
    return _codec(scheme)[1](encoded)
