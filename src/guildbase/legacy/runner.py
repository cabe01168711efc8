"""Run an import: read each legacy table in one read-only snapshot, write it batch by batch with checkpoints.

The source is read in a ``READ ONLY``, ``REPEATABLE READ`` transaction: it is
never written, and every table is read from the same moment. Each batch is
written in one target transaction together with its issues and its
checkpoint (the last legacy key, the counts), so killing the process at any
point leaves whole batches only, and the next run continues after the last
committed key. A table whose checkpoint is done is not read again: a second
run writes nothing, and says so.

Batches are written in order on one connection while the next one is read
and mapped (the writer is at most one batch behind), so commits, and with
them checkpoints, stay in key order. A batch commits with
``synchronous_commit = off``: its checkpoint is in the same transaction, so a
commit the server loses in a crash loses its checkpoint too, and the next run
writes that batch again. The last write of a table (its ``is_done`` mark)
commits synchronously, which makes every earlier batch durable as well.
"""

# ruff: noqa: S608 - table names come from the catalog (detect.py) and are quoted; values are bound or COPYed

import asyncio
import contextlib
import gc
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from guildbase.db.context import AuditSource, audit_context
from guildbase.legacy.batch import Batch, dumps
from guildbase.legacy.detect import detect
from guildbase.legacy.mappers import SPECS
from guildbase.legacy.report import ImportReport, TableReport
from guildbase.legacy.spec import ImportContext, TableSpec

__all__ = ["DEFAULT_BATCH", "Progress", "run_import", "source_key"]

DEFAULT_BATCH = 10_000
Progress = Callable[[str, int, int], None]
"""``progress(table, rows_done, rows_total)``, called after every batch."""
BatchHook = Callable[[str, int, str], None]
"""``hook(table, batch_number, phase)``: phase ``written`` (inside the transaction) or ``committed``."""


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """Keep the garbage collector from rescanning the whole heap while batches of rows come and go.

    A batch's rows survive long enough to reach the oldest generation, and each
    full collection then walks every object the process has (the imported
    modules too): half the Python time of an import. The objects that exist
    before the run are frozen (never scanned) and collections are rarer; both
    are restored afterwards. The rows themselves hold no reference cycles.
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 50_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def source_key(url: str) -> str:
    """The checkpoint key of a source: its host, port and database, never its password."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def run_import(
    source_url: str,
    target_url: str,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    on_batch: BatchHook | None = None,
    direct: bool = True,
) -> ImportReport:
    """Import the legacy database at ``source_url`` into the guildbase database at ``target_url``.

    ``direct=False`` writes every batch of cases the checked way (see ``ImportContext``).
    """
    key = source_key(source_url)
    source_conn = await asyncpg.connect(_dsn(source_url))
    target = await asyncpg.connect(_dsn(target_url))
    try:
        with _few_collections():
            async with source_conn.transaction(readonly=True, isolation="repeatable_read"):
                await source_conn.execute("SET LOCAL jit = off")  # one pass over each table: compiling costs more
                source = await detect(source_conn)
                context = ImportContext(
                    source,
                    {r[0]: r[1] for r in await target.fetch("SELECT guild_id, curve::text FROM level_config")},
                    direct=direct,
                )
                report = ImportReport(key, source.version, dry_run)
                done = {
                    r["table_name"]: r
                    for r in await target.fetch("SELECT * FROM legacy_import_checkpoint WHERE source = $1", key)
                }
                with audit_context(AuditSource.CLI):
                    for spec in SPECS:
                        if not spec.available(source):
                            continue
                        report.not_kept |= spec.not_kept
                        for name in spec.reports:
                            report.table(name)
                        await _table(
                            spec,
                            source_conn,
                            target,
                            context,
                            report,
                            done.get(spec.name),
                            batch_size,
                            progress,
                            on_batch,
                        )
        if not dry_run:
            await _totals(target, report)
        return report
    finally:
        await source_conn.close()
        await target.close()


async def _table(  # noqa: PLR0917
    spec: TableSpec,
    source: asyncpg.Connection,
    target: asyncpg.Connection,
    context: ImportContext,
    report: ImportReport,
    checkpoint: asyncpg.Record | None,
    batch_size: int,
    progress: Progress | None,
    on_batch: BatchHook | None,
) -> None:
    dry_run = report.dry_run
    tick = progress or _quiet
    if checkpoint is not None and checkpoint["is_done"] and not dry_run:
        tick(spec.name, 0, 0)
        return
    after = (
        None if dry_run or checkpoint is None or checkpoint["last_key"] is None else json.loads(checkpoint["last_key"])
    )
    keys = ", ".join(spec.keys)
    where = "" if after is None else f" WHERE ({keys}) > ({', '.join(f'${n + 1}' for n in range(len(after)))})"
    inner = spec.query(context.source)
    total = await source.fetchval(f"SELECT count(*) FROM ({inner}) AS legacy{where}", *(after or []))
    sql = f"SELECT * FROM ({inner}) AS legacy{where} ORDER BY {keys}"
    done = 0
    number = 0
    writing: asyncio.Task[None] | None = None
    try:
        cursor = source.cursor(sql, *(after or []), prefetch=min(batch_size, 10_000))
        async for rows in _batches(cursor, spec, batch_size):
            number += 1
            batch = _mapped(rows, spec, context, dry_run=dry_run)
            if dry_run:
                _tally(report, batch)
                done += len(rows)
                tick(spec.name, done, total)
                continue
            if writing is not None:
                await writing
                tick(spec.name, done, total)
            done += len(rows)
            writing = asyncio.create_task(
                _write(spec, target, context, report, batch, dumps(_key(rows[-1], spec)), number, on_batch)
            )
        if writing is not None:
            await writing
            tick(spec.name, done, total)
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing
    if not dry_run:
        await target.execute(
            "INSERT INTO legacy_import_checkpoint (source, table_name, is_done) SELECT $1, t, true FROM unnest($2::text[]) t "  # noqa: E501
            "ON CONFLICT (source, table_name) DO UPDATE SET is_done = true, updated_at = now()",
            report.source,
            list(spec.reports),
        )
    elif not total:
        tick(spec.name, 0, 0)


