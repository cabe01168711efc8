"""``guildbase import-legacy``: dry run, the report file, and ``db check`` after the import."""

import json
import os
import subprocess
import sys
from pathlib import Path

from snapshot import snapshot


def _cli(target_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GUILDBASE_DATABASE_URL": target_url}
    command = [sys.executable, "-m", "guildbase.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603


async def test_a_dry_run_reports_what_it_would_write_and_writes_nothing(
    legacy_url: str, target_url: str, tmp_path: Path
) -> None:
    empty = await snapshot(target_url)
    result = _cli(target_url, "import-legacy", "--from", legacy_url, "--dry-run", "--report", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["dry_run"] is True
    assert report["tables"]["Case"]["read"] == 8
    assert report["tables"]["Case"]["written"] == 6
    assert report["tables"]["Snippet"]["merged"] == 1
    assert "would write" in result.stdout
    assert await snapshot(target_url) == empty


async def test_the_import_reports_per_table_and_db_check_passes_after_it(
    legacy_url: str, target_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.json"
    result = _cli(target_url, "import-legacy", "--from", legacy_url, "--report", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(path.read_text())
    assert report["nothing_written"] is False
    assert report["totals"]["Guild"]["written"] == 3
    skipped = [i for i in report["issues"] if i["action"] == "skipped"]
    assert {"table": "Guild", "key": "-5", "action": "skipped"}.items() <= skipped[0].items()
    assert all(i["table"] and i["key"] and i["reason"] for i in report["issues"])
    assert "Case" in result.stdout
    assert "Guild" in result.stdout
    check = _cli(target_url, "db", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    again = _cli(target_url, "import-legacy", "--from", legacy_url)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to write" in again.stdout
