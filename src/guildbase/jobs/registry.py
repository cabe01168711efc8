"""Which job kinds a worker runs, and the context a handler gets.

A handler is ``async def handler(ctx: JobContext) -> None``. It performs the
outside effect (the Discord call) and hands its database follow-ups to
``ctx.then(write)``; the runner runs every ``write(session)`` in the same
transaction that marks the job done, so the follow-ups commit exactly when the
job does, and never for a worker whose claim went stale. Raising fails the
attempt (retried with backoff while the budget lasts).

A typed kind's handler is ``async def handler(ctx, payload: Model) -> None``:
``registry.register(TICKET_AUTOCLOSE, close)`` with a ``JobKind``, or
``@registry.handler("ticket.autoclose", payload=AutoClosePayload)``. The
payload is validated by the model before the handler sees it.

Handlers must be idempotent: a worker can die after the effect but before the
commit, and the next attempt repeats the effect. ``ctx.attempt`` (1, 2, …)
lets a handler make the repeat harmless, e.g. as part of an idempotency key.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.db.unit_of_work import AfterCommit
from guildbase.errors import ConflictError, ValidationError
from guildbase.models.jobs import JobKind, JobRead, check_kind_name

if TYPE_CHECKING:
    from guildbase.database import Database

Write = Callable[[AsyncSession], Awaitable[object]]
"""A follow-up write, run inside the transaction that marks the job done."""
P = TypeVar("P", bound=BaseModel)


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
TypedHandler = Callable[[JobContext, P], Awaitable[None]]
"""A handler of a typed kind: it gets the job's payload validated by the kind's model."""
GiveUp = Callable[[JobContext, AsyncSession], Awaitable[object]]
"""Runs in the transaction that marks a job failed for good (e.g. mark its reminder failed);
``ctx.job`` is the failed job, with ``last_error`` set."""


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered kind: its handler (payload already bound), give-up hook, payload model and schedule."""

    kind: str
    handler: Handler
    on_give_up: GiveUp | None = None
    every: timedelta | None = None
    max_attempts: int | None = None
    payload: type[BaseModel] | None = None
    """The payload model the kind's jobs are validated by, when enqueued (``db.jobs.use``) and when run."""


class JobRegistry:
    """The kinds a worker claims, keyed by kind; a worker never claims a kind it has no handler for.

    A typed kind (a ``JobKind``, or a name with ``payload=Model``) hands its
    handler the payload validated by the model. A payload that does not
    validate fails the attempt with an error naming the field (it is never
    passed to the handler half-checked).
    """

    def __init__(self) -> None:
        self._registrations: dict[str, Registration] = {}

    @overload
    def register(self, kind: JobKind[P], handler: TypedHandler[P], *, on_give_up: GiveUp | None = None) -> None: ...
    @overload
    def register(
        self, kind: str, handler: TypedHandler[P], *, payload: type[P], on_give_up: GiveUp | None = None
    ) -> None: ...
    @overload
    def register(self, kind: str, handler: Handler, *, on_give_up: GiveUp | None = None) -> None: ...
    def register(
        self,
        kind: "str | JobKind[Any]",
        handler: Callable[..., Awaitable[None]],
        *,
        payload: type[BaseModel] | None = None,
        on_give_up: GiveUp | None = None,
    ) -> None:
        """Handle jobs of ``kind`` (enqueued by a controller's ``enqueue_in`` or by ``db.jobs.enqueue``)."""
        if isinstance(kind, JobKind):
            typed: JobKind[Any] | None = kind
        else:
            typed = None if payload is None else JobKind(check_kind_name("kind", kind), payload)
        name = typed.name if typed is not None else check_kind_name("kind", str(kind))
        model = None if typed is None else typed.payload
        self._add(Registration(name, _bind(typed, handler), on_give_up, payload=model))

    @overload
    def every(
        self, kind: JobKind[P], interval: timedelta, handler: TypedHandler[P], *, max_attempts: int | None = None
    ) -> None: ...
    @overload
    def every(self, kind: str, interval: timedelta, handler: Handler, *, max_attempts: int | None = None) -> None: ...
    def every(
        self,
        kind: "str | JobKind[Any]",
        interval: timedelta,
        handler: Callable[..., Awaitable[None]],
        *,
        max_attempts: int | None = None,
    ) -> None:
        """Run ``handler`` every ``interval`` in exactly one worker (maintenance jobs register here).

        The runner makes sure a run is scheduled when it starts; each finished
        or failed run schedules the next, so restarts neither skip nor double it.
        A ``JobKind``'s handler gets its payload as the model's defaults (the
        runner schedules it without one).
        """
        if interval < timedelta(seconds=1):
            raise ValidationError.single("interval", "min", f"must be at least one second, got {interval}")
        typed = kind if isinstance(kind, JobKind) else None
        name = typed.name if typed is not None else check_kind_name("kind", str(kind))
        model = None if typed is None else typed.payload
        self._add(Registration(name, _bind(typed, handler), every=interval, max_attempts=max_attempts, payload=model))

    @overload
    def handler(
        self, kind: JobKind[P], *, on_give_up: GiveUp | None = None
    ) -> Callable[[TypedHandler[P]], TypedHandler[P]]: ...
    @overload
    def handler(
        self, kind: str, *, payload: type[P], on_give_up: GiveUp | None = None
    ) -> Callable[[TypedHandler[P]], TypedHandler[P]]: ...
    @overload
    def handler(self, kind: str, *, on_give_up: GiveUp | None = None) -> Callable[[Handler], Handler]: ...
    def handler(
        self, kind: "str | JobKind[Any]", *, payload: type[BaseModel] | None = None, on_give_up: GiveUp | None = None
    ) -> Callable[[Any], Any]:
        """Decorator form of ``register``: ``@registry.handler("ticket.autoclose", payload=AutoClose)``."""

        def decorate(function: Any) -> Any:
            if isinstance(kind, JobKind):
                self.register(kind, function, on_give_up=on_give_up)
            elif payload is not None:
                self.register(kind, function, payload=payload, on_give_up=on_give_up)
            else:
                self.register(kind, function, on_give_up=on_give_up)
            return function

        return decorate

    def get(self, kind: str) -> Registration | None:
        """The registration of ``kind``, or None when this registry does not handle it."""
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


def _bind(kind: "JobKind[Any] | None", handler: Callable[..., Awaitable[None]]) -> Handler:
    """The handler as the runner calls it: ``handler(ctx)``, or ``handler(ctx, payload)`` for a typed kind."""
    if kind is None:
        return handler

    async def typed(ctx: JobContext) -> None:
        await handler(ctx, kind.parse(ctx.job.payload))

    return typed
