"""docs/requirements.md must list every criterion once, and every test it cites must exist."""

import re
from pathlib import Path

CRITERIA = [f"R1.{n}" for n in range(1, 5)] + [f"R{r}.{n}" for r in range(2, 23) for n in range(1, 6)]


def _rows(project_root: Path) -> dict[str, list[str]]:
    rows = {}
    for line in (project_root / "docs" / "requirements.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and re.fullmatch(r"R\d+\.\d", cells[0]):
            rows[cells[0]] = cells
    return rows


def test_every_criterion_has_exactly_one_row_with_a_status(project_root: Path) -> None:
    rows = _rows(project_root)
    assert sorted(rows) == sorted(CRITERIA)
    assert {cells[2] for cells in rows.values()} <= {"done", "partial", "open"}


def test_every_cited_test_exists(project_root: Path) -> None:
    missing = []
    for criterion, cells in _rows(project_root).items():
        path: Path | None = None
        for token in re.findall(r"`([^`]+)`", cells[3]):
            if "::" in token:
                file, name = token.split("::", 1)
                if file:
                    path = project_root / "tests" / file
            elif token.startswith("test_") and path is not None:
                name = token
            else:
                continue
            name = name.lstrip(":").split("[")[0]
            if path is None or not path.is_file() or f"def {name}(" not in path.read_text():
                missing.append(f"{criterion}: {path.relative_to(project_root) if path else '?'}::{name}")
    assert missing == []
