"""``python -m bench [--quick] [--only W1,W4] [--rounds N] [--output DIR] [--compare OLD.json]``: run, print, write.

Writes JSON + Markdown; with ``--compare``, also each ratio against a saved run (``bench/compare.py``).
"""

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.botpath import w6b
from bench.cases import w2
from bench.commandlog import w5
from bench.compare import compare, load
from bench.composite import w6, w7, w8
from bench.events import w8b, w9, w12
from bench.harness import machine, peak_rss_mb
from bench.legacy import w11
from bench.permissions import w10
from bench.premium import w14
from bench.privacy import w13
from bench.report import markdown
from bench.tickets import w16, w17
from bench.web import w15
from bench.workloads import Scale, Workload, w1, w3, w4

WORKLOADS: dict[str, Workload] = {
    "W1": w1,
    "W2": w2,
    "W3": w3,
    "W4": w4,
    "W5": w5,
    "W6": w6,
    "W6b": w6b,
    "W7": w7,
    "W8": w8,
    "W16": w16,
    "W17": w17,
    "W14": w14,
    "W10": w10,
    "W8b": w8b,
    "W9": w9,
    "W11": w11,
    "W12": w12,
    "W13": w13,
    "W15": w15,
}
_BY_UPPER = {name.upper(): name for name in WORKLOADS}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    scale = Scale(quick=args.quick)
    chosen = [_BY_UPPER[w.strip().upper()] for w in args.only.split(",")] if args.only else list(WORKLOADS)
    out: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "rounds": args.rounds,
        "machine": machine(),
        "workloads": {},
    }
    for name in chosen:
        began = time.perf_counter()
        print(f"{name} …", flush=True)
        result = await WORKLOADS[name](scale, args.rounds)
        result["seconds"] = round(time.perf_counter() - began, 1)
        result["peak_rss_mb_so_far"] = round(peak_rss_mb(), 1)
        out["workloads"][name] = result
        print(f"{name} done in {result['seconds']} s", flush=True)
        _write(args.output, out)  # after every workload: a long run never loses finished results
    return out


def _write(output: Path, results: dict[str, Any]) -> str:
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.json").write_text(json.dumps(results, indent=2, default=str))
    table = markdown(results)
    (output / "results.md").write_text(table)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small data, for CI smoke runs (< 1 minute)")
    parser.add_argument("--only", default="", help="comma-separated workload ids, e.g. W1,W4")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per variant (after a warm-up)")
    parser.add_argument("--output", type=Path, default=Path("bench/results/latest"), help="directory for the outputs")
    parser.add_argument("--compare", type=Path, default=None, help="a saved results.json to compare ratios against")
    args = parser.parse_args()
    old = load(args.compare) if args.compare else None  # a bad file fails before the long run, not after
    if args.quick and args.rounds == parser.get_default("rounds"):
        args.rounds = 1  # a smoke run proves the harness works; it measures nothing
    results = asyncio.run(run(args))
    print(_write(args.output, results))
    if old is not None:
        table = compare(old, results)
        (args.output / "compare.md").write_text(table)
        print(table)


if __name__ == "__main__":
    main()
