"""What the autoresponder and filter controllers share: the compiled-matcher cache and batched hit counts.

**Compiled and cached.** A guild's rules are read from PostgreSQL once, sent
to Redis as JSON (``CompiledCodec.encode``) and compiled in each process
(``decode``), so the value in the in-process LRU is the compiled matcher
itself: a message costs one dict lookup plus one scan. Every write invalidates
the guild's key after its commit; the invalidation is published on the cache's
channel (``services.cache``), so every other process drops its compiled copy at
once and recompiles on its next message. The codec remembers the last
compilation of each JSON text, so the periodic expiry of the local copy costs
a Redis read, not a recompilation, while nothing changed.

**Batched hits.** A hit is a dict increment in process (``HitCounter.add``);
the first message that finds the counts older than ``FLUSH_SECONDS`` writes
them all with one ``UPDATE … FROM unnest(ids, counts)``, in its own task (no
background task, so nothing outlives the facade), and ``Database.close``
writes what is left. Rows are updated in ID order, so concurrent flushes of
several processes never deadlock. A failed flush keeps its counts for the
next one; hit counts are statistics, so a flush whose commit was lost in
transit may count a batch twice, never lose it silently.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from guildbase.controllers.base import Controller
from guildbase.services.keys import guild_key

__all__ = ["FLUSH_SECONDS", "Compiled", "CompiledCodec", "HitCounter", "cooldown_key"]

log = logging.getLogger("guildbase.matching")
M = TypeVar("M")
FLUSH_SECONDS = 1.0
MEMO_CHARS = 32 * 1024 * 1024
"""How much rule JSON the codec's memo of compilations may hold (oldest dropped first)."""


@dataclass(frozen=True, slots=True)
class Compiled(Generic[M]):
    """A guild's rules as stored (``rows``, JSON-ready; ``by_id`` keyed by rule ID) and compiled (``matcher``)."""

    rows: list[dict[str, Any]]
    matcher: M
    by_id: dict[int, dict[str, Any]]


class CompiledCodec(Generic[M]):
    """Cache codec: JSON rows in Redis, the compiled matcher in process."""

    def __init__(self, compile_rows: Callable[[list[dict[str, Any]]], M], key: str) -> None:
        self._compile = compile_rows
        self._key = key
        self._memo: dict[str, Compiled[M]] = {}
        self._memo_chars = 0

    def build(self, rows: list[dict[str, Any]]) -> Compiled[M]:
        """Compile freshly loaded rows."""
        return Compiled(rows, self._compile(rows), {row[self._key]: row for row in rows})

    def loaded(self, rows: list[dict[str, Any]]) -> Compiled[M]:
        """Rows just read from PostgreSQL, compiled (or the memo's compilation of the very same rules).

        Rows go through their JSON text either way, so a value is the same
        whether it was loaded here, read from Redis, or loaded while Redis was
        away (then nothing is cached, and the memo spares a recompilation per message).
        """
        return self.decode(json.dumps(rows, separators=(",", ":"), default=str))

    def encode(self, value: Compiled[M]) -> str:
        raw = json.dumps(value.rows, separators=(",", ":"))
        self._remember(raw, value)  # this process reads the same text back from Redis: no recompilation
        return raw

    def decode(self, raw: str) -> Compiled[M]:
        found = self._memo.get(raw)
        if found is None:
            found = self.build(json.loads(raw))
            self._remember(raw, found)
        return found

    def _remember(self, raw: str, value: Compiled[M]) -> None:
        if raw in self._memo:
            return
        self._memo[raw] = value
        self._memo_chars += len(raw)
        while self._memo_chars > MEMO_CHARS and len(self._memo) > 1:
            oldest = next(iter(self._memo))
            del self._memo[oldest]
            self._memo_chars -= len(oldest)


def cooldown_key(guild_id: int, rule_id: int, holder: int) -> str:
    """Redis key of one trigger's cooldown for one user or channel (``SET NX PX``)."""
    return guild_key(guild_id, "ar_cooldown", rule_id, holder)


class HitCounter:
    """Per-rule hit counts buffered in process and written in one statement (see the module docstring)."""

    def __init__(self, table: str, key: str) -> None:
        self._sql = (
            f"UPDATE {table} AS t SET hits = t.hits + u.n "  # noqa: S608 - table and column are our own identifiers
            f"FROM unnest($1::bigint[], $2::bigint[]) AS u(id, n) WHERE t.{key} = u.id"
        )
        self._counts: dict[int, int] = {}
        self._since = time.monotonic()

    @property
    def pending(self) -> int:
        """Hits counted and not yet written."""
        return sum(self._counts.values())

    def add(self, rule_ids: Iterable[int]) -> bool:
        """Count one hit of each rule; True when the counts are due to be written."""
        for rule_id in rule_ids:
            self._counts[rule_id] = self._counts.get(rule_id, 0) + 1
        return bool(self._counts) and time.monotonic() - self._since >= FLUSH_SECONDS

    async def flush(self, controller: Controller) -> int:
        """Write every buffered count (one statement); how many hits were written."""
        counts, self._counts, self._since = self._counts, {}, time.monotonic()
        if not counts:
            return 0
        ids = sorted(counts)
        try:
            async with controller._fast(transaction=False) as unit:  # noqa: SLF001 - the controller's own way in
                await unit.connection.execute(self._sql, ids, [counts[i] for i in ids])
        except BaseException:
            for rule_id, count in counts.items():  # kept for the next flush
                self._counts[rule_id] = self._counts.get(rule_id, 0) + count
            raise
        return sum(counts.values())

    async def flush_quietly(self, controller: Controller) -> None:
        """``flush`` from the message path: a failure is logged and the counts kept, never raised."""
        try:
            await self.flush(controller)
        except Exception:
            log.warning("could not write %s buffered hit counts; kept for the next flush", self.pending, exc_info=True)
