"""Import from the previous schema (R3.5): ``guildbase import-legacy --from URL``; see docs/legacy-import.md.

``detect`` finds the version and the tables, one mapper module per legacy
table group (``mappers/``) turns rows into guildbase rows and reports what it
could not keep, ``spec.stage`` writes by COPY, and ``runner.run_import``
reads in one read-only snapshot and commits batch by batch with checkpoints.
"""

from guildbase.legacy.report import ImportReport, TableReport
from guildbase.legacy.runner import run_import, source_key

__all__ = ["ImportReport", "TableReport", "run_import", "source_key"]