def _quiet(table: str, done: int, total: int) -> None:
    del table, done, total  # no progress display


def _mapped(rows: list[asyncpg.Record], spec: TableSpec, context: ImportContext, *, dry_run: bool) -> Batch:
    batch = Batch()
    batch.extra["first_key"] = _key(rows[0], spec)
    for row in rows:
        spec.map(row, batch, context)
    if dry_run:
        spec.finish(batch, context)
        for counts in batch.counts.values():
            counts.written = counts.read - counts.skipped - counts.merged
    return batch


async def _write(  # noqa: PLR0917
    spec: TableSpec,
    target: asyncpg.Connection,
    context: ImportContext,
    report: ImportReport,
    batch: Batch,
    last: str,
    number: int,
    on_batch: BatchHook | None,
) -> None:
    """Write one batch with its issues and checkpoint in one transaction (its commit need not wait for the disk)."""
    async with target.transaction():
        await target.execute("SET LOCAL synchronous_commit = off")
        await spec.write(target, batch, context)
        await _save(target, report.source, spec, batch, last)
        if on_batch:
            on_batch(spec.name, number, "written")
    if on_batch:
        on_batch(spec.name, number, "committed")
    _tally(report, batch)


def _key(row: asyncpg.Record, spec: TableSpec) -> list[Any]:
    return [row[k] for k in spec.keys]


async def _batches(cursor: Any, spec: TableSpec, size: int) -> AsyncIterator[list[asyncpg.Record]]:
    """Rows in batches of about ``size``; never splitting the first ``spec.group`` key columns."""
    rows: list[asyncpg.Record] = []
    async for row in cursor:
        if len(rows) >= size and (
            not spec.group or _key(row, spec)[: spec.group] != _key(rows[-1], spec)[: spec.group]
        ):
            yield rows
            rows = []
        rows.append(row)
    if rows:
        yield rows


async def _save(target: asyncpg.Connection, source: str, spec: TableSpec, batch: Batch, last: str) -> None:
    if batch.issues:
        await target.executemany(
            "INSERT INTO legacy_import_issue (source, table_name, legacy_key, reason, action, original) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING",
            [
                (source, i.table, i.key, i.reason, i.action, None if i.original is None else dumps(i.original))
                for i in batch.issues
            ],
        )
    for name in spec.reports:
        c = batch.count(name)
        await target.execute(
            "INSERT INTO legacy_import_checkpoint (source, table_name, last_key, rows_read, rows_written, rows_merged,"
            " rows_skipped) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (source, table_name) DO UPDATE SET"
            " last_key = excluded.last_key, rows_read = legacy_import_checkpoint.rows_read + excluded.rows_read,"
            " rows_written = legacy_import_checkpoint.rows_written + excluded.rows_written,"
            " rows_merged = legacy_import_checkpoint.rows_merged + excluded.rows_merged,"
            " rows_skipped = legacy_import_checkpoint.rows_skipped + excluded.rows_skipped, updated_at = now()",
            source,
            name,
            last,
            c.read,
            c.written,
            c.merged,
            c.skipped,
        )


def _tally(report: ImportReport, batch: Batch) -> None:
    for name, counts in batch.counts.items():
        report.table(name).add(counts)
    for issue in batch.issues:
        report.table(issue.table).note(issue.action, issue.reason)
    report.issues.extend(batch.issues)


async def _totals(target: asyncpg.Connection, report: ImportReport) -> None:
    for row in await target.fetch("SELECT * FROM legacy_import_checkpoint WHERE source = $1", report.source):
        report.totals[row["table_name"]] = TableReport(
            row["rows_read"], row["rows_written"], row["rows_merged"], row["rows_skipped"]
        )
    for row in await target.fetch(
        "SELECT table_name, action, reason, count(*) AS n FROM legacy_import_issue WHERE source = $1 "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        report.source,
    ):
        report.totals.setdefault(row["table_name"], TableReport()).note(row["action"], row["reason"], row["n"])
