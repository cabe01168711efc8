"""Job rules: enqueue, claim with ``SKIP LOCKED`` under a lease, and record fenced outcomes.

Guarantees:

- ``enqueue_in`` / ``cancel_in`` write in the caller's unit of work, so a
  domain's timed work commits (or is cancelled) atomically with its row. A
  ``JobKind``'s payload is validated by its model before anything is written;
  a string kind is checked against the registry given to ``use``, when there is one.

- Claiming is one ``UPDATE … WHERE job_id IN (SELECT … FOR UPDATE SKIP LOCKED
  LIMIT n) RETURNING``: no two workers get the same job, and they pass over
  each other's rows instead of queueing. The claim increments ``attempts`` in
  SQL and sets ``locked_by`` / ``locked_until`` (the lease).
- A running job whose lease ran out is claimable again (its worker died or
  hung). If that was its last allowed attempt it is handed out once more as
  *expired*, so the runner records the failure (and its give-up hook) instead
  of running it again.
- Every outcome (``complete_in``, ``fail_in``, ``release``, ``renew``) is fenced
  on ``status = 'running' AND attempts = :attempt AND locked_by = :worker``: a
  worker whose lease ran out cannot overwrite a newer attempt's outcome.
- The time is the database's (``statement_timestamp()``), never a worker's
  clock, so workers on several machines agree on what is due and when a lease
  ends (and, unlike ``now()``, it moves on inside one long transaction).

Partial-index filters use inline literals (``status = 'pending'``): a generic
prepared plan cannot prove a bind parameter matches an index predicate.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.job_queries import LIVE_KEY, claimable_query, expired_query, fence, is_status, schedule_next
from guildbase.db.rows import read_all
from guildbase.db.validation import (
    cut_text,
    duration,
    instance,
    instances,
    integer,
    mapping,
    moment,
    optional_text,
    page_limit,
    positive,
    texts,
    unit_of_work,
    validate,
)
from guildbase.db.validation import text as checked_text
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.jobs import (
    DEDUPE_KEY_MAX_LENGTH,
    ERROR_MAX_LENGTH,
    KIND_MAX_LENGTH,
    MAX_ATTEMPTS_LIMIT,
    WORKER_MAX_LENGTH,
    Job,
    JobCreate,
    JobKind,
    JobKindStatus,
    JobRead,
    JobStatus,
    check_kind_name,
)

if TYPE_CHECKING:
    from guildbase.jobs.registry import JobRegistry

__all__ = [
    "LEASE_EXPIRED_ERROR",
    "MAX_CLAIM_BATCH",
    "MAX_LIST",
    "MAX_PURGE",
    "MIN_EVERY",
    "RECURRING_KEY",
    "Claim",
    "JobController",
]

MAX_CLAIM_BATCH = 500
MAX_LIST = 100
MAX_PURGE = 100_000
MIN_EVERY = timedelta(seconds=1)
LEASE_EXPIRED_ERROR = "the worker's lease ran out on the last allowed attempt (it died, hung or was cut off)"
RECURRING_KEY = "every"
"""``dedupe_key`` of a recurring job's runs: one live run per kind."""


@dataclass(frozen=True, slots=True)
class Claim:
    """What one ``claim`` handed to a worker.

    Attributes:
        jobs: leased jobs to run now, ``attempts`` already counting this attempt.
        expired: jobs whose previous worker's lease ran out on their last allowed
            attempt; the worker records their failure without running them.
    """

    jobs: list[JobRead]
    expired: list[JobRead]


def _check_kinds(kinds: object) -> list[str]:
    return texts("kinds", kinds, max_length=KIND_MAX_LENGTH, min_items=1)


