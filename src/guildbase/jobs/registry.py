"""Which job kinds a worker runs, and the context a handler gets.

A handler is ``async def handler(ctx: JobContext) -> None``. It performs the
outside effect (the Discord call) and hands its database follow-ups to
``ctx.then(write)``; the runner runs every ``write(session)`` in the same
transaction that marks the job done, so the follow-ups commit exactly when the
job does, and never for a worker whose claim went stale. Raising fails the
attempt (retried with backoff while the budget lasts).

Handlers must be idempotent: a worker can die after the effect but before the
commit, and the next attempt repeats the effect. ``ctx.attempt`` (1, 2, …)
lets a handler make the repeat harmless, e.g. as part of an idempotency key.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.db.unit_of_work import AfterCommit
from guildbase.errors import ConflictError, ValidationError
from guildbase.models.jobs import KIND_MAX_LENGTH, KIND_PATTERN, JobRead

if TYPE_CHECKING:
    from guildbase.database import Database

Write = Callable[[AsyncSession], Awaitable[object]]
"""A follow-up write, run inside the transaction that marks the job done."""


@dataclass(slots=True)
class JobContext:
    """One attempt at one job, as its handler sees it."""

    job: JobRead
    db: "Database"
    worker: str
    writes: list[Write] = field(default_factory=list)
    commit_callbacks: list[AfterCommit] = field(default_factory=list)

    @property
    def attempt(self) -> int:
        """This attempt's number, from 1; it never repeats for the same job."""
        return self.job.attempts

    def then(self, write: Write) -> None:
        """Run ``write(session)`` in the transaction that marks the job done."""
        self.writes.append(write)

    def on_commit(self, callback: AfterCommit) -> None:
        """Run ``callback()`` after that transaction committed (``db.unit_of_work.after_commit`` on it).

        Controllers register their own invalidations on that transaction; this
        is for the handler's own after-commit work.
        """
        self.commit_callbacks.append(callback)


Handler = Callable[[JobContext], Awaitable[None]]
GiveUp = Callable[[JobContext, AsyncSession], Awaitable[object]]
"""Runs in the transaction that marks a job failed for good (e.g. mark its reminder failed);
``ctx.job`` is the failed job, with ``last_error`` set."""


@dataclass(frozen=True, slots=True)
class Registration:
    kind: str
    handler: Handler
    on_give_up: GiveUp | None = None
    every: timedelta | None = None
    max_attempts: int | None = None


class JobRegistry:
    """The kinds a worker claims; a worker never claims a kind it has no handler for."""

    def __init__(self) -> None:
        self._registrations: dict[str, Registration] = {}

    def register(self, kind: str, handler: Handler, *, on_give_up: GiveUp | None = None) -> None:
        """Handle jobs of ``kind`` (enqueued by a trigger or by ``db.jobs.enqueue``)."""
        self._add(Registration(_check_kind(kind), handler, on_give_up))

    def every(self, kind: str, interval: timedelta, handler: Handler, *, max_attempts: int | None = None) -> None:
        """Run ``handler`` every ``interval`` in exactly one worker (maintenance jobs register here).

        The runner makes sure a run is scheduled when it starts; each finished
        or failed run schedules the next, so restarts neither skip nor double it.
        """
        if interval < timedelta(seconds=1):
            raise ValidationError.single("interval", "min", f"must be at least one second, got {interval}")
        self._add(Registration(_check_kind(kind), handler, every=interval, max_attempts=max_attempts))

    def handler(self, kind: str, *, on_give_up: GiveUp | None = None) -> Callable[[Handler], Handler]:
        """Decorator form of ``register``."""

        def decorate(function: Handler) -> Handler:
            self.register(kind, function, on_give_up=on_give_up)
            return function

        return decorate

    def get(self, kind: str) -> Registration | None:
        return self._registrations.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._registrations)

    @property
    def recurring(self) -> list[Registration]:
        return [r for r in self._registrations.values() if r.every is not None]

    def _add(self, registration: Registration) -> None:
        if registration.kind in self._registrations:
            raise ConflictError(f"kind: {registration.kind!r} already has a handler")
        self._registrations[registration.kind] = registration


def _check_kind(kind: str) -> str:
    if not (1 <= len(kind) <= KIND_MAX_LENGTH and re.fullmatch(KIND_PATTERN, kind)):
        msg = f"must be 1-{KIND_MAX_LENGTH} characters of a-z, 0-9, '_' and '.', starting with a letter; got {kind!r}"
        raise ValidationError.single("kind", "pattern", msg)
    return kind
