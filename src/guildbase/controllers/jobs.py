"""Job rules: enqueue, claim with ``SKIP LOCKED`` under a lease, and record fenced outcomes.

Guarantees:

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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, literal_column, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.types import utcnow
from guildbase.db.validation import validate
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.jobs import (
    ERROR_MAX_LENGTH,
    MAX_ATTEMPTS_LIMIT,
    WORKER_MAX_LENGTH,
    Job,
    JobCreate,
    JobKindStatus,
    JobRead,
    JobStatus,
)

MAX_CLAIM_BATCH = 500
MAX_LIST = 100
LEASE_EXPIRED_ERROR = "the worker's lease ran out on the last allowed attempt (it died, hung or was cut off)"
RECURRING_KEY = "every"
"""``dedupe_key`` of a recurring job's runs: one live run per kind."""


def _is(status: JobStatus) -> ColumnElement[bool]:
    """``status = '<literal>'``, inline so it matches the partial indexes' predicates."""
    return col(Job.status) == literal_column(f"'{status.value}'")


_LIVE_KEY = text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL")


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


def claimable_query(kinds: Sequence[str], *, limit: int) -> Select[int | None]:
    """IDs of due jobs of ``kinds`` with attempts left: pending and due, or running with a lapsed lease."""
    ready = or_(
        and_(_is(JobStatus.PENDING), col(Job.run_at) <= func.statement_timestamp()),
        and_(_is(JobStatus.RUNNING), col(Job.locked_until) <= func.statement_timestamp()),
    )
    return (
        select(col(Job.job_id))
        .where(ready, col(Job.kind).in_(list(kinds)), col(Job.attempts) < col(Job.max_attempts))
        .order_by(col(Job.run_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def expired_query(kinds: Sequence[str], *, limit: int) -> Select[int | None]:
    """IDs of running jobs whose lease lapsed on their last allowed attempt."""
    return (
        select(col(Job.job_id))
        .where(
            _is(JobStatus.RUNNING),
            col(Job.locked_until) <= func.statement_timestamp(),
            col(Job.kind).in_(list(kinds)),
            col(Job.attempts) >= col(Job.max_attempts),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _fence(job: JobRead) -> tuple[ColumnElement[bool], ...]:
    """The claim that ``job`` is: still running, same attempt, same worker."""
    return (
        col(Job.job_id) == job.job_id,
        _is(JobStatus.RUNNING),
        col(Job.attempts) == job.attempts,
        col(Job.locked_by) == job.locked_by,
    )


def _check_kinds(kinds: Sequence[str]) -> list[str]:
    if not kinds:
        raise ValidationError.single("kinds", "min_items", "name at least one job kind to claim")
    return list(kinds)


def _check_worker(worker: str) -> str:
    if not 1 <= len(worker) <= WORKER_MAX_LENGTH:
        raise ValidationError.single("worker", "length", f"must be 1-{WORKER_MAX_LENGTH} characters, got {len(worker)}")
    return worker


def _check_lease(lease: timedelta) -> timedelta:
    if lease <= timedelta(0):
        raise ValidationError.single("lease", "positive", f"must be a positive duration, got {lease}")
    return lease


class JobController(Controller):
    """The durable job queue (``db.jobs``): what the runner and the ``guildbase jobs`` commands use."""

    async def enqueue(
        self,
        kind: str,
        *,
        run_at: datetime | None = None,
        payload: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
        every: timedelta | None = None,
    ) -> JobRead:
        """Schedule ``kind`` at ``run_at`` (default: now); idempotent per ``dedupe_key``.

        With ``dedupe_key``, a pending or running job of the same kind and key is
        returned instead of adding another. With ``every``, the job recurs: each
        finished (or failed) run schedules the next one ``every`` later.
        """
        interval = None if every is None else int(every.total_seconds())
        checked = validate(
            JobCreate,
            {
                "kind": kind,
                "run_at": run_at or utcnow(),  # validated; None is replaced by the database's now()
                "payload": dict(payload or {}),
                "dedupe_key": dedupe_key,
                "max_attempts": max_attempts if max_attempts is not None else self._db.settings.jobs_max_attempts,
                "interval_seconds": interval,
            },
        )
        values = checked.model_dump()
        if run_at is None:
            values["run_at"] = func.statement_timestamp()
        stmt = (
            insert(Job)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["kind", "dedupe_key"], index_where=_LIVE_KEY)
            .returning(Job)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt)).one_or_none()
            if row is None:
                live = select(Job).where(
                    col(Job.kind) == checked.kind,
                    col(Job.dedupe_key) == checked.dedupe_key,
                    col(Job.status).in_([JobStatus.PENDING, JobStatus.RUNNING]),
                )
                row = (await session.scalars(live)).one()
            return JobRead.model_validate(row)

    async def schedule(
        self, kind: str, *, every: timedelta, payload: dict[str, Any] | None = None, max_attempts: int | None = None
    ) -> JobRead:
        """Make sure recurring ``kind`` has a live run (the first one runs now); safe from every process."""
        if every < timedelta(seconds=1):
            raise ValidationError.single("every", "min", f"must be at least one second, got {every}")
        return await self.enqueue(
            kind, payload=payload, dedupe_key=RECURRING_KEY, max_attempts=max_attempts, every=every
        )

    async def get(self, job_id: int) -> JobRead | None:
        """One job, whatever its status."""
        async with self._write() as session:
            row = await session.get(Job, job_id)
            return None if row is None else JobRead.model_validate(row)

    async def claim(self, kinds: Sequence[str], *, worker: str, limit: int, lease: timedelta) -> Claim:
        """Lease up to ``limit`` due jobs of ``kinds`` to ``worker``, soonest first."""
        kinds, worker, lease = _check_kinds(kinds), _check_worker(worker), _check_lease(lease)
        if not 1 <= limit <= MAX_CLAIM_BATCH:
            raise ValidationError.single("limit", "range", f"must be 1-{MAX_CLAIM_BATCH}, got {limit}")
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
            expired = [
                JobRead.model_validate(r) for r in await session.scalars(take_expired, execution_options=options)
            ]
            jobs = [JobRead.model_validate(r) for r in await session.scalars(take, execution_options=options)]
        jobs.sort(key=lambda job: (job.run_at, job.job_id))
        return Claim(jobs=jobs, expired=expired)

    async def complete_in(self, session: AsyncSession, job: JobRead) -> bool:
        """Mark the claimed ``job`` done inside the caller's transaction; False if the claim is stale.

        Call it first in the transaction that also writes the handler's
        follow-ups: it locks the job row, and a stale claim should write nothing.
        A recurring job schedules its next run in the same transaction.
        """
        stmt = (
            update(Job)
            .where(*_fence(job))
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
        await _schedule_next(session, job)
        return True

    async def fail_in(
        self, session: AsyncSession, job: JobRead, *, error: str, retry_after: timedelta
    ) -> JobRead | None:
        """Record a failed attempt: retry after ``retry_after`` while the budget lasts, else fail it.

        Returns the updated job (``status`` says which), or None when the claim is stale.
        """
        if retry_after < timedelta(0):
            raise ValidationError.single("retry_after", "not_negative", f"must not be negative, got {retry_after}")
        spent = job.attempts >= job.max_attempts
        values: dict[str, Any] = {
            "last_error": error[:ERROR_MAX_LENGTH],
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
        stmt = update(Job).where(*_fence(job)).values(**values).returning(Job)
        row = (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
        if row is None:
            return None
        if spent:
            await _schedule_next(session, job)
        return JobRead.model_validate(row)

    async def fail(self, job: JobRead, *, error: str, retry_after: timedelta) -> JobRead | None:
        """``fail_in`` in its own transaction."""
        async with self._write() as session:
            return await self.fail_in(session, job, error=error, retry_after=retry_after)

    async def release(self, jobs: Sequence[JobRead]) -> int:
        """Hand claimed jobs back unrun (a worker shutting down): pending now, the attempt not counted."""
        released = 0
        async with self._write() as session:
            for job in jobs:
                stmt = (
                    update(Job)
                    .where(*_fence(job))
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
        lease = _check_lease(lease)
        renewed = 0
        async with self._write() as session:
            for job in jobs:
                stmt = update(Job).where(*_fence(job)).values(locked_until=func.statement_timestamp() + lease)
                renewed += (await session.execute(stmt)).rowcount  # type: ignore[attr-defined]
        return renewed

    async def seconds_until_due(self, kinds: Sequence[str]) -> float | None:
        """Seconds until the next job of ``kinds`` is due or a lease lapses (<= 0: now); None if nothing waits."""
        kinds = _check_kinds(kinds)
        pending = select(func.min(col(Job.run_at))).where(_is(JobStatus.PENDING), col(Job.kind).in_(kinds))
        leased = select(func.min(col(Job.locked_until))).where(_is(JobStatus.RUNNING), col(Job.kind).in_(kinds))
        soonest = func.least(pending.scalar_subquery(), leased.scalar_subquery())
        stmt = select(func.extract("epoch", soonest - func.statement_timestamp()))
        async with self._write() as session:
            value = (await session.execute(stmt)).scalar_one_or_none()
        return None if value is None else float(value)

    async def status(self) -> list[JobKindStatus]:
        """Due, scheduled, running and failed counts per kind (``guildbase jobs status``)."""
        pending, due = _is(JobStatus.PENDING), col(Job.run_at) <= func.statement_timestamp()
        stmt = (
            select(
                col(Job.kind),
                func.count().filter(pending, due),
                func.count().filter(pending, col(Job.run_at) > func.statement_timestamp()),
                func.count().filter(_is(JobStatus.RUNNING)),
                func.count().filter(_is(JobStatus.FAILED)),
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
        if not 1 <= limit <= MAX_LIST:
            raise ValidationError.single("limit", "range", f"must be 1-{MAX_LIST}, got {limit}")
        stmt = select(Job).where(_is(JobStatus.FAILED))
        if kind is not None:
            stmt = stmt.where(col(Job.kind) == kind)
        stmt = stmt.order_by(col(Job.finished_at).desc(), col(Job.job_id).desc()).limit(limit)
        async with self._write() as session:
            return [JobRead.model_validate(row) for row in await session.scalars(stmt)]

    async def retry(self, job_id: int, *, attempts: int | None = None) -> JobRead:
        """Run a failed (or waiting) job again now, with ``attempts`` more tries (default: the kind budget).

        ``attempts`` never goes down, so earlier claims stay fenced out; the
        budget grows instead.

        Raises:
            NotFoundError: no such job.
            ConflictError: the job is running or already done.
        """
        budget = attempts if attempts is not None else self._db.settings.jobs_max_attempts
        if not 1 <= budget <= MAX_ATTEMPTS_LIMIT:
            raise ValidationError.single("attempts", "range", f"must be 1-{MAX_ATTEMPTS_LIMIT}, got {budget}")
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
        doomed = (
            select(col(Job.job_id))
            .where(_is(JobStatus.DONE), col(Job.finished_at) < func.statement_timestamp() - older_than)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        async with self._write() as session:
            result = await session.execute(delete(Job).where(col(Job.job_id).in_(doomed)))
            return int(result.rowcount)  # type: ignore[attr-defined]


async def _schedule_next(session: AsyncSession, job: JobRead) -> None:
    """A recurring job's next run, ``interval_seconds`` after this one ended."""
    if job.interval_seconds is None:
        return
    stmt = (
        insert(Job)
        .values(
            kind=job.kind,
            run_at=func.statement_timestamp() + timedelta(seconds=job.interval_seconds),
            payload=job.payload,
            dedupe_key=job.dedupe_key,
            max_attempts=job.max_attempts,
            interval_seconds=job.interval_seconds,
        )
        .on_conflict_do_nothing(index_elements=["kind", "dedupe_key"], index_where=_LIVE_KEY)
    )
    await session.execute(stmt)
