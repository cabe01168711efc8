"""The message and voice rollups at three grains, written together so that they always agree.

A batch of messages or a closing voice session adds its counts per
(guild, day, channel, member) to ``message_stat_daily`` / ``voice_stat_daily``
and, in the same transaction, the same counts summed per (guild, day, member)
and per (guild, day, channel) to the coarse tables the reports read. Each
statement is one ``INSERT … ON CONFLICT DO UPDATE SET n = n + excluded.n`` over
sorted keys, and the tables are always written in the same order (fine, per
member, per channel), so concurrent writers take row locks in one global order:
they queue, never deadlock, and no increment is lost.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

import asyncpg

__all__ = ["Counts", "add_counts"]

Counts = dict[tuple[int, date, int, int], int]
"""Increments per (guild_id, day, channel_id, user_id)."""

_TABLES = {
    "messages": ("message_stat_daily", "message_stat_user_daily", "message_stat_channel_daily"),
    "seconds": ("voice_stat_daily", "voice_stat_user_daily", "voice_stat_channel_daily"),
}


def _upsert(table: str, keys: tuple[str, ...], counter: str) -> str:
    names = ", ".join(keys)
    types = ", ".join(["$1::bigint[]", "$2::date[]"] + [f"${i + 1}::bigint[]" for i in range(2, len(keys) + 1)])
    return (
        f"INSERT INTO {table} AS s ({names}, {counter}) SELECT * FROM unnest({types}) "  # noqa: S608 - constants
        f"ON CONFLICT ({names}) DO UPDATE SET {counter} = s.{counter} + excluded.{counter}"
    )


_SQL = {
    counter: (
        _upsert(fine, ("guild_id", "day", "channel_id", "user_id"), counter),
        _upsert(per_user, ("guild_id", "day", "user_id"), counter),
        _upsert(per_channel, ("guild_id", "day", "channel_id"), counter),
    )
    for counter, (fine, per_user, per_channel) in _TABLES.items()
}


def _columns(sums: Mapping[Any, int]) -> list[list[Any]]:
    """Sorted keys and their sums as unnest columns (sorted: every writer locks rows in the same order)."""
    keys = sorted(sums)
    width = len(keys[0]) if keys else 0
    return [[key[i] for key in keys] for i in range(width)] + [[sums[key] for key in keys]]


async def add_counts(connection: asyncpg.Connection, counter: str, counts: Counts) -> None:
    """Add ``counts`` to the three rollups of ``counter`` ("messages" or "seconds"), inside the caller's transaction."""
    if not counts:
        return
    per_user: dict[tuple[int, date, int], int] = {}
    per_channel: dict[tuple[int, date, int], int] = {}
    for (guild, day, channel, user), value in counts.items():
        per_user[guild, day, user] = per_user.get((guild, day, user), 0) + value
        per_channel[guild, day, channel] = per_channel.get((guild, day, channel), 0) + value
    fine, by_user, by_channel = _SQL[counter]
    await connection.execute(fine, *_columns(counts))
    await connection.execute(by_user, *_columns(per_user))
    await connection.execute(by_channel, *_columns(per_channel))
