import asyncio

import pytest

from guildbase import Database
from guildbase.controllers.guild_config import config_key
from guildbase.services.batchload import BatchLoader
from guildbase.testing import ids, statements_on

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1


async def test_keys_asked_for_together_are_loaded_by_one_call() -> None:
    calls: list[list[int]] = []

    async def fetch_many(keys: list[int]) -> dict[int, str]:
        calls.append(sorted(keys))
        return {k: f"row {k}" for k in keys if k % 2 == 0}

    loader = BatchLoader(fetch_many)
    results = await asyncio.gather(*(loader.load(k) for k in [1, 2, 3, 4, 2]))
    assert results == [None, "row 2", None, "row 4", "row 2"]  # missing rows are None, duplicates share one
    assert calls == [[1, 2, 3, 4]]
    assert await loader.load(6) == "row 6"  # a later turn is a new batch
    assert loader.batches == 2


async def test_a_failed_batch_fails_every_caller_and_the_next_batch_starts_clean() -> None:
    attempts = 0

    async def fetch_many(keys: list[int]) -> dict[int, int]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            msg = "database went away"
            raise ConnectionError(msg)
        return {k: k for k in keys}

    loader = BatchLoader(fetch_many)
    outcomes = await asyncio.gather(*(loader.load(k) for k in range(3)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert await asyncio.gather(*(loader.load(k) for k in range(3))) == [0, 1, 2]


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    release = asyncio.Event()

    async def fetch_many(keys: list[int]) -> dict[int, int]:
        await release.wait()
        return {k: k * 10 for k in keys}

    loader = BatchLoader(fetch_many)
    impatient = asyncio.create_task(loader.load(1))
    patient = asyncio.create_task(loader.load(1))
    await asyncio.sleep(0.01)
    impatient.cancel()
    release.set()
    assert await patient == 10
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_a_full_batch_is_sent_without_waiting_for_the_loop_turn() -> None:
    sizes: list[int] = []

    async def fetch_many(keys: list[int]) -> dict[int, int]:
        sizes.append(len(keys))
        return {k: k for k in keys}

    loader = BatchLoader(fetch_many, max_batch=4)
    assert await asyncio.gather(*(loader.load(k) for k in range(10))) == list(range(10))
    assert sizes == [4, 4, 2]


async def test_cold_config_reads_of_many_guilds_are_one_query(pooled_db: Database) -> None:
    guilds = [GUILD + n for n in range(40)]
    for guild_id in guilds:
        await pooled_db.guilds.join(guild_id)
    await pooled_db.cache.invalidate(*(config_key(g) for g in guilds))
    async with statements_on(pooled_db.engine) as statements:
        configs = await asyncio.gather(*(pooled_db.guild_config.get(g) for g in guilds))
    assert [c.guild_id for c in configs] == guilds
    assert len([s for s in statements if "FROM guild_config" in s]) == 1
