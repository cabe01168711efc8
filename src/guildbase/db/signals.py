"""Write buffered rows out when the process is told to stop, then let the stop happen.

``flush_then_chain`` installs an event-loop handler for each signal. When the
signal arrives it runs ``flush`` (bounded by ``timeout``), then hands the
signal on to whatever handled it before: an earlier event-loop handler, a
Python handler (``signal.signal``), nothing (``SIG_IGN``), or the default
action, which is re-delivered so the process ends exactly as it would have
without guildbase (SIGTERM: killed by the signal). The signal is never
swallowed. A second signal while the flush runs is passed on at once (a
person pressing Ctrl-C twice means it).

SIGKILL cannot be caught: what it loses is bounded by the writers' settings
(``docs/reliability.md``).
"""

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("guildbase.signals")

FLUSH_TIMEOUT_SECONDS = 10.0
"""Longest a stop signal waits for the flush before passing the signal on."""

_running: set[asyncio.Task[None]] = set()


def flush_then_chain(
    signals: Sequence[signal.Signals],
    flush: Callable[[], Awaitable[object]],
    *,
    name: str,
    timeout: float = FLUSH_TIMEOUT_SECONDS,
) -> None:
    """On each of ``signals``: await ``flush()`` (at most ``timeout`` s), then pass the signal on."""
    loop = asyncio.get_running_loop()
    for sig in signals:
        handles: dict[int, Any] = getattr(loop, "_signal_handlers", {})  # an earlier loop handler, to chain
        previous_handle = handles.get(sig)
        previous = signal.getsignal(sig)
        state = _Chain(loop, sig, flush, name, timeout, previous_handle=previous_handle, previous=previous)
        loop.add_signal_handler(sig, state.arrived)


@dataclass
class _Chain:
    """One signal's flush-then-pass-on, remembering what handled the signal before."""

    loop: asyncio.AbstractEventLoop
    sig: signal.Signals
    flush: Callable[[], Awaitable[object]]
    name: str
    timeout: float
    previous_handle: Any
    previous: Any
    flushing: bool = False

    def arrived(self) -> None:
        if self.flushing:
            self.pass_on()
            return
        self.flushing = True
        task = self.loop.create_task(self.flush_and_pass_on(), name=f"guildbase-flush-on-{self.sig.name}")
        _running.add(task)
        task.add_done_callback(_running.discard)

    async def flush_and_pass_on(self) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout=self.timeout)
            log.info("%s: %s written out; passing the signal on", self.sig.name, self.name)
        except Exception as error:  # noqa: BLE001 - the signal must be passed on whatever happened
            message = "%s: writing %s out failed (%s); they are lost with this process"
            log.error(message, self.sig.name, self.name, error)  # noqa: TRY400 - the cause is in the line
        finally:
            self.pass_on()

    def pass_on(self) -> None:
        """Restore what handled the signal before us, and give it the signal."""
        with contextlib.suppress(ValueError, RuntimeError):  # loop closed, or not the main thread
            self.loop.remove_signal_handler(self.sig)
        if self.previous_handle is not None:
            callback, args = self.previous_handle._callback, self.previous_handle._args  # noqa: SLF001
            self.loop.add_signal_handler(self.sig, callback, *args)
            callback(*args)
        elif callable(self.previous):
            signal.signal(self.sig, self.previous)
            self.previous(self.sig, None)
        elif self.previous == signal.SIG_IGN:
            signal.signal(self.sig, signal.SIG_IGN)
        else:
            signal.signal(self.sig, signal.SIG_DFL)
            os.kill(os.getpid(), self.sig)  # the default action: the process stops as it would have
