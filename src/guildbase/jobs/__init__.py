"""Durable jobs: one runner per process, work claimed in PostgreSQL, exactly once in effect.

Design (see docs/jobs.md): one generic ``job`` table is the queue for every
kind of deferred work. A domain declares a typed kind (``JobKind``: a name
and a pydantic payload model) and its controller enqueues with
``db.jobs.enqueue_in(session, KIND, …)`` in the same transaction as its row
(a TEMPBAN case, a reminder, a timed AFK), with no migration; NOTIFY at
commit wakes idle runners. Workers claim with ``FOR UPDATE SKIP LOCKED`` under
a lease, and a handler's success marks the job done in the same transaction
as its follow-up writes, fenced on the claim. Failures retry with exponential
backoff up to the job's budget, then the job is ``failed`` with its last error.

Usage in a bot::

    registry = JobRegistry()
    register_builtin(registry, BotActions(unban=..., deliver_reminder=..., ...))
    registry.register(TICKET_AUTOCLOSE, autoclose)    # async def autoclose(ctx, payload: AutoClosePayload)
    registry.every("log_retention", timedelta(days=1), prune_logs)
    runner = JobRunner(db, registry)
    task = asyncio.create_task(runner.run())
    ...
    runner.stop(); await task
"""

from guildbase.jobs.handlers import BotActions, register_builtin, register_maintenance
from guildbase.jobs.registry import JobContext, JobRegistry
from guildbase.jobs.runner import JobRunner

__all__ = ["BotActions", "JobContext", "JobRegistry", "JobRunner", "register_builtin", "register_maintenance"]