class JobController(Controller):
    """The durable job queue (``db.jobs``): what the runner and the ``guildbase jobs`` commands use."""

    registry: "JobRegistry | None" = None
    """The handlers this process knows (``use``); when set, untyped kinds without one are refused."""

    def use(self, registry: "JobRegistry") -> None:
        """Check string kinds enqueued from this process against ``registry`` (and their payload models).

        A ``JobKind`` carries its own payload model and is always accepted: its
        handler may run in another process (the bot), and ``guildbase jobs
        status --handlers …`` reports kinds that nobody handles.
        """
        self.registry = registry

    async def enqueue(
        self,
        kind: "str | JobKind[Any]",
        *,
        run_at: datetime | None = None,
        payload: BaseModel | Mapping[str, Any] | None = None,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
        every: timedelta | None = None,
        guild_id: int | None = None,
    ) -> JobRead:
        """``enqueue_in`` in a transaction of its own (work not tied to a domain row)."""
        async with self._write() as session:
            return await self.enqueue_in(
                session,
                kind,
                run_at=run_at,
                payload=payload,
                dedupe_key=dedupe_key,
                max_attempts=max_attempts,
                every=every,
                guild_id=guild_id,
            )

    async def enqueue_in(
        self,
        session: AsyncSession,
        kind: "str | JobKind[Any]",
        *,
        run_at: datetime | None = None,
        payload: BaseModel | Mapping[str, Any] | None = None,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
        every: timedelta | None = None,
        guild_id: int | None = None,
    ) -> JobRead:
        """Schedule ``kind`` at ``run_at`` (default: now) inside the caller's unit of work.

        The job commits or rolls back with whatever else ``session`` writes (the
        domain row it is about), and the ``job`` table's NOTIFY trigger wakes idle
        runners when that transaction commits, never before.

        Args:
            session: the caller's unit of work (``async with db.session() as session``).
            kind: a ``JobKind`` (its payload model validates ``payload``) or a
                kind name; a name is checked against the registry given to
                ``use`` when there is one (unknown → ``ValidationError``).
            run_at: when the job is due (aware); None means the database's now.
            payload: the payload model instance, or a mapping validated by it.
            dedupe_key: at most one pending or running job per (kind, key): an
                existing live job is returned instead of adding another. Also
                the handle ``cancel_in`` finds the job by.
            max_attempts: the attempt budget (default ``GUILDBASE_JOBS_MAX_ATTEMPTS``).
            every: the job recurs; each finished (or failed) run schedules the next.
            guild_id: the guild the job belongs to; deleting the guild deletes it.

        Raises:
            ValidationError: a bad kind, payload (``payload.<field>``), time or
                budget; nothing is written.
        """
        session = unit_of_work(session)
        every = None if every is None else duration("every", every, minimum=MIN_EVERY)
        stored = self._payload(kind, payload)
        name = kind.name if isinstance(kind, JobKind) else kind
        interval = None if every is None else int(every.total_seconds())
        checked = validate(
            JobCreate,
            {
                "kind": name,
                "run_at": moment("run_at", run_at),  # validated; None is replaced by the database's now()
                "payload": stored,
                "dedupe_key": dedupe_key,
                "max_attempts": max_attempts if max_attempts is not None else self._db.settings.jobs_max_attempts,
                "interval_seconds": interval,
                "guild_id": guild_id,
            },
        )
        values = checked.model_dump()
        if run_at is None:
            values["run_at"] = func.statement_timestamp()
        stmt = (
            insert(Job)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["kind", "dedupe_key"], index_where=LIVE_KEY)
            .returning(Job)
        )
        row = (await session.scalars(stmt)).one_or_none()
        if row is None:
            live = select(Job).where(
                col(Job.kind) == checked.kind,
                col(Job.dedupe_key) == checked.dedupe_key,
                col(Job.status).in_([JobStatus.PENDING, JobStatus.RUNNING]),
            )
            row = (await session.scalars(live)).one()
        return JobRead.model_validate(row)

    async def cancel_in(self, session: AsyncSession, kind: "str | JobKind[Any]", dedupe_key: str) -> int:
        """Cancel the live job of ``kind`` with ``dedupe_key`` inside the caller's unit of work; how many went.

        The pending or running job is deleted when the transaction commits (a
        cancelled reminder, a voided case, a cleared AFK): nothing runs it later.
        A worker already running it loses its claim, so its outcome and
        follow-up writes are discarded (its outside effect may have happened;
        handlers re-check their row). Finished jobs stay as history.
        """
        session = unit_of_work(session)
        name = check_kind_name("kind", kind.name if isinstance(kind, JobKind) else kind)
        dedupe_key = checked_text("dedupe_key", dedupe_key, min_length=1, max_length=DEDUPE_KEY_MAX_LENGTH)
        stmt = delete(Job).where(
            col(Job.kind) == name,
            col(Job.dedupe_key) == dedupe_key,
            col(Job.status).in_([JobStatus.PENDING, JobStatus.RUNNING]),
        )
        return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    def _payload(self, kind: "str | JobKind[Any]", payload: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
        """The payload to store: validated by the kind's model when one is known."""
        if isinstance(kind, JobKind):
            return kind.dump(payload if payload is not None else {})
        check_kind_name("kind", kind)
        model: type[BaseModel] | None = None
        if self.registry is not None:
            registration = self.registry.get(kind)
            if registration is None:
                known = ", ".join(self.registry.kinds) or "none"
                msg = f"no handler is registered for {kind!r} (registered: {known}); register it before enqueueing"
                raise ValidationError.single("kind", "unregistered", msg)
            model = registration.payload
        if model is not None:
            return JobKind(kind, model).dump(payload if payload is not None else {})
        if isinstance(payload, BaseModel):
            return payload.model_dump(mode="json")
        return mapping("payload", payload)

    async def schedule(
        self, kind: str, *, every: timedelta, payload: dict[str, Any] | None = None, max_attempts: int | None = None
    ) -> JobRead:
        """Make sure recurring ``kind`` has a live run (the first one runs now); safe from every process."""
        every = duration("every", every, minimum=MIN_EVERY)
        return await self.enqueue(
            kind, payload=payload, dedupe_key=RECURRING_KEY, max_attempts=max_attempts, every=every
        )

    async def get(self, job_id: int) -> JobRead | None:
        """One job, whatever its status."""
        job_id = positive("job_id", job_id)
        async with self._write() as session:
            row = await session.get(Job, job_id)
            return None if row is None else JobRead.model_validate(row)

    async def claim(self, kinds: Sequence[str], *, worker: str, limit: int, lease: timedelta) -> Claim:
        """Lease up to ``limit`` due jobs of ``kinds`` to ``worker``, soonest first."""
        kinds = _check_kinds(kinds)
        worker = checked_text("worker", worker, min_length=1, max_length=WORKER_MAX_LENGTH)
        lease, limit = duration("lease", lease, positive=True), page_limit(limit, MAX_CLAIM_BATCH)
        lock = {
            "locked_by": worker,
            "locked_until": func.statement_timestamp() + lease,
            "updated_at": func.statement_timestamp(),
        }
        take_expired = (
            update(Job).where(col(Job.job_id).in_(expired_query(kinds, limit=limit))).values(**lock).returning(Job)
        )
        take = (
            update(Job)
            .where(col(Job.job_id).in_(claimable_query(kinds, limit=limit)))
            .values(status=JobStatus.RUNNING, attempts=col(Job.attempts) + 1, **lock)
            .returning(Job)
        )
        options = {"populate_existing": True}
        async with self._write() as session:
            expired = read_all(JobRead, await session.scalars(take_expired, execution_options=options))
            jobs = read_all(JobRead, await session.scalars(take, execution_options=options))
        jobs.sort(key=lambda job: (job.run_at, job.job_id))
        return Claim(jobs=jobs, expired=expired)

    async def complete_in(self, session: AsyncSession, job: JobRead) -> bool:
        """Mark the claimed ``job`` done inside the caller's transaction; False if the claim is stale.

        Call it first in the transaction that also writes the handler's
        follow-ups: it locks the job row, and a stale claim should write nothing.
        A recurring job schedules its next run in the same transaction.
        """
        session, job = unit_of_work(session), instance("job", job, JobRead)
        stmt = (
            update(Job)
            .where(*fence(job))
            .values(
                status=JobStatus.DONE,
                finished_at=func.statement_timestamp(),
                updated_at=func.statement_timestamp(),
                locked_until=None,
                last_error=None,
            )
        )
        if not (await session.execute(stmt)).rowcount:  # type: ignore[attr-defined]
            return False
        await schedule_next(session, job)
        return True

    async def fail_in(
        self, session: AsyncSession, job: JobRead, *, error: str, retry_after: timedelta
    ) -> JobRead | None:
        """Record a failed attempt: retry after ``retry_after`` while the budget lasts, else fail it.

        Returns the updated job (``status`` says which), or None when the claim is stale.
        """
        session, job = unit_of_work(session), instance("job", job, JobRead)
        error = cut_text("error", error, max_length=ERROR_MAX_LENGTH)
        retry_after = duration("retry_after", retry_after)
        spent = job.attempts >= job.max_attempts
        values: dict[str, Any] = {
            "last_error": error,
            "locked_until": None,
            "updated_at": func.statement_timestamp(),
        }
        if spent:
            values |= {"status": JobStatus.FAILED, "finished_at": func.statement_timestamp()}
        else:
            values |= {
                "status": JobStatus.PENDING,
                "run_at": func.statement_timestamp() + retry_after,
                "locked_by": None,
            }
        stmt = update(Job).where(*fence(job)).values(**values).returning(Job)
        row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
        if row is None:
            return None
        if spent:
            await schedule_next(session, job)
        return JobRead.model_validate(row)

    async def fail(self, job: JobRead, *, error: str, retry_after: timedelta) -> JobRead | None:
        """``fail_in`` in its own transaction."""
        job = instance("job", job, JobRead)
        error = cut_text("error", error, max_length=ERROR_MAX_LENGTH)
        retry_after = duration("retry_after", retry_after)
        async with self._write() as session:
            return await self.fail_in(session, job, error=error, retry_after=retry_after)

    async def release(self, jobs: Sequence[JobRead]) -> int:
        """Hand claimed jobs back unrun (a worker shutting down): pending now, the attempt not counted."""
        jobs = instances("jobs", jobs, JobRead)
        released = 0
        async with self._write() as session:
            for job in jobs:
                stmt = (
                    update(Job)
                    .where(*fence(job))
                    .values(
                        status=JobStatus.PENDING,
                        attempts=col(Job.attempts) - 1,
                        locked_by=None,
                        locked_until=None,
                        updated_at=func.statement_timestamp(),
                    )
                )
                released += (await session.execute(stmt)).rowcount  # type: ignore[attr-defined]
        return released

    async def renew(self, jobs: Sequence[JobRead], *, lease: timedelta) -> int:
        """Extend the lease of jobs still running under these claims (the runner's heartbeat)."""
        jobs, lease = instances("jobs", jobs, JobRead), duration("lease", lease, positive=True)
        renewed = 0
        async with self._write() as session:
            for job in jobs:
                stmt = update(Job).where(*fence(job)).values(locked_until=func.statement_timestamp() + lease)
                renewed += (await session.execute(stmt)).rowcount  # type: ignore[attr-defined]
        return renewed

    async def seconds_until_due(self, kinds: Sequence[str]) -> float | None:
        """Seconds until the next job of ``kinds`` is due or a lease lapses (<= 0: now); None if nothing waits."""
        kinds = _check_kinds(kinds)
        pending = select(func.min(col(Job.run_at))).where(is_status(JobStatus.PENDING), col(Job.kind).in_(kinds))
        leased = select(func.min(col(Job.locked_until))).where(is_status(JobStatus.RUNNING), col(Job.kind).in_(kinds))
        soonest = func.least(pending.scalar_subquery(), leased.scalar_subquery())
        stmt = select(func.extract("epoch", soonest - func.statement_timestamp()))
        async with self._write() as session:
            value = (await session.execute(stmt)).scalar_one_or_none()
        return None if value is None else float(value)

    async def status(self) -> list[JobKindStatus]:
        """Due, scheduled, running and failed counts per kind (``guildbase jobs status``)."""
        pending, due = is_status(JobStatus.PENDING), col(Job.run_at) <= func.statement_timestamp()
        stmt = (
            select(
                col(Job.kind),
                func.count().filter(pending, due),
                func.count().filter(pending, col(Job.run_at) > func.statement_timestamp()),
                func.count().filter(is_status(JobStatus.RUNNING)),
                func.count().filter(is_status(JobStatus.FAILED)),
            )
            .where(col(Job.status) != literal_column(f"'{JobStatus.DONE.value}'"))
            .group_by(col(Job.kind))
            .order_by(col(Job.kind))
        )
        async with self._write() as session:
            rows = (await session.execute(stmt)).all()
        return [JobKindStatus(kind=kind, due=d, scheduled=s, running=r, failed=f) for kind, d, s, r, f in rows]

    async def failed(self, *, kind: str | None = None, limit: int = 20) -> list[JobRead]:
        """Failed jobs, most recently failed first (what ``jobs status`` lists under the counts)."""
        kind = optional_text("kind", kind, max_length=KIND_MAX_LENGTH)
        limit = page_limit(limit, MAX_LIST)
        stmt = select(Job).where(is_status(JobStatus.FAILED))
        if kind is not None:
            stmt = stmt.where(col(Job.kind) == kind)
        stmt = stmt.order_by(col(Job.finished_at).desc(), col(Job.job_id).desc()).limit(limit)
        async with self._write() as session:
            return read_all(JobRead, await session.scalars(stmt))

    async def retry(self, job_id: int, *, attempts: int | None = None) -> JobRead:
        """Run a failed (or waiting) job again now, with ``attempts`` more tries (default: the kind budget).

        ``attempts`` never goes down, so earlier claims stay fenced out; the
        budget grows instead.

        Raises:
            NotFoundError: no such job.
            ConflictError: the job is running or already done.
        """
        job_id = positive("job_id", job_id)
        budget = attempts if attempts is not None else self._db.settings.jobs_max_attempts
        budget = integer("attempts", budget, minimum=1, maximum=MAX_ATTEMPTS_LIMIT)
        stmt = (
            update(Job)
            .where(col(Job.job_id) == job_id, col(Job.status).in_([JobStatus.FAILED, JobStatus.PENDING]))
            .values(
                status=JobStatus.PENDING,
                run_at=func.statement_timestamp(),
                max_attempts=col(Job.attempts) + budget,
                finished_at=None,
                locked_by=None,
                locked_until=None,
                updated_at=func.statement_timestamp(),
            )
            .returning(Job)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
            if row is not None:
                return JobRead.model_validate(row)
            existing = await session.get(Job, job_id)
        if existing is None:
            raise NotFoundError(f"job_id: job {job_id} does not exist")
        raise ConflictError(f"job {job_id} is {existing.status.value}; only failed or pending jobs can be retried")

    async def purge(self, *, older_than: timedelta, limit: int = 10_000) -> int:
        """Delete up to ``limit`` done jobs finished more than ``older_than`` ago (a maintenance job)."""
        older_than, limit = duration("older_than", older_than), page_limit(limit, MAX_PURGE)
        doomed = (
            select(col(Job.job_id))
            .where(is_status(JobStatus.DONE), col(Job.finished_at) < func.statement_timestamp() - older_than)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._write() as session:
            result = await session.execute(delete(Job).where(col(Job.job_id).in_(doomed)))
            return int(result.rowcount)  # type: ignore[attr-defined]
