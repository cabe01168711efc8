"""One batch of legacy rows on its way in: the records to write, the issues, the counts per legacy table.

Mappers fill a ``Batch``; the writer turns it into rows, and the runner
commits it with its checkpoint. The helpers here are the value rules every
mapper shares: naive legacy times are UTC, an ID is kept only if guildbase's
snowflake rule accepts it, and a text is cut only with its original kept.
"""

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from guildbase.db.types import DISCORD_EPOCH_MS, validate_snowflake

__all__ = ["DISCORD_EPOCH", "Batch", "Issue", "as_json", "fit", "snowflake", "utc"]

DISCORD_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
"""Stands in for a missing legacy creation time: before any real row, and the same on every run."""


@dataclass(frozen=True)
class Issue:
    """A legacy row (``key``) that was skipped, merged or adjusted, and why; ``original`` is what changed."""

    table: str
    key: str
    reason: str
    action: str
    original: dict[str, Any] | None = None


@dataclass
class Counts:
    read: int = 0
    written: int = 0
    merged: int = 0
    skipped: int = 0


@dataclass
class Batch:
    """The mapped rows of one batch, per target, and everything the mappers noticed."""

    records: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    counts: dict[str, Counts] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, table: str) -> Counts:
        return self.counts.setdefault(table, Counts())

    def add(self, target: str, record: tuple[Any, ...]) -> None:
        self.records.setdefault(target, []).append(record)

    def skip(self, table: str, key: object, reason: str, original: dict[str, Any] | None = None) -> None:
        self.issues.append(Issue(table, str(key), reason, "skipped", original))
        self.count(table).skipped += 1

    def merge(self, table: str, key: object, reason: str, original: dict[str, Any] | None = None) -> None:
        self.issues.append(Issue(table, str(key), reason, "merged", original))
        self.count(table).merged += 1

    def adjust(self, table: str, key: object, reason: str, original: dict[str, Any] | None = None) -> None:
        self.issues.append(Issue(table, str(key), reason, "adjusted", original))


def utc(value: datetime | None) -> datetime | None:
    """A legacy ``timestamp(3)`` (naive, meaning UTC) or an aware time, as an aware UTC time."""
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_PLAIN_ID_LIMIT = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
"""IDs below this are accepted without the full check (a timestamp before now: the common case, one comparison)."""


def snowflake(value: object) -> int | None:
    """``value`` if guildbase's snowflake rule accepts it (positive, a plausible timestamp), else None."""
    if value is None:
        return None
    if type(value) is int and 0 < value < _PLAIN_ID_LIMIT:
        return value
    try:
        return validate_snowflake(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def fit(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters (the caller keeps the original when it was cut)."""
    return None if text is None or len(text) <= limit else text[:limit]


def as_json(value: Any) -> Any:
    """A legacy value as JSON-ready data (times as ISO strings, non-finite floats as strings)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


def dumps(value: Any) -> str:
    if not value and isinstance(value, dict):
        return "{}"
    return json.dumps(value, default=str, ensure_ascii=False)
