"""The level curve functions become plain SQL expressions that the planner inlines.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04 19:30:00.000000

Migration 0003 made ``level_total_xp`` a ``STRICT`` SQL function around a
``CASE``, and ``level_for_xp`` a PL/pgSQL loop that calls it. PostgreSQL
inlines neither: a strict function whose body is not strict (``CASE`` is not)
keeps its call, and PL/pgSQL is never inlined. So every call ran the SQL
function executor afresh in each statement, about 16-20 µs each, and the
per-message award made three of them (W1, ``docs/performance.md``).

Here both become one SQL expression each, with no ``STRICT`` and each
argument's ``CASE`` written out, so the planner substitutes them into the
calling statement. The results are the same for every input, NULL included:

- ``level_total_xp`` is the same closed form per curve; a NULL level or
  curve gives NULL (there is no ``ELSE`` branch);
- ``level_for_xp`` inverts the curve in closed form, then corrects that
  estimate by one level either way against the exact integer totals. Double
  precision keeps the estimate far closer than one level over the whole
  range of XP a member can hold (``MAX_XP``, 10¹²), so the answer is exact:
  the highest level whose total ``xp`` reaches (0 for negative XP, NULL for
  a NULL argument). MEE6's total is the cubic
  (10l³ + 135l² + 455l) / 6; with l = t - 4.5 it is t³ - 15.25t = 0.6·xp + 22.5,
  whose one real root is 2·√(15.25/3)·cosh(acosh(s / (15.25/3)^1.5) / 3)
  with s = 0.3·xp + 11.25. Linear's 50·l·(l + 1) inverts with one square root.

``tests/controllers/test_levels.py`` checks every level boundary up to the
largest XP a member can hold; ``tests/migrations/test_level_functions.py``
checks that 0003's answers come back after this upgrade and after the
downgrade, which restores 0003's definitions, and that the planner inlines
both functions.
"""

from collections.abc import Callable, Sequence

from alembic import context, op

revision: str = "0029"
down_revision: str | Sequence[str] | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _mee6_total(level: str) -> str:
    return f"(((10 * ({level}) + 135) * ({level}) + 455) * ({level}) / 6)"


def _linear_total(level: str) -> str:
    return f"(50 * ({level}) * (({level}) + 1))"


_XP = "CAST(xp AS double precision)"
_MEE6_ESTIMATE = (
    f"CAST(floor(4.509249752822894 * cosh(acosh(greatest((0.3 * {_XP} + 11.25) / 11.460513659504087, 1.0)) / 3)"
    " - 4.5) AS bigint)"
)
_LINEAR_ESTIMATE = f"CAST(floor((sqrt(1 + 0.08 * {_XP}) - 1) / 2) AS bigint)"


def _corrected(estimate: str, total: Callable[[str], str]) -> str:
    """``estimate`` moved one level up or down when the exact totals say it is off by one.

    The estimate is written out three times, not bound to a name: an SQL
    function whose body has a FROM clause is no longer inlined.
    """
    up, at = total(f"{estimate} + 1"), total(estimate)
    return f"{estimate} + CASE WHEN {up} <= xp THEN 1 WHEN {at} > xp THEN -1 ELSE 0 END"


LEVEL_TOTAL_XP = """
CREATE OR REPLACE FUNCTION level_total_xp(level integer, curve level_curve) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE curve
        WHEN 'mee6' THEN (10 * level::bigint * level * level + 135 * level::bigint * level + 455 * level::bigint) / 6
        WHEN 'linear' THEN 50 * level::bigint * (level + 1)
        WHEN 'flat' THEN 1000 * level::bigint
    END
$$
"""

LEVEL_FOR_XP = f"""
CREATE OR REPLACE FUNCTION level_for_xp(xp bigint, curve level_curve) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CAST(CASE WHEN xp < 0 THEN 0 WHEN xp >= 0 THEN CASE curve
        WHEN 'mee6' THEN {_corrected(_MEE6_ESTIMATE, _mee6_total)}
        WHEN 'linear' THEN {_corrected(_LINEAR_ESTIMATE, _linear_total)}
        WHEN 'flat' THEN xp / 1000
    END END AS integer)
$$
"""


def _definitions_of_0003() -> list[str]:
    """0003's own statements, read from its revision: the downgrade restores exactly what it created."""
    engagement = context.script.get_revision("0003")
    assert engagement is not None  # noqa: S101 - the revision this one descends from
    created = (engagement.module.LEVEL_FOR_XP, engagement.module.LEVEL_TOTAL_XP)
    return [statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1) for statement in created]


def upgrade() -> None:
    op.execute(LEVEL_TOTAL_XP)
    op.execute(LEVEL_FOR_XP)


def downgrade() -> None:
    for statement in _definitions_of_0003():
        op.execute(statement)
