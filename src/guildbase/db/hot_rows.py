"""Admission to a hot row: how many of this process's statements may wait on one guild's counter at once.

Every numbered insert of a guild (its cases, notes, tickets, polls) updates the same
``guild_counter`` row, so they run one after another inside PostgreSQL however
many are sent. During a raid, 32 moderators banning at once would otherwise
send 32 statements that each hold a pooled connection while they queue on
that row lock: the pool is empty for every other guild, and PostgreSQL spends
its CPU waking and re-checking the waiters.

``HotRowGate`` lets ``width`` statements per row into PostgreSQL at once
(enough to keep the row busy: the next one is already waiting when a commit
frees it) and queues the rest in this process, where waiting holds no
connection and costs no server work. It is per process: each process of a
deployment has its own, and numbers stay exact either way, because the row
lock, not the gate, is what orders them.
"""

import asyncio
from types import TracebackType

__all__ = ["DEFAULT_WIDTH", "HotRowGate"]

DEFAULT_WIDTH = 4
"""Statements per row let through at once (``Settings.counter_admission``); W2 measures it."""


class _Slot:
    """One row's semaphore and how many hold or wait for it (dropped at 0, so idle guilds cost nothing)."""

    __slots__ = ("semaphore", "users")

    def __init__(self, width: int) -> None:
        self.semaphore = asyncio.Semaphore(width)
        self.users = 0


class _Admission:
    """One pass through the gate for ``key``."""

    __slots__ = ("_gate", "_key", "_slot")

    def __init__(self, gate: "HotRowGate", key: tuple[int, str]) -> None:
        self._gate = gate
        self._key = key
        self._slot: _Slot | None = None

    async def __aenter__(self) -> None:
        slot = self._gate.slot(self._key)
        slot.users += 1
        self._slot = slot
        try:
            await slot.semaphore.acquire()
        except BaseException:  # cancelled while queued: leave without a pass
            self._leave(slot)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        slot = self._slot
        assert slot is not None  # noqa: S101 - entered first
        slot.semaphore.release()
        self._leave(slot)

    def _leave(self, slot: _Slot) -> None:
        slot.users -= 1
        if slot.users == 0:
            self._gate.drop(self._key)


class HotRowGate:
    """Per ``(guild_id, counter kind)``: at most ``width`` holders at once, the others queue in arrival order."""

    def __init__(self, width: int = DEFAULT_WIDTH) -> None:
        if width < 1:
            msg = f"width must be at least 1, got {width}"
            raise ValueError(msg)
        self.width = width
        self._slots: dict[tuple[int, str], _Slot] = {}

    def admit(self, guild_id: int, kind: str) -> _Admission:
        """``async with gate.admit(guild_id, kind):`` around the checkout and the statement.

        Taken only at a controller's entry point, before any session or
        connection: a statement that runs inside an admitted one (an
        escalation's follow-up case) must not ask again, or ``width`` parents
        could wait forever on their own children.
        """
        return _Admission(self, (guild_id, kind))

    def slot(self, key: tuple[int, str]) -> _Slot:
        """The row's slot, made on first use."""
        found = self._slots.get(key)
        if found is None:
            found = self._slots[key] = _Slot(self.width)
        return found

    def drop(self, key: tuple[int, str]) -> None:
        """Forget an idle row's slot."""
        self._slots.pop(key, None)

    def users(self, guild_id: int, kind: str) -> int:
        """Holders plus waiters for the row right now (0 when idle, and then no slot is kept)."""
        found = self._slots.get((guild_id, kind))
        return 0 if found is None else found.users

    def queued(self) -> int:
        """Creations of this process waiting in the gate now, over every row (``guildbase_counter_gate_queued``).

        The metrics endpoint calls it from its own thread: ``tuple()`` copies
        the slots in one step under the GIL, so the loop cannot resize the dict
        mid-iteration.
        """
        return sum(max(0, slot.users - self.width) for slot in tuple(self._slots.values()))

    def __len__(self) -> int:
        """Rows with a holder or a waiter now (``guildbase_counter_gate_rows``)."""
        return len(self._slots)
