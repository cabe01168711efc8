"""A bounded, buffered writer for append-only rows (command log, event trail …).

Callers hand rows to ``put``; a background task writes them in batches (by
size or after ``interval`` seconds, whichever comes first) through a write
function, typically one binary COPY in one transaction. Guarantees:

- bounded memory: at most ``max_pending`` rows wait (or are being written);
  ``put`` then waits for a flush to make room instead of growing the buffer,
  and ``offer`` on a writer with a ``spill`` file appends the row to that
  file instead (``db.spill``), so a caller never waits: the writer takes
  spilled rows back when it has room, and writes larger batches while rows
  are queued behind a full one (the back-pressure is the writer's);
- no loss on failure: a batch leaves the buffer only after its write
  succeeded, so a failed flush keeps every row for the next attempt;
- no poisoning: when a batch fails because of its *rows* (``is_row_error``:
  text PostgreSQL refuses, a value out of range), it is split in halves until
  the bad rows are isolated; the good ones are written and the bad ones are
  handed to ``dead_letter`` once (a table, a file), never retried;
- no retry storm: a write that fails for any other reason (PostgreSQL away)
  is retried after ``retry_delay``, doubling per failure up to
  ``max_retry_delay``, with one warning per episode, not one per attempt;
- no silent loss on a stop: ``close`` stops accepting rows and writes
  everything accepted before it (``Database.close`` calls it); if that fails
  it raises ``RowsLostError`` holding exactly the rows that were not written.
  ``flush_on_signals`` writes the buffer out when the process is told to stop,
  then lets it stop (the signal is passed on, never swallowed).

A row is written at least once: if the connection dies after PostgreSQL
committed a batch but before the client heard so, the retry writes it again.
"""

import asyncio
import contextlib
import logging
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from guildbase.db.signals import flush_then_chain
from guildbase.db.spill import SpillFile
from guildbase.errors import GuildbaseError

log = logging.getLogger("guildbase.bulk")

CLOSE_RETRY_MAX_SECONDS = 1.0
"""Longest pause between ``close``'s attempts: a stopping process must not hang on a dead server."""

Row = tuple[Any, ...]
WriteBatch = Callable[[Sequence[Row]], Awaitable[None]]
DeadLetter = Callable[[Sequence[tuple[Row, BaseException]]], Awaitable[None]]


class WriterClosedError(GuildbaseError):
    """The writer was closed; rows can no longer be accepted."""


class RowsLostError(GuildbaseError):
    """``close`` could not write every accepted row; ``rows`` are exactly the ones not written.

    Everything else was closed anyway. The caller may keep the rows (a file)
    and write them once PostgreSQL is back; nothing else holds them any more.
    """

    def __init__(self, name: str, rows: Sequence[Row], cause: BaseException) -> None:
        self.rows = list(rows)
        self.cause = cause
        super().__init__(
            f"{len(self.rows)} {name} could not be written at close ({type(cause).__name__}: {cause}); "
            "they are in this error's .rows: keep them and write them again once PostgreSQL answers"
        )


