"""The per-process job runner: claim due work, run handlers, record fenced outcomes.

One ``JobRunner`` per process (shard, dashboard worker or ``guildbase jobs
run``). Any number of them share the queue safely: claims use ``SKIP LOCKED``,
leases return a dead worker's jobs, and outcomes are fenced on the claim.

The loop: claim up to ``min(batch size, free slots)`` jobs of the registered
kinds; start each as a task (at most ``concurrency`` at once); when nothing is
claimable, sleep until the next job is due, the poll interval ends, a NOTIFY
says new work exists, or a slot frees up. A heartbeat renews the leases of
running jobs every third of the lease, so a slow handler is not taken over
while its worker is alive. ``stop()`` stops claiming, lets running jobs finish
for ``shutdown timeout`` seconds, then cancels the rest and releases them
(pending again, the attempt not counted).
"""

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.controllers.jobs import LEASE_EXPIRED_ERROR
from guildbase.database import Database
from guildbase.db.context import AuditSource, audit_context
from guildbase.db.unit_of_work import after_commit
from guildbase.jobs.listener import JobListener
from guildbase.jobs.registry import JobContext, JobRegistry, Registration
from guildbase.models.jobs import JobRead, JobStatus

log = logging.getLogger("guildbase.jobs")
MIN_SLEEP = 0.05
"""Floor of an idle sleep: due jobs we could not claim are being claimed by another worker."""


