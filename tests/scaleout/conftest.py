"""The scale-out harness: one real primary + streaming replica for the whole run (``replica_cluster``)."""

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis
from replica_cluster import Cluster, migrated_cluster

from guildbase import Database, Settings


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """Primary and replica on free loopback ports; the primary migrated to head and the replica caught up."""
    with migrated_cluster() as found:
        yield found


@pytest.fixture
def replica_settings(cluster: Cluster, redis_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with the pair's writer and replica; replay delay undone, the replica running."""
    if not cluster.pair.replica.running():
        cluster.pair.replica.start()
    cluster.pair.set_replay_delay("0")
    cluster.caught_up()
    return Settings(
        database_url=cluster.writer_url,
        replica_urls=[cluster.replica_url],
        redis_url=redis_url,
        pool_size=3,
        replica_retry_seconds=0,  # a replica found down is tried again at the next read
        replica_wait_ms=1000,  # a bound, not a speed claim: a loaded CI machine may replay a write late
        log_spill_dir=tmp_path_factory.getbasetemp() / "spill-replica",
    )


@pytest.fixture
async def replica_db(replica_settings: Settings, redis_client: "redis.Redis") -> AsyncIterator[Database]:
    """A Database reading from the pair's replica (Redis emptied first, by ``redis_client``)."""
    del redis_client
    database = await Database(replica_settings).connect()
    try:
        yield database
    finally:
        await database.close()
