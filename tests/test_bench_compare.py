"""``python -m bench --compare``: ratios of a saved run beside this run's, new and dropped variants shown."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.compare import compare, load

ROOT = Path(__file__).resolve().parents[1]


def _run(started: str, ratios: dict[tuple[str, str], float]) -> dict[str, object]:
    workloads: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for (wid, variant), ratio in ratios.items():
        workloads.setdefault(wid, {"variants": {}})["variants"][variant] = {"ratio_to_limit": ratio}
    return {"started": started, "quick": False, "workloads": workloads}


def test_each_ratio_is_shown_beside_the_old_one_with_its_change() -> None:
    old = _run("old", {("W1", "guildbase"): 0.5, ("W2", "guildbase"): 1.0})
    new = _run("new", {("W1", "guildbase"): 0.75, ("W9", "guildbase"): 0.6})
    rows = {line.split("|")[1].strip(): line for line in compare(old, new).splitlines() if line.startswith("| W")}
    assert [cell.strip() for cell in rows["W1"].split("|")[3:6]] == ["0.50", "0.75", "+50%"]
    assert [cell.strip() for cell in rows["W2"].split("|")[3:6]] == ["1.00", "-", "-"]
    assert [cell.strip() for cell in rows["W9"].split("|")[3:6]] == ["-", "0.60", "-"]


def test_a_file_that_is_not_a_run_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"something": 1}))
    with pytest.raises(ValueError, match=r"other\.json: not a bench results file"):
        load(bad)


def test_the_command_refuses_a_bad_compare_file_before_running_anything(tmp_path: Path) -> None:
    bad = tmp_path / "old.json"
    bad.write_text("{}")
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "bench", "--quick", "--only", "W1", "--compare", str(bad), "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode != 0
    assert "not a bench results file" in done.stderr
    assert not (tmp_path / "results.json").exists()
