"""Idempotent and resumable: a second run writes nothing; runs killed mid-import end identical to a clean run."""

import asyncio
import signal
import subprocess
import sys

from snapshot import snapshot
from sqlalchemy.engine import URL

from guildbase.legacy import run_import
from guildbase.testing import truncate_all

_KILLED_RUN = """
import asyncio, os, signal, sys
from guildbase.legacy import run_import

source, target, table, number, phase = sys.argv[1:6]

def hook(name, batch, when):
    if (name, batch, when) == (table, int(number), phase):
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(run_import(source, target, batch_size=2, on_batch=hook))
"""


def _killed(legacy_url: str, target_url: str, table: str, number: int, phase: str) -> int:
    args = [sys.executable, "-c", _KILLED_RUN, legacy_url, target_url, table, str(number), phase]
    return subprocess.run(args, capture_output=True, check=False, timeout=120).returncode  # noqa: S603


async def test_a_second_run_writes_nothing_and_says_so(legacy_url: str, target_url: str) -> None:
    first = await run_import(legacy_url, target_url, batch_size=2)
    before = await snapshot(target_url)
    second = await run_import(legacy_url, target_url, batch_size=2)
    assert first.written > 0
    assert second.written == 0
    assert all(t.read == 0 for t in second.tables.values())
    assert "nothing to write: everything was already imported" in second.render()
    assert second.to_json()["totals"] == first.to_json()["totals"]
    assert await snapshot(target_url) == before


async def test_runs_killed_mid_import_end_identical_to_a_clean_run(
    legacy_url: str, target_url: str, database_url: URL
) -> None:
    # Killed inside a batch's transaction (rolled back), then right after a commit, then run to the end.
    assert _killed(legacy_url, target_url, "Case", 2, "written") == -signal.SIGKILL
    assert _killed(legacy_url, target_url, "Snippet", 1, "committed") == -signal.SIGKILL
    assert _killed(legacy_url, target_url, "Levels", 1, "written") == -signal.SIGKILL
    resumed_report = await run_import(legacy_url, target_url, batch_size=2)
    resumed = await snapshot(target_url)
    assert resumed_report.tables["Guild"].read == 0  # finished before the first kill: not read again
    await asyncio.to_thread(truncate_all, database_url)
    clean_report = await run_import(legacy_url, target_url, batch_size=2)
    assert await snapshot(target_url) == resumed
    assert resumed_report.to_json()["totals"] == clean_report.to_json()["totals"]