class _Unwritten(Exception):  # noqa: N818 - internal carrier, never leaves this module
    """A batch failed part-way through isolation: ``rows`` were not written, ``cause`` says why."""

    def __init__(self, rows: list[Row], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.rows = rows
        self.cause = cause


class BufferedWriter:
    """Accept rows now, write them in batches soon; see the module docstring for guarantees."""

    def __init__(
        self,
        write: WriteBatch,
        *,
        name: str = "rows",
        batch_size: int = 2000,
        max_pending: int = 50_000,
        interval: float = 1.0,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        concurrency: int = 2,
        is_row_error: Callable[[BaseException], bool] | None = None,
        dead_letter: DeadLetter | None = None,
        spill: SpillFile | None = None,
        max_batch_factor: int = 8,
    ) -> None:
        if batch_size < 1 or max_pending < batch_size:
            msg = f"batch_size must be >= 1 and max_pending >= batch_size, got {batch_size}, {max_pending}"
            raise ValueError(msg)
        self.name = name
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.interval = interval
        self.retry_delay = retry_delay
        self.max_retry_delay = max(retry_delay, max_retry_delay)
        self.concurrency = max(1, concurrency)
        self.accepted = 0
        self.written = 0
        self.dead_lettered = 0
        """Rows the write refused for what they hold, handed to ``dead_letter`` (never retried)."""
        self.attempts = 0
        """Calls of the write function, isolation's smaller batches included (tests count them)."""
        self.failures = 0
        self.spilled = 0
        """Rows that found the buffer full and went to the spill file (all written later; none dropped)."""
        self.max_batch_size = batch_size * max(1, max_batch_factor)
        """Largest batch when rows are queued behind full batches: more rows per COPY, not more waiting."""
        self._spill = spill
        self._is_row_error = is_row_error
        self._dead_letter = dead_letter
        self._streak = 0
        self._closing = asyncio.Event()
        self._write = write
        self._buffer: deque[Row] = deque()
        self._in_flight = 0
        self._room = asyncio.Condition()
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Rows accepted and not yet written (waiting or being written)."""
        return len(self._buffer) + self._in_flight

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def offer(self, row: Row) -> bool:
        """Accept ``row`` without waiting; False means there was no room and no spill file (call ``put``).

        With a spill file, a full buffer sends the row to the file and the call
        still returns at once.
        """
        buffer = self._buffer
        if self._closed or len(buffer) + self._in_flight >= self.max_pending:
            return self._offer_when_full(row)
        buffer.append(row)
        self.accepted += 1
        if self._task is None:
            self._ensure_task()
        if len(buffer) == self.batch_size:  # the writer takes what is there; later crossings wake it again
            self._wake.set()
        return True

    def _offer_when_full(self, row: Row) -> bool:
        if self._closed or self._spill is None:
            return False
        self._spill.append(row)
        self.accepted += 1
        self.spilled += 1
        self._wake.set()
        return True

    async def put(self, row: Row) -> None:
        """Accept one row, waiting while ``max_pending`` rows are already waiting."""
        if self._closed:
            raise WriterClosedError(f"the {self.name} writer is closed")
        if self.pending >= self.max_pending:
            async with self._room:
                self._wake.set()
                await self._room.wait_for(lambda: self.pending < self.max_pending or self._closed)
            if self._closed:
                raise WriterClosedError(f"the {self.name} writer is closed")
        self._buffer.append(row)
        self.accepted += 1
        self._ensure_task()
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> int:
        """Write every row waiting now; returns how many. Raises if a write fails (its rows are kept).

        Up to ``concurrency`` batches are written at once (each on its own pooled
        connection); a batch that fails goes back to the front of the buffer.
        """
        async with self._flush_lock:
            done = 0
            target = len(self._buffer)
            while self._buffer and done < target:
                batches: list[list[Row]] = []
                taken = 0
                while self._buffer and len(batches) < self.concurrency and done + taken < target:
                    size = min(self._next_batch_size(), len(self._buffer), target - done - taken)
                    batches.append([self._buffer.popleft() for _ in range(size)])
                    taken += size
                self._in_flight += taken
                try:
                    outcomes = await asyncio.gather(*(self._isolating(b) for b in batches), return_exceptions=True)
                except asyncio.CancelledError:
                    for batch in reversed(batches):  # at least once: a committed batch may come back
                        self._buffer.extendleft(reversed(batch))
                    raise
                finally:
                    self._in_flight -= taken
                failed: list[tuple[list[Row], BaseException]] = []
                for batch, outcome in zip(batches, outcomes, strict=True):
                    if isinstance(outcome, _Unwritten):
                        failed.append((outcome.rows, outcome.cause))
                    elif isinstance(outcome, BaseException):
                        failed.append((batch, outcome))
                for rows, _ in reversed(failed):
                    self._buffer.extendleft(reversed(rows))
                left = taken - sum(len(rows) for rows, _ in failed)
                done += left
                self.written += left - sum(o for o in outcomes if isinstance(o, int))
                async with self._room:
                    self._room.notify_all()
                if failed:
                    raise failed[0][1]
            return done

    def _next_batch_size(self) -> int:
        """``batch_size`` normally; up to ``max_batch_size`` when more rows wait than the running batches take."""
        queued = len(self._buffer) // self.concurrency
        return max(self.batch_size, min(queued, self.max_batch_size))

    def _refill(self) -> None:
        """Move spilled rows back into the buffer while they fit under ``max_pending``."""
        if self._spill is None or not self._spill.rows or self._spill.rows > self.max_pending - self.pending:
            return
        self._buffer.extend(self._spill.take())

    async def replay_orphans(self) -> int:
        """Write the rows that stopped processes spilled (killed before they could); returns how many.

        Each orphaned file is removed once its rows are written; a failure
        leaves the rest of it for the next start.
        """
        if self._spill is None:
            return 0
        replayed = 0
        for path, rows in self._spill.claim_orphans():
            for start in range(0, len(rows), self.max_batch_size):
                batch = rows[start : start + self.max_batch_size]
                self.dead_lettered += await self._isolating(batch)
                replayed += len(batch)
            path.unlink(missing_ok=True)
        return replayed

    async def _isolating(self, batch: list[Row]) -> int:
        """Write ``batch``; when its rows are the problem, split it until the bad ones are alone.

        Returns how many rows went to the dead letter. A failure that is not
        about rows (the connection) stops the split and raises ``_Unwritten``
        with exactly the rows not yet written, so the retry writes nothing twice.
        """
        todo: deque[list[Row]] = deque([batch])
        bad: list[tuple[Row, BaseException]] = []
        part: list[Row] = []
        try:
            while todo:
                part = todo.popleft()
                self.attempts += 1
                try:
                    await self._write(part)
                except Exception as error:
                    if self._is_row_error is None or not self._is_row_error(error):
                        raise
                    if len(part) == 1:
                        bad.append((part[0], error))
                    else:
                        middle = len(part) // 2
                        todo.extendleft([part[middle:], part[:middle]])
                part = []
            if bad:
                if self._dead_letter is None:
                    log.error("%d %s refused by the database were dropped: %s", len(bad), self.name, bad[0][1])
                else:
                    await self._dead_letter(bad)
                self.dead_lettered += len(bad)
        except Exception as error:
            # Not written: the part being tried, the parts not tried yet, the bad rows not yet set aside.
            unwritten = part + [row for rest in todo for row in rest] + [row for row, _ in bad]
            raise _Unwritten(unwritten, error) from error
        return len(bad)

    async def close(self, *, attempts: int = 3) -> None:
        """Stop accepting rows and write everything accepted.

        Raises:
            RowsLostError: ``attempts`` flushes (backing off between them) failed;
                the error holds exactly the rows that were not written.
        """
        self._closed = True
        self._wake.set()
        self._closing.set()
        try:
            if self._task is not None:
                # Never cancel a batch mid-COPY: let the running flush finish, then take over.
                await self._task
                self._task = None
            for attempt in range(1, attempts + 1):
                try:
                    await self.flush()
                    while self._spill is not None and self._spill.rows:
                        self._buffer.extend(self._spill.take())  # memory is what close() may use now
                        await self.flush()
                    break
                except Exception as error:
                    self.failures += 1
                    if attempt == attempts:
                        lost = RowsLostError(self.name, self._buffer, error)
                        self._buffer.clear()
                        log.error("%s", lost)  # noqa: TRY400 - the cause is in the message; no traceback per close
                        raise lost from error
                    await asyncio.sleep(min(self.retry_delay * 2 ** (attempt - 1), CLOSE_RETRY_MAX_SECONDS))
        finally:
            if self._spill is not None:
                self._spill.close()
            async with self._room:
                self._room.notify_all()

    def flush_on_signals(self, signals: Sequence[signal.Signals] = (signal.SIGTERM,)) -> None:
        """Write the buffer out when one of ``signals`` arrives, then pass the signal on (``db.signals``).

        ``Database.flush_on_signals`` does this for every writer of the facade at once.
        """
        flush_then_chain(signals, self.flush, name=self.name)

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"guildbase-writer-{self.name}")
            self._task.add_done_callback(self._ended)

    def _ended(self, task: "asyncio.Task[None]") -> None:
        """The writer task stopped (closed, or cancelled with its loop): the next row starts another."""
        if self._task is task and not self._closed:
            self._task = None

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            if self._closed:
                return
            try:
                await self.flush()
            except Exception as error:
                self.failures += 1
                self._streak += 1
                delay = min(self.retry_delay * 2 ** (self._streak - 1), self.max_retry_delay)
                if self._streak == 1:  # once per episode; the traceback once, not per attempt
                    log.warning("writing %d %s failed; kept, retrying with back-off", self.pending, self.name)
                    log.debug("the first failure", exc_info=error)
                # Only close() cuts the wait short: new rows arriving must not trigger a retry storm.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), timeout=delay)
            else:
                if self._streak:
                    log.warning("writing %s works again after %d failed attempts", self.name, self._streak)
                self._streak = 0
                self._refill()
                if len(self._buffer) >= self.batch_size:
                    self._wake.set()
