"""The import report: per legacy table, rows read, written, merged and skipped, with the reasons.

``tables`` is what this run did; ``totals`` is the whole import so far, read
back from the checkpoint and issue tables, so an import that was interrupted
and resumed reports the same totals as one that ran straight through.
Rendered as text for the terminal and as JSON for ``--report``.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from guildbase.legacy.batch import Counts, Issue

__all__ = ["ImportReport", "TableReport"]


@dataclass
class TableReport:
    read: int = 0
    written: int = 0
    merged: int = 0
    skipped: int = 0
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    """action (skipped, merged, adjusted) → reason → rows."""

    def add(self, counts: Counts) -> None:
        self.read += counts.read
        self.written += counts.written
        self.merged += counts.merged
        self.skipped += counts.skipped

    def note(self, action: str, reason: str, rows: int = 1) -> None:
        by_reason = self.reasons.setdefault(action, {})
        by_reason[reason] = by_reason.get(reason, 0) + rows


@dataclass
class ImportReport:
    source: str
    version: str
    dry_run: bool
    tables: dict[str, TableReport] = field(default_factory=dict)
    totals: dict[str, TableReport] = field(default_factory=dict)
    not_kept: dict[str, str] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    @property
    def written(self) -> int:
        return sum(t.written for t in self.tables.values())

    def table(self, name: str) -> TableReport:
        return self.tables.setdefault(name, TableReport())

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "version": self.version,
            "dry_run": self.dry_run,
            "nothing_written": self.written == 0,
            "tables": {name: asdict(t) for name, t in self.tables.items()},
            "totals": {name: asdict(t) for name, t in self.totals.items()},
            "not_kept": self.not_kept,
            "issues": [asdict(i) for i in self.issues],
        }

    def render(self) -> str:
        verb = "would write" if self.dry_run else "written"
        lines = [f"legacy import from {self.source} ({self.version} schema){' — dry run' if self.dry_run else ''}"]
        lines.append(f"{'table':<18}{'read':>10}{verb:>13}{'merged':>10}{'skipped':>10}")
        for name, t in self.tables.items():
            lines.append(f"{name:<18}{t.read:>10}{t.written:>13}{t.merged:>10}{t.skipped:>10}")
            for action, reasons in sorted(t.reasons.items()):
                lines.extend(f"    {action}: {reason} ({rows})" for reason, rows in sorted(reasons.items()))
        lines.extend(f"not kept: {column}: {why}" for column, why in self.not_kept.items())
        if not self.dry_run and self.written == 0:
            lines.append("nothing to write: everything was already imported")
        return "\n".join(lines)
