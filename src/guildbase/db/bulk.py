"""A bounded, buffered writer for append-only rows (command log, event trail …).

Callers hand rows to ``put``; a background task writes them in batches (by
size or after ``interval`` seconds, whichever comes first) through a write
function, typically one binary COPY in one transaction. Guarantees:

- bounded memory: at most ``max_pending`` rows wait (or are being written);
  ``put`` then waits for a flush to make room (back-pressure) instead of
  growing the buffer;
- no loss on failure: a batch leaves the buffer only after its write
  succeeded, so a failed flush keeps every row for the next attempt;
- no loss on a clean stop: ``close`` stops accepting rows and writes
  everything accepted before it (``Database.close`` calls it), and
  ``flush_on_signals`` writes the buffer out when the process is told to stop.

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

from guildbase.errors import GuildbaseError

log = logging.getLogger("guildbase.bulk")

Row = tuple[Any, ...]
WriteBatch = Callable[[Sequence[Row]], Awaitable[None]]


class WriterClosedError(GuildbaseError):
    """The writer was closed; rows can no longer be accepted."""


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
        concurrency: int = 2,
    ) -> None:
        if batch_size < 1 or max_pending < batch_size:
            msg = f"batch_size must be >= 1 and max_pending >= batch_size, got {batch_size}, {max_pending}"
            raise ValueError(msg)
        self.name = name
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.interval = interval
        self.retry_delay = retry_delay
        self.concurrency = max(1, concurrency)
        self.accepted = 0
        self.written = 0
        self.failures = 0
        self._write = write
        self._buffer: deque[Row] = deque()
        self._in_flight = 0
        self._room = asyncio.Condition()
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._signal_tasks: set[asyncio.Task[int]] = set()
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
        """Accept ``row`` if there is room right now (no await); False means call ``put``."""
        if self._closed or self.pending >= self.max_pending:
            return False
        self._buffer.append(row)
        self.accepted += 1
        if self._task is None or self._task.done():
            self._ensure_task()
        if len(self._buffer) >= self.batch_size:
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
                    size = min(self.batch_size, len(self._buffer), target - done - taken)
                    batches.append([self._buffer.popleft() for _ in range(size)])
                    taken += size
                self._in_flight += taken
                try:
                    outcomes = await asyncio.gather(*(self._write(b) for b in batches), return_exceptions=True)
                except asyncio.CancelledError:
                    for batch in reversed(batches):  # at least once: a committed batch may come back
                        self._buffer.extendleft(reversed(batch))
                    raise
                finally:
                    self._in_flight -= taken
                failed = [(b, o) for b, o in zip(batches, outcomes, strict=True) if isinstance(o, BaseException)]
                for batch, _ in reversed(failed):
                    self._buffer.extendleft(reversed(batch))
                written = taken - sum(len(b) for b, _ in failed)
                done += written
                self.written += written
                async with self._room:
                    self._room.notify_all()
                if failed:
                    raise failed[0][1]
            return done

    async def close(self, *, attempts: int = 3) -> None:
        """Stop accepting rows and write everything accepted; raises if rows could not be written."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            # Never cancel a batch mid-COPY: let the running flush finish, then take over.
            await self._task
            self._task = None
        for attempt in range(1, attempts + 1):
            try:
                await self.flush()
                break
            except Exception as error:
                self.failures += 1
                if attempt == attempts:
                    msg = f"{self.pending} {self.name} could not be written at close: {error}"
                    raise GuildbaseError(msg) from error
                await asyncio.sleep(self.retry_delay * attempt)
        async with self._room:
            self._room.notify_all()

    def flush_on_signals(self, signals: Sequence[signal.Signals] = (signal.SIGTERM,)) -> None:
        """Write the buffer out as soon as one of ``signals`` arrives (Unix event loops)."""
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.add_signal_handler(sig, self._flush_soon)

    def _flush_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.flush())
        self._signal_tasks.add(task)
        task.add_done_callback(self._signal_done)

    def _signal_done(self, task: "asyncio.Task[int]") -> None:
        self._signal_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("flushing %s on a signal failed; they stay buffered", self.name, exc_info=task.exception())

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"guildbase-writer-{self.name}")

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            if self._closed:
                return
            try:
                await self.flush()
            except Exception:
                self.failures += 1
                log.warning("writing %d %s failed; kept for retry", self.pending, self.name, exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.retry_delay)
