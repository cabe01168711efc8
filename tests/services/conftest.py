"""Every Redis test of the services runs twice: on one Redis server and on a 3-node Redis Cluster.

``redis_url`` (and with it ``redis_client``, ``settings``, ``db`` and
``pooled_db``) is parametrized here, so the same test proves a service on both
targets. The outage tests start servers of their own and run once.
"""

from collections.abc import Iterator

import pytest

SINGLE_ONLY = {"test_outage.py", "test_invalidation_script.py"}
"""Modules whose tests bring their own Redis server, or are about one server only: run once, on ``single``."""


@pytest.fixture(scope="session", params=["single", "cluster"])
def redis_url(request: pytest.FixtureRequest, redis_url: str | None) -> Iterator[str | None]:
    """The run's Redis (``single``) or the run's Redis Cluster (``cluster``, a ``redis+cluster://`` URL)."""
    if request.param == "cluster":
        yield request.getfixturevalue("redis_cluster_url")
    else:
        yield redis_url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the single-only modules once (their ``[single]`` variant)."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        variant = callspec.params.get("redis_url") if callspec is not None else None
        (dropped if variant == "cluster" and item.path.name in SINGLE_ONLY else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
