"""``python -m bench --compare OLD.json``: each ratio of this run beside the same ratio of a saved run.

Ratios (guildbase ÷ its limit, measured in one run) are what stay comparable
between runs on different days or machines; raw ops/s are not. A variant
present in only one of the runs is listed with "-" on the other side, so a
renamed or new workload is visible rather than silently missing.
"""

import json
from pathlib import Path
from typing import Any

__all__ = ["compare", "load"]


def load(path: Path) -> dict[str, Any]:
    """A saved run (the ``results.json`` that every run writes)."""
    data: dict[str, Any] = json.loads(path.read_text())
    if "workloads" not in data:
        msg = f"{path}: not a bench results file (no 'workloads' key)"
        raise ValueError(msg)
    return data


def _ratios(results: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {
        (wid, name): float(variant["ratio_to_limit"])
        for wid, workload in results["workloads"].items()
        for name, variant in workload.get("variants", {}).items()
        if variant.get("ratio_to_limit") is not None
    }


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A Markdown table: workload, variant, old ratio, new ratio, and the change in percent."""
    before, after = _ratios(old), _ratios(new)
    lines = [
        f"Compared with the run of {old.get('started', '?')} ({'quick' if old.get('quick') else 'full'})",
        "",
        "| id | variant | × limit before | × limit now | change |",
        "|---|---|---:|---:|---:|",
    ]
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        change = f"{(now - was) / was:+.0%}" if was and now is not None else "-"
        was_text = "-" if was is None else f"{was:.2f}"
        now_text = "-" if now is None else f"{now:.2f}"
        lines.append(f"| {key[0]} | {key[1]} | {was_text} | {now_text} | {change} |")
    return "\n".join(lines) + "\n"
