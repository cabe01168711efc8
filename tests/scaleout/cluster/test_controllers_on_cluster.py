"""The Redis-touching controller tests, run again on the 3-node Redis Cluster.

The leaderboards (boards, ``:ready`` markers, TTLs, rebuilds), the privacy
erase and export (SCAN over every node, deletes across slots), the cached
case summaries are the controllers' Redis paths beyond the services. Their own modules in ``tests/controllers`` run on
one Redis server; here the same test functions (and their module's fixtures
and marks) are loaded under this module, where ``redis_url`` is the cluster
(``tests/scaleout/cluster/conftest.py``), so each runs once more, unchanged, on it.
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from guildbase import Database, Settings
from guildbase.services.redis import is_cluster, is_cluster_url

CONTROLLER_TESTS = Path(__file__).resolve().parents[2] / "controllers"
MODULES = ("test_leaderboards", "test_privacy", "test_moderation_cache")


def _load(name: str) -> ModuleType:
    """A fresh copy of ``tests/controllers/<name>.py`` (its own ID block: no collision with the original)."""
    if str(CONTROLLER_TESTS) not in sys.path:
        sys.path.insert(0, str(CONTROLLER_TESTS))  # its sibling helpers, as when pytest collects it there
    spec = importlib.util.spec_from_file_location(f"on_cluster_{name}", CONTROLLER_TESTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tests(module: ModuleType) -> dict[str, Any]:
    """The module's test functions, each carrying the module's marks, named ``<test>__<module>``."""
    marks = getattr(module, "pytestmark", [])
    found = {}
    for attribute, value in vars(module).items():
        if attribute.startswith("test_") and callable(value):
            for mark in marks if isinstance(marks, list) else [marks]:
                value = mark(value)  # noqa: PLW2901 - the marked function replaces the bare one
            found[f"{attribute}__{module.__name__.removeprefix('on_cluster_test_')}"] = value
    return found


for _name in MODULES:
    globals().update(_tests(_load(_name)))


async def test_the_copies_run_on_the_cluster(db: Database, settings: Settings) -> None:
    assert is_cluster(db.redis)
    assert is_cluster_url(settings.redis_url)
