"""docs/development.md's "Adding a domain" walkthrough names helpers that exist."""

import importlib
import re
from pathlib import Path

import pytest

SECTION = "## Adding a domain"


def _named(project_root: Path) -> list[str]:
    text = (project_root / "docs" / "development.md").read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return sorted(set(re.findall(r"`(guildbase(?:\.\w+)+)`", text[start:end])))


def _resolve(dotted: str) -> object:
    """The object a dotted name points at: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def test_the_walkthrough_names_enough_helpers_to_follow(project_root: Path) -> None:
    assert len(_named(project_root)) >= 25


def test_every_helper_the_walkthrough_names_exists(project_root: Path) -> None:
    missing = []
    for dotted in _named(project_root):
        try:
            _resolve(dotted)
        except (ModuleNotFoundError, AttributeError):
            missing.append(dotted)
    assert missing == [], f"docs/development.md names helpers that do not exist: {missing}"


def test_a_renamed_helper_is_caught() -> None:
    with pytest.raises(AttributeError):
        _resolve("guildbase.db.numbering.numbered_insert_renamed")
    with pytest.raises(ModuleNotFoundError):
        _resolve("guildbase_nothing.at_all")
