"""The test helpers themselves: they decide what every other test runs against."""

import os

import pytest
import redis

from guildbase.testing import LEASE_REGISTRY_DB, leased_redis_db


def test_concurrent_runs_lease_different_redis_dbs_and_give_them_back(redis_url: str | None) -> None:
    if redis_url is None:
        pytest.skip("leasing needs a Redis server; this run fell back to the in-process stand-in")
    registry = redis.Redis.from_url(f"{redis_url.rsplit('/', 1)[0]}/{LEASE_REGISTRY_DB}")
    try:
        if not os.environ.get("GUILDBASE_TEST_REDIS_URL"):  # a given URL is used as is, without a lease
            assert registry.exists(f"guildbase:test-lease:{redis_url.rsplit('/', 1)[1]}")  # this run holds one
        with leased_redis_db(redis_url) as first, leased_redis_db(redis_url) as second:
            numbers = {redis_url.rsplit("/", 1)[1], first.rsplit("/", 1)[1], second.rsplit("/", 1)[1]}
            assert len(numbers) == 3  # nobody flushes anybody else's keys
            assert first.rsplit("/", 1)[0] == redis_url.rsplit("/", 1)[0]  # same server, another db
        assert not registry.exists(f"guildbase:test-lease:{first.rsplit('/', 1)[1]}")  # given back

        with leased_redis_db(redis_url) as again:
            lease = f"guildbase:test-lease:{again.rsplit('/', 1)[1]}"
            registry.set(lease, "someone-else")  # our lease expired and another run took the db
        assert registry.get(lease) == b"someone-else"  # …so we leave theirs alone
        registry.delete(lease)
    finally:
        registry.close()
