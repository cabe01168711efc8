"""Format conversions: units, colours and Discord timestamps, each reversible.

- ``convert(value, "km", "mi")``: length, mass, volume, data size, time and
  temperature; units of different kinds are refused.
- Colours: ``parse_colour`` reads ``#ff8800``, ``ff8800``, ``#f80``,
  ``rgb(255, 136, 0)``, ``255,136,0`` or a 24-bit integer into an ``RGB``;
  ``RGB`` gives hex, integer and HSL back (``from_hsl`` is HSL's inverse).
- Discord timestamps: ``discord_timestamp(when, "R")`` is ``<t:1700000000:R>``,
  which every Discord client renders in its reader's time zone;
  ``parse_discord_timestamp`` reads one back.
"""

import colorsys
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "RGB",
    "TIMESTAMP_STYLES",
    "UNITS",
    "convert",
    "discord_timestamp",
    "from_hsl",
    "parse_colour",
    "parse_discord_timestamp",
    "unit_kind",
]

# unit → (kind, factor to the kind's base unit); temperature is affine and handled apart.
UNITS: dict[str, tuple[str, float]] = {
    "mm": ("length", 0.001), "cm": ("length", 0.01), "m": ("length", 1.0), "km": ("length", 1000.0),
    "in": ("length", 0.0254), "ft": ("length", 0.3048), "yd": ("length", 0.9144), "mi": ("length", 1609.344),
    "mg": ("mass", 1e-6), "g": ("mass", 0.001), "kg": ("mass", 1.0), "t": ("mass", 1000.0),
    "oz": ("mass", 0.028349523125), "lb": ("mass", 0.45359237), "st": ("mass", 6.35029318),
    "ml": ("volume", 0.001), "l": ("volume", 1.0), "floz": ("volume", 0.0295735295625),
    "cup": ("volume", 0.2365882365), "pt": ("volume", 0.473176473), "qt": ("volume", 0.946352946),
    "gal": ("volume", 3.785411784),
    "b": ("data", 1.0), "kb": ("data", 1e3), "mb": ("data", 1e6), "gb": ("data", 1e9), "tb": ("data", 1e12),
    "kib": ("data", 1024.0), "mib": ("data", 1024.0**2), "gib": ("data", 1024.0**3), "tib": ("data", 1024.0**4),
    "ms": ("time", 0.001), "s": ("time", 1.0), "min": ("time", 60.0), "h": ("time", 3600.0),
    "d": ("time", 86400.0), "w": ("time", 604800.0),
    "c": ("temperature", 1.0), "f": ("temperature", 1.0), "k": ("temperature", 1.0),
}  # fmt: skip
"""Every unit ``convert`` knows, by its symbol (lower case)."""
_ALIASES = {"°c": "c", "°f": "f", "celsius": "c", "fahrenheit": "f", "kelvin": "k", "sec": "s", "hr": "h"}
MAX_MAGNITUDE = 1e15
MAX_COLOUR = 0xFFFFFF
TIMESTAMP_STYLES = {
    "t": "short time",
    "T": "long time",
    "d": "short date",
    "D": "long date",
    "f": "short date and time",
    "F": "long date and time",
    "R": "relative",
}
"""Discord's timestamp styles and what each shows."""
_TIMESTAMP = re.compile(r"<t:(-?\d{1,13})(?::([tTdDfFR]))?>")


def unit_kind(unit: str) -> tuple[str, str]:
    """The unit's symbol as ``UNITS`` spells it, and its kind; ``ValueError`` for an unknown unit."""
    symbol = _ALIASES.get(unit.lower(), unit.lower())
    if symbol not in UNITS:
        msg = f"unknown unit {unit[:20]!r}; known: {', '.join(UNITS)}"
        raise ValueError(msg)
    return symbol, UNITS[symbol][0]


def _to_kelvin(value: float, symbol: str) -> float:
    return {"c": value + 273.15, "f": (value - 32) * 5 / 9 + 273.15, "k": value}[symbol]


