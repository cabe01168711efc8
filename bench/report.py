"""The Markdown table of a run, with each workload's target and whether this run met it."""

from collections.abc import Callable
from typing import Any

Target = tuple[str, Callable[[dict[str, Any]], tuple[str, bool | None]]]


def _ratio(variant: str, bar: float) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def check(w: dict[str, Any]) -> tuple[str, bool]:
        value = w["variants"][variant]["ratio_to_limit"]
        return f"{value:.2f}×", value >= bar

    return check


def _p99(variant: str, bar_ms: float) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def check(w: dict[str, Any]) -> tuple[str, bool]:
        value = w["variants"][variant]["p99_ms"]
        return f"{value:.2f} ms", value <= bar_ms

    return check


def _spread(variant: str) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def check(w: dict[str, Any]) -> tuple[str, bool]:
        v = w["variants"][variant]
        spread = v["p99_ms"] / v["p50_ms"] if v["p50_ms"] else float("inf")
        return f"{spread:.1f}×", spread <= 5

    return check


def _at_most(name: str, bar: float) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def check(w: dict[str, Any]) -> tuple[str, bool]:
        value = w["checks"][name]
        return f"{value}", value <= bar

    return check


def _at_least(name: str, bar: float) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def check(w: dict[str, Any]) -> tuple[str, bool]:
        value = w["checks"][name]
        return f"{value}", value >= bar

    return check


def _rate_at_least(variant: str, bar: float) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def check(w: dict[str, Any]) -> tuple[str, bool]:
        value = w["variants"][variant]["median"]
        return f"{value:,.0f}/s", value >= bar

    return check


def _reported(name: str, unit: str = "") -> Callable[[dict[str, Any]], tuple[str, bool | None]]:
    def check(w: dict[str, Any]) -> tuple[str, bool | None]:
        return f"{w['checks'][name]}{unit}", None

    return check


def _check(name: str, expected: Any) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def check(w: dict[str, Any]) -> tuple[str, bool]:
        value = w["checks"][name]
        return str(value), value == expected

    return check


