"""The job queue's statements: claim scans, the claim fence, a recurring job's next run.

Module-level builders so tests can EXPLAIN exactly the SQL ``JobController``
runs. Partial-index filters use inline literals (``status = 'pending'``): a
generic prepared plan cannot prove a bind parameter matches an index predicate.
"""

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, Select, and_, func, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.models.jobs import Job, JobRead, JobStatus


def is_status(status: JobStatus) -> ColumnElement[bool]:
    """``status = '<literal>'``, inline so it matches the partial indexes' predicates."""
    return col(Job.status) == literal_column(f"'{status.value}'")


LIVE_KEY = text("status IN ('pending', 'running') AND dedupe_key IS NOT NULL")


def claimable_query(kinds: Sequence[str], *, limit: int) -> Select[int | None]:
    """IDs of due jobs of ``kinds`` with attempts left: pending and due, or running with a lapsed lease."""
    ready = or_(
        and_(is_status(JobStatus.PENDING), col(Job.run_at) <= func.statement_timestamp()),
        and_(is_status(JobStatus.RUNNING), col(Job.locked_until) <= func.statement_timestamp()),
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
            is_status(JobStatus.RUNNING),
            col(Job.locked_until) <= func.statement_timestamp(),
            col(Job.kind).in_(list(kinds)),
            col(Job.attempts) >= col(Job.max_attempts),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def fence(job: JobRead) -> tuple[ColumnElement[bool], ...]:
    """The claim that ``job`` is: still running, same attempt, same worker."""
    return (
        col(Job.job_id) == job.job_id,
        is_status(JobStatus.RUNNING),
        col(Job.attempts) == job.attempts,
        col(Job.locked_by) == job.locked_by,
    )


async def schedule_next(session: AsyncSession, job: JobRead) -> None:
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
        .on_conflict_do_nothing(index_elements=["kind", "dedupe_key"], index_where=LIVE_KEY)
    )
    await session.execute(stmt)