def _from_kelvin(value: float, symbol: str) -> float:
    return {"c": value - 273.15, "f": (value - 273.15) * 9 / 5 + 32, "k": value}[symbol]


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (both of one kind)."""
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        msg = f"the value must be a finite number of at most {MAX_MAGNITUDE:g} in size"
        raise ValueError(msg)
    source, kind = unit_kind(from_unit)
    target, target_kind = unit_kind(to_unit)
    if kind != target_kind:
        msg = f"cannot convert {kind} ({source}) to {target_kind} ({target})"
        raise ValueError(msg)
    if kind == "temperature":
        kelvin = _to_kelvin(value, source)
        if kelvin < 0:
            msg = "below absolute zero"
            raise ValueError(msg)
        return _from_kelvin(kelvin, target)
    return value * UNITS[source][1] / UNITS[target][1]


@dataclass(frozen=True, slots=True)
class RGB:
    """A 24-bit colour."""

    red: int
    green: int
    blue: int

    def __post_init__(self) -> None:
        if not all(0 <= part <= 255 for part in (self.red, self.green, self.blue)):  # noqa: PLR2004 - a byte
            msg = "each of red, green and blue must be 0-255"
            raise ValueError(msg)

    @property
    def hex(self) -> str:
        """``#rrggbb``."""
        return f"#{self.red:02x}{self.green:02x}{self.blue:02x}"

    @property
    def value(self) -> int:
        """The colour as one integer (what ``discord.Colour`` takes)."""
        return (self.red << 16) | (self.green << 8) | self.blue

    @property
    def hsl(self) -> tuple[float, float, float]:
        """Hue in degrees (0-360), saturation and lightness in percent."""
        hue, lightness, saturation = colorsys.rgb_to_hls(self.red / 255, self.green / 255, self.blue / 255)
        return hue * 360, saturation * 100, lightness * 100


def from_hsl(hue: float, saturation: float, lightness: float) -> RGB:
    """The ``RGB`` of an HSL colour (hue in degrees, the others in percent), rounded to whole steps."""
    red, green, blue = colorsys.hls_to_rgb((hue % 360) / 360, lightness / 100, saturation / 100)
    return RGB(round(red * 255), round(green * 255), round(blue * 255))


_HEX = re.compile(r"#?([0-9a-fA-F]{6})|#([0-9a-fA-F]{3})")
_TRIPLE = re.compile(r"(?:rgb\s*\()?\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)?", re.IGNORECASE)


def parse_colour(text: str) -> RGB:
    """A colour from ``#rrggbb``, ``rrggbb``, ``#rgb``, ``rgb(r, g, b)``, ``r,g,b`` or ``0x…``/a decimal integer.

    Six bare digits are hex (``123456`` is ``#123456``); a decimal integer is any other run of digits.
    """
    text = text.strip()
    if found := _HEX.fullmatch(text):
        digits = found.group(1) or "".join(c * 2 for c in found.group(2))  # #rgb is #rrggbb
        number = int(digits, 16)
        return RGB(number >> 16, (number >> 8) & 0xFF, number & 0xFF)
    if found := _TRIPLE.fullmatch(text):
        return RGB(*(int(part) for part in found.groups()))
    if re.fullmatch(r"0x[0-9a-fA-F]{1,6}|\d{1,8}", text):
        number = int(text, 16) if text.startswith("0x") else int(text)
        if number <= MAX_COLOUR:
            return RGB(number >> 16, (number >> 8) & 0xFF, number & 0xFF)
    msg = f"not a colour: {text[:20]!r}; try #ff8800 or rgb(255, 136, 0)"
    raise ValueError(msg)


def discord_timestamp(when: datetime, style: str = "f") -> str:
    """``<t:unix:style>`` for an aware ``when`` (whole seconds; Discord has no finer ones)."""
    if when.tzinfo is None:
        msg = "the time must be timezone-aware"
        raise ValueError(msg)
    if style not in TIMESTAMP_STYLES:
        msg = f"unknown style {style[:5]!r}; use one of {''.join(TIMESTAMP_STYLES)}"
        raise ValueError(msg)
    return f"<t:{math.floor(when.timestamp())}:{style}>"


def parse_discord_timestamp(markup: str) -> tuple[datetime, str]:
    """The UTC time and style of ``<t:unix>`` / ``<t:unix:style>`` (no style means ``f``)."""
    found = _TIMESTAMP.fullmatch(markup.strip())
    if found is None:
        msg = "not a Discord timestamp: expected <t:1700000000:R>"
        raise ValueError(msg)
    try:
        when = datetime.fromtimestamp(int(found.group(1)), tz=UTC)
    except (OverflowError, OSError, ValueError):
        msg = "the timestamp is out of range"
        raise ValueError(msg) from None
    return when, found.group(2) or "f"