def default_worker_id() -> str:
    """``host:pid:random``, unique per runner, readable in ``locked_by``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class _StaleClaimError(Exception):
    """The claim was lost (lease ran out and another worker took over); nothing may be written."""


class JobRunner:
    """Runs the registry's kinds against ``db`` until ``stop()``; settings come from ``db.settings``."""

    def __init__(self, db: Database, registry: JobRegistry, *, worker: str | None = None) -> None:
        settings = db.settings
        self.db = db
        self.registry = registry
        self.worker = worker or default_worker_id()
        self.batch_size = settings.jobs_batch_size
        self.concurrency = settings.jobs_concurrency
        self.poll_interval = settings.jobs_poll_interval_seconds
        self.lease = timedelta(seconds=settings.jobs_lease_seconds)
        self.retry_base = settings.jobs_retry_base_seconds
        self.retry_max = settings.jobs_retry_max_seconds
        self.shutdown_timeout = settings.jobs_shutdown_timeout_seconds
        self.listen = settings.jobs_listen
        self._running: dict[asyncio.Task[None], JobRead] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.listener = JobListener(db.engine.url, self._notified) if self.listen else None

    def stop(self) -> None:
        """Ask ``run`` to finish: no new claims, running jobs get the shutdown grace."""
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look for due work now instead of at the end of the current sleep."""
        self._wake.set()

    def retry_delay(self, attempt: int) -> timedelta:
        """Exponential backoff: ``base * 2**(attempt-1)``, capped at the maximum."""
        return timedelta(seconds=min(self.retry_base * 2 ** max(attempt - 1, 0), self.retry_max))

    async def run(self) -> None:
        """Claim and run jobs until ``stop()``; returns after the graceful shutdown."""
        kinds = self.registry.kinds
        if not kinds:
            log.warning("job runner %s has no handlers registered; nothing to do", self.worker)
        for registration in self.registry.recurring:
            assert registration.every is not None  # noqa: S101 - recurring implies every
            await self.db.jobs.schedule(
                registration.kind, every=registration.every, max_attempts=registration.max_attempts
            )
        helpers = [asyncio.create_task(self._heartbeat(), name="guildbase-jobs-heartbeat")]
        if self.listener is not None:
            helpers.append(asyncio.create_task(self.listener.run(), name="guildbase-jobs-listener"))
        log.info("job runner %s started for %s", self.worker, ", ".join(kinds))
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                claimed_all = await self._claim_once(kinds) if kinds else False
                if claimed_all or self._stopping.is_set():
                    continue
                await self._idle(kinds)
        finally:
            await self._shutdown(helpers)
            log.info("job runner %s stopped", self.worker)

    # -- the loop --------------------------------------------------------------------
    async def _claim_once(self, kinds: list[str]) -> bool:
        """Claim into the free slots; True when every slot asked for was filled (more may wait)."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            return False
        limit = min(self.batch_size, free)
        try:
            claim = await self.db.jobs.claim(kinds, worker=self.worker, limit=limit, lease=self.lease)
        except Exception:
            log.exception("job runner %s could not claim; retrying after the poll interval", self.worker)
            return False
        for job in claim.expired:
            self._start(job, self._give_up_expired(job))
        for job in claim.jobs:
            self._start(job, self._execute(job))
        return len(claim.jobs) == limit

    async def _idle(self, kinds: list[str]) -> None:
        """Sleep until the next due job, a NOTIFY, a free slot, or the poll interval, whichever is first."""
        delay = self.poll_interval
        if kinds and len(self._running) < self.concurrency:
            try:
                until_due = await self.db.jobs.seconds_until_due(kinds)
            except Exception:  # noqa: BLE001 - the poll interval is the fallback
                until_due = None
            if until_due is not None:
                delay = min(delay, max(until_due, MIN_SLEEP))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def _start(self, job: JobRead, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"guildbase-job-{job.job_id}")
        self._running[task] = job
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("job task crashed", exc_info=task.exception())
        self._wake.set()

    def _notified(self, kind: str) -> None:
        if not kind or self.registry.get(kind) is not None:
            self._wake.set()

    # -- one job -----------------------------------------------------------------------
    async def _execute(self, job: JobRead) -> None:
        """Run one claimed job; its writes are audited with source ``job`` and correlation ``job:<id>``."""
        registration = self.registry.get(job.kind)
        assert registration is not None  # noqa: S101 - only registered kinds are claimed
        with audit_context(AuditSource.JOB, correlation_id=f"job:{job.job_id}"):
            await self._attempt(registration, job)

    async def _attempt(self, registration: Registration, job: JobRead) -> None:
        """One attempt: the handler, then the fenced outcome (audited as the job, see ``_execute``)."""
        context = JobContext(job=job, db=self.db, worker=self.worker)
        try:
            await registration.handler(context)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any handler error is a failed attempt
            await self._fail(registration, job, _describe(error))
            return
        try:
            await self._complete(context)
        except _StaleClaimError:
            log.warning("job %s attempt %s: claim went stale; its outcome was discarded", job.job_id, job.attempts)
            return
        except Exception as error:  # noqa: BLE001 - a follow-up write failed: the attempt failed
            await self._fail(registration, job, _describe(error))
            return

    async def _complete(self, context: JobContext) -> None:
        """Mark the job done and run its follow-ups in ONE transaction; a stale claim writes nothing.

        It is an ordinary unit of work: after its commit run the invalidations
        the follow-ups' controllers registered and the handler's ``ctx.on_commit``
        callbacks (``db.unit_of_work``). Their failure is logged, never counted
        as a failed attempt: the job is done by then.
        """
        committed = False

        async def mark_committed() -> None:
            nonlocal committed
            committed = True

        try:
            async with self.db.session() as session:
                after_commit(session, mark_committed)
                await self._complete_in(session, context)
        except Exception:
            if not committed:
                raise
            log.exception("job %s: after-commit work failed (the job is done)", context.job.job_id)

    async def _complete_in(self, session: AsyncSession, context: JobContext) -> None:
        if not await self.db.jobs.complete_in(session, context.job):
            raise _StaleClaimError
        for write in context.writes:
            await write(session)
        for callback in context.commit_callbacks:
            after_commit(session, callback)

    async def _give_up_expired(self, job: JobRead) -> None:
        registration = self.registry.get(job.kind)
        assert registration is not None  # noqa: S101
        await self._fail(registration, job, LEASE_EXPIRED_ERROR)

    async def _fail(self, registration: Registration, job: JobRead, error: str) -> None:
        try:
            async with self.db.session() as session:
                updated = await self.db.jobs.fail_in(
                    session, job, error=error, retry_after=self.retry_delay(job.attempts)
                )
                if updated is not None and updated.status is JobStatus.FAILED and registration.on_give_up:
                    await registration.on_give_up(JobContext(job=updated, db=self.db, worker=self.worker), session)
        except Exception:
            log.exception("job %s: could not record the failure; the lease will return it", job.job_id)
            return
        if updated is None:
            log.warning("job %s attempt %s failed after its claim went stale: %s", job.job_id, job.attempts, error)
        elif updated.status is JobStatus.FAILED:
            log.error("job %s (%s) failed for good after %s attempts: %s", job.job_id, job.kind, job.attempts, error)
        else:
            log.warning("job %s (%s) attempt %s failed, retrying: %s", job.job_id, job.kind, job.attempts, error)

    # -- background -------------------------------------------------------------------
    async def _heartbeat(self) -> None:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            if self._running:
                try:
                    await self.db.jobs.renew(list(self._running.values()), lease=self.lease)
                except Exception:
                    log.exception("job runner %s could not renew its leases", self.worker)

    async def _shutdown(self, helpers: list[asyncio.Task[None]]) -> None:
        running = list(self._running)
        if running:
            _done, pending = await asyncio.wait(running, timeout=self.shutdown_timeout)
            cancelled = [self._running.get(task) for task in pending]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            claims = [job for job in cancelled if job is not None]
            if claims:
                released = await self.db.jobs.release(claims)
                log.info("job runner %s released %s unfinished jobs", self.worker, released)
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
