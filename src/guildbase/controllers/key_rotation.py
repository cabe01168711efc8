"""Key rotation (R10.1): re-encrypt every encrypted column with the newest key (``guildbase keys rotate``).

How it stays safe while the bot and the dashboard keep running:

- Deploy the new key first in every process, in front of the old one
  (``GUILDBASE_ENCRYPTION_KEYS=new,old``): from then on every value, rotated or
  not, is readable everywhere, and new writes already use the new key.
- ``rotate`` walks each table with encrypted columns (found from the metadata,
  ``db.encryption.encrypted_columns``) in primary-key order, one batch per
  transaction. A value already under the newest key is skipped, so a run that
  was killed is resumed by running it again: it finds the rotated batches
  current and carries on (no checkpoint to lose). Each rewrite is a
  compare-and-set (``WHERE col = <the token read>``): a value a running process
  rewrote meanwhile is left alone (it is under the newest key already).
- A value no configured key opens stops the run with ``EncryptionKeyError``
  naming the column and the row, before anything of its batch is written; the
  value itself is never overwritten.
- When it finishes, every value is under the newest key: the old key can be
  removed from the configuration. The run is recorded as a ``key_rotation``
  security event with the counts per table.
"""

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy import Column, Table, Text, bindparam, func, select, tuple_, type_coerce, update

from guildbase.controllers.base import Controller
from guildbase.controllers.security import record_security_event
from guildbase.db.encryption import EncryptionKeyError, encrypted_columns, keyring
from guildbase.db.validation import page_limit
from guildbase.errors import ValidationError, shown
from guildbase.models import metadata
from guildbase.models.security import SecurityEventKind

__all__ = ["MAX_BATCH", "EncryptionController", "RotationProgress", "RotationReport", "TableRotation"]

MAX_BATCH = 10_000


class RotationProgress(Protocol):
    """Told after each batch: the table, how many of its rows are done, and how many it has."""

    def __call__(self, table: str, done: int, total: int) -> None:
        """Report progress (the CLI moves its bar)."""


@dataclass(slots=True)
class TableRotation:
    """One table's outcome: rows seen, rows rewritten, rows whose values were already current."""

    rows: int = 0
    rotated: int = 0
    current: int = 0


@dataclass(slots=True)
class RotationReport:
    """What ``rotate`` did, per table (``table → TableRotation``)."""

    tables: dict[str, TableRotation] = field(default_factory=dict)

    def as_detail(self) -> dict[str, Any]:
        """The counts, as the security event's ``detail`` holds them."""
        return {"tables": {name: asdict(counts) for name, counts in self.tables.items()}}


def _row_key(table: Table, row: Any) -> str:
    return ", ".join(f"{column.name}={row._mapping[column.name]}" for column in table.primary_key.columns)  # noqa: SLF001


class EncryptionController(Controller):
    """Re-encrypts every ``EncryptedText`` value with the newest key, batch by batch."""

    async def rotate(self, *, batch_size: int = 500, on_batch: RotationProgress | None = None) -> RotationReport:
        """Rotate every encrypted column of every table; safe to rerun after a kill (it resumes)."""
        size = page_limit(batch_size, MAX_BATCH, field="batch_size")
        if on_batch is not None and not callable(on_batch):
            raise ValidationError.single("on_batch", "callable", f"must be a callable or None, got {shown(on_batch)}")
        found = encrypted_columns(metadata)
        ring = keyring()
        if ring.size == 0 and found:
            first = next(iter(found.items()))
            raise EncryptionKeyError(
                f"{first[0].name}.{first[1][0].name}",
                "no encryption key is configured: set GUILDBASE_ENCRYPTION_KEYS (newest first) before rotating",
            )
        report = RotationReport()
        for table, columns in found.items():
            report.tables[table.name] = await self._rotate_table(table, columns, size, on_batch)
        async with self._write() as session:
            await record_security_event(session, SecurityEventKind.KEY_ROTATION, detail=report.as_detail())
        return report

    async def _rotate_table(
        self, table: Table, columns: list[Column[Any]], size: int, on_batch: RotationProgress | None
    ) -> TableRotation:
        key = list(table.primary_key.columns)
        raw = [type_coerce(column, Text).label(column.name) for column in columns]
        counts = TableRotation()
        async with self._write() as session:
            total = int((await session.execute(select(func.count()).select_from(table))).scalar_one())
        last: tuple[Any, ...] | None = None
        while True:
            stmt = select(*key, *raw).order_by(*key).limit(size)
            if last is not None:
                stmt = stmt.where(tuple_(*key) > tuple_(*last))
            async with self._write() as session:
                rows = (await session.execute(stmt)).all()
                if not rows:
                    break
                await self._rewrite(session, table, columns, rows, counts)
            last = tuple(rows[-1]._mapping[column.name] for column in key)  # noqa: SLF001 - Row's public mapping
            counts.rows += len(rows)
            if on_batch is not None:
                on_batch(table.name, counts.rows, max(total, counts.rows))
        return counts

    @staticmethod
    async def _rewrite(
        session: Any, table: Table, columns: list[Column[Any]], rows: Any, counts: TableRotation
    ) -> None:
        """Re-encrypt one batch: every value is opened first, then the changed ones are written (compare-and-set)."""
        ring = keyring()
        key = list(table.primary_key.columns)
        changes: dict[str, list[dict[str, Any]]] = {column.name: [] for column in columns}
        for row in rows:
            rewritten = False
            for column in columns:
                token = row._mapping[column.name]  # noqa: SLF001 - Row's public mapping
                if token is None or ring.is_current(token):
                    continue
                name = f"{table.name}.{column.name}"
                try:
                    fresh = ring.rotate(name, token)
                except EncryptionKeyError as error:
                    raise EncryptionKeyError(name, f"row ({_row_key(table, row)}): {error.reason}") from None
                keys = {f"k_{c.name}": row._mapping[c.name] for c in key}  # noqa: SLF001
                changes[column.name].append({**keys, "old": token, "new": fresh})
                rewritten = True
            if rewritten:
                counts.rotated += 1
            else:
                counts.current += 1
        for column in columns:
            if not changes[column.name]:
                continue
            stmt = (
                update(table)
                .where(*(c == bindparam(f"k_{c.name}") for c in key))
                .where(type_coerce(column, Text) == bindparam("old", type_=Text))
                .values({column.name: bindparam("new", type_=Text)})
            )
            await session.execute(stmt, changes[column.name])