TARGETS: dict[str, list[Target]] = {
    "W1": [
        ("guildbase ≥ 0.8× limit", _ratio("guildbase", 0.8)),
        ("same awards as limit", _check("awards_equal_to_limit", True)),
        ("guildbase ≥ 0.6× minimal statement", _at_least("guildbase_vs_minimal", 0.6)),
        ("minimal makes the same awards", _check("minimal_awards_equal_to_limit", True)),
        ("every award a member's first of the day: vs minimal", _reported("new_day_vs_minimal")),
        ("  and the same awards as limit", _check("new_day_awards_equal_to_limit", True)),
        ("  days handed to member_xp_daily", _reported("new_day_days_handed_to_member_xp_daily")),
    ],
    "W2": [
        ("guildbase ≥ 0.8× limit", _ratio("guildbase", 0.8)),
        ("duplicates = 0", _check("guildbase_duplicates", 0)),
        ("gaps = 0", _check("guildbase_gaps", 0)),
        ("p99 ≤ 5× p50 (32 tasks, pool 10)", _spread("guildbase")),
        ("limit = the faster hand-written client", _reported("limit_is")),
        ("vs the statement alone (no summary DEL)", _reported("guildbase_vs_statement_only")),
    ],
    "W3": [
        ("hit ≥ 100× point read", _ratio("guildbase_hit", 100)),
        ("miss ≥ 0.8× point read", _ratio("guildbase_miss", 0.8)),
        ("miss p99 ≤ 5× p50 (32 tasks, pool 10)", _spread("guildbase_miss")),
    ],
    "W4": [
        ("p99 ≤ 5 ms", _p99("guildbase", 5)),
        ("position ranks = SQL", _check("position_rank_mismatches_vs_sql_row_number", 0)),
        ("tied ranks = SQL rank()", _check("tied_rank_mismatches_vs_sql_rank", 0)),
    ],
    "W5": [
        ("guildbase ≥ 0.5× COPY", _ratio("guildbase", 0.5)),
        ("0 rows lost on close", _check("guildbase_rows_lost_after_close", 0)),
        ("caller p99 ≤ 1 ms (record_command)", _at_most("caller_p99_ms", 1)),
    ],
    "W6": [
        ("guildbase ≥ 0.7× limit", _ratio("guildbase", 0.7)),
        ("match one message p99 ≤ 50 µs", _at_most("match_p99_us", 50)),
        ("matching ≥ 20× a loop of re.search", _at_least("match_speedup_vs_re_loop", 20)),
    ],
    "W10": [
        ("hit ≥ 50× one SQL query per check", _ratio("guildbase", 50)),
        ("hit p99 ≤ 20 µs", _p99("guildbase", 0.020)),
        ("log writes ≥ 0.5× COPY", _ratio("log_guildbase_writer", 0.5)),
        ("same decisions as SQL", _check("decisions_differing_from_sql", 0)),
        ("0 log rows lost on close", _check("log_rows_lost_after_close", 0)),
    ],
    "W6b": [
        ("bot listeners ≥ 0.6× W6 limit", _ratio("guildbase_bot", 0.6)),
        ("every guild config cached", _check("guild_configs_in_local_cache", 10_000)),
        ("RSS with 10k guild configs ≤ 512 MB", _at_most("rss_mb_with_10k_configs", 512)),
    ],
    "W7": [("guildbase ≥ 0.8× limit", _ratio("guildbase", 0.8)), ("p99 ≤ 10 ms", _p99("guildbase", 10))],
    "W8": [
        ("guildbase ≥ 0.8× limit", _ratio("guildbase", 0.8)),
        ("p99 ≤ 200 ms", _p99("guildbase", 200)),
        ("report total = log rows", _check("report_total_equals_log_rows", True)),
    ],
    "W16": [
        ("guildbase ≥ 0.8× limit", _ratio("guildbase", 0.8)),
        ("duplicates = 0", _check("guildbase_duplicates", 0)),
        ("gaps = 0", _check("guildbase_gaps", 0)),
    ],
    "W17": [
        ("p99 ≤ 200 ms", _p99("guildbase", 200)),
        ("year report opened = tickets", _check("year_report_opened_equals_tickets", True)),
        ("backlog = tickets not closed", _check("backlog_equals_tickets_not_closed_by_the_last_day", True)),
    ],
    "W15": [
        ("guildbase ≥ 0.5× bare Starlette", _ratio("guildbase", 0.5)),
        ("same JSON as the bare endpoint", _check("same_json_as_the_bare_endpoint", True)),
    ],
    "W14": [
        ("hit p99 ≤ 20 µs", _at_most("hit_p99_us", 20)),
        ("no SQL on a hit", _check("sql_statements_during_hits", 0)),
        ("no Redis round trip on a hit", _check("redis_round_trips_during_hits", 0)),
        ("hits = loaded benefits", _check("hits_equal_the_loaded_benefits", True)),
    ],
    "W8b": [
        ("p99 ≤ 200 ms", _p99("guildbase", 200)),
        ("top members = SQL", _check("top_members_equal_to_sql", True)),
    ],
    "W9": [
        ("guildbase ≥ 0.5× COPY", _ratio("guildbase", 0.5)),
        ("0 events lost on close", _check("guildbase_events_lost_after_close", 0)),
    ],
    "W11": [
        ("import ≥ 50k cases/s", _rate_at_least("guildbase", 50_000)),
        ("every case imported", _check("rows_skipped", 0)),
        ("counter continues the numbering", _check("next_case_number_continues", True)),
    ],
    "W12": [
        ("CSV ≥ 100k rows/s", _rate_at_least("guildbase_csv", 100_000)),
        ("JSON Lines ≥ 100k rows/s", _rate_at_least("guildbase_jsonl", 100_000)),
        ("peak RSS ≤ 200 MB (CSV)", _at_most("peak_rss_mb_csv", 200)),
        ("peak RSS ≤ 200 MB (JSON Lines)", _at_most("peak_rss_mb_jsonl", 200)),
        ("every row written (CSV)", _check("csv_lines_equal_rows_plus_header", True)),
    ],
    "W13": [
        ("erase of the user's rows", _reported("erase_seconds_median", " s")),
        ("rows erased", _reported("rows_erased")),
        ("export of the same user", _reported("export_seconds_median", " s")),
        ("export peak RSS (process)", _reported("export_peak_rss_mb", " MB")),
        ("export Python allocation peak", _reported("export_python_peak_mib", " MiB")),
        ("user ID left outside kept rows", _check("remaining_after_erase", 0)),
    ],
}


def markdown(results: dict[str, Any]) -> str:
    """Two tables: the variants of each workload, then each target with its measured value."""
    lines = [
        (
            f"Run {results['started']} ({'quick' if results['quick'] else 'full'}, {results['rounds']} round(s)), "
            f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}"
        ),
        "",
        "| id | variant | ops/s median | min | max | × limit | p50 ms | p99 ms | statements/op |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for wid, w in results["workloads"].items():
        for name, v in w["variants"].items():
            statements = "" if v["statements_per_op"] is None else f"{v['statements_per_op']:.2f}"
            ratio = "–" if v["ratio_to_limit"] is None else f"{v['ratio_to_limit']:.2f}"  # W13: no limit variant
            lines.append(
                f"| {wid} | {name} | {v['median']:,.0f} | {v['min']:,.0f} | {v['max']:,.0f} | "
                f"{ratio} | {v['p50_ms']:.2f} | {v['p99_ms']:.2f} | {statements} |"
            )
    lines += ["", "| id | target | measured | met | peak RSS MB (process, so far) |", "|---|---|---|---|---:|"]
    for wid, w in results["workloads"].items():
        for label, check in TARGETS.get(wid, []):
            try:
                value, ok = check(w)
            except (KeyError, ZeroDivisionError, TypeError) as error:
                value, ok = f"n/a ({error})", False
            met = "no target" if ok is None else ("yes" if ok else "**no**")
            lines.append(f"| {wid} | {label} | {value} | {met} | {w['peak_rss_mb_so_far']} |")
    return "\n".join(lines) + "\n"
