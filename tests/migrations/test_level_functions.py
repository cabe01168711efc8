"""Migration 0029: the level functions give 0003's answers for every input, and the planner inlines them."""

from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from scratch_sql import rows as _rows
from sqlalchemy.engine import URL

from guildbase.db.migrations import alembic_config

REVISION = "0029"

# Every level boundary of the first 2,000 levels of each curve (one XP short, on it, one past), the
# largest XP a member can hold, negative XP and NULLs: each answer of 0003's loop must come back.
ANSWERS = """
WITH xp AS (
    SELECT DISTINCT level_total_xp(l, c) + d AS xp, c AS curve
    FROM generate_series(0, 2000) AS l
    CROSS JOIN unnest(enum_range(NULL::level_curve)) AS c
    CROSS JOIN (VALUES (-1), (0), (1)) AS v (d)
    UNION ALL
    SELECT x, c FROM unnest(ARRAY[-5, 999999999999, 1000000000000]::bigint[]) AS x
    CROSS JOIN unnest(enum_range(NULL::level_curve)) AS c
    UNION ALL SELECT NULL, 'mee6' UNION ALL SELECT 5, NULL
)
SELECT xp, curve::text, level_for_xp(xp, curve), level_total_xp(level_for_xp(xp, curve), curve),
       level_total_xp(CAST(xp % 5000 AS integer), curve)
FROM xp ORDER BY 2, 1
"""


def _answers(url: URL) -> list[tuple[Any, ...]]:
    return _rows(url, ANSWERS)


def _plan(url: URL) -> str:
    [(plan,)] = _rows(
        url,
        "EXPLAIN (VERBOSE, FORMAT JSON) SELECT level_for_xp(x, c), level_total_xp(CAST(x AS integer), c) "
        "FROM generate_series(1, 3) AS x CROSS JOIN unnest(enum_range(NULL::level_curve)) AS c",
    )
    return str(plan)


def _languages(url: URL) -> dict[str, tuple[str, bool]]:
    found = _rows(
        url,
        "SELECT p.proname, l.lanname, p.proisstrict FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang "
        "WHERE p.proname IN ('level_for_xp', 'level_total_xp')",
    )
    return {name: (language, strict) for name, language, strict in found}


def test_the_inlined_functions_answer_as_0003s_did_and_the_downgrade_restores_them(database: URL) -> None:
    config = alembic_config(database)
    previous = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    command.upgrade(config, str(previous))
    before = _answers(database)
    assert len(before) > 3 * 2000
    assert "level_for_xp" in _plan(database)  # 0003's loop is a call in every plan
    assert _languages(database) == {"level_for_xp": ("plpgsql", True), "level_total_xp": ("sql", True)}

    command.upgrade(config, REVISION)
    assert _answers(database) == before
    plan = _plan(database)
    assert "level_for_xp" not in plan  # substituted into the statement: no function call left
    assert "level_total_xp" not in plan
    assert _languages(database) == {"level_for_xp": ("sql", False), "level_total_xp": ("sql", False)}

    command.downgrade(config, str(previous))
    assert _answers(database) == before
    assert _languages(database) == {"level_for_xp": ("plpgsql", True), "level_total_xp": ("sql", True)}
