"""Key rotation (R10.1): every encrypted value moves to the newest key, resumably, readable throughout.

The old key is dropped afterwards and everything still reads; a wrong or
missing key stops the run naming the column and overwrites nothing; a reader
running through the rotation never fails; and a real ``guildbase keys rotate``
killed with SIGKILL half-way is finished by running it again.
"""

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text

from guildbase import Database, Settings
from guildbase.db.encryption import EncryptionKeyError, keys_in_use
from guildbase.db.types import utcnow
from guildbase.models.security import SecurityEventKind
from guildbase.testing import ids

pytestmark = pytest.mark.clock  # token expiries are measured from now

BLOCK = ids.block()
USERS = [BLOCK + 1 + index for index in range(100)]
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
GUILDBASE = Path(sys.executable).with_name("guildbase")


@pytest.fixture
def old_key(db: Database) -> Iterator[None]:
    """The values are written under OLD (after ``db``, which installs its settings' keys)."""
    with keys_in_use([OLD]):
        yield


async def _seed(db: Database, users: list[int]) -> None:
    expires = utcnow() + timedelta(days=7)
    with keys_in_use([OLD]):
        for user in users:
            await db.oauth_tokens.store(
                user, access_token=f"a-{user}", refresh_token=f"r-{user}", scopes=["identify"], expires_at=expires
            )


async def _raw(db: Database) -> dict[int, tuple[str, str]]:
    async with db.session() as session:
        rows = await session.execute(text("SELECT user_id, access_token, refresh_token FROM oauth_token"))
        return {row.user_id: (row.access_token, row.refresh_token) for row in rows}


def _under(key: str, token: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


async def _all_readable(db: Database, users: list[int]) -> bool:
    for user in users:
        token = await db.oauth_tokens.get(user)
        assert token is not None
        assert token.refresh_token is not None
        assert (token.access_token.get_secret_value(), token.refresh_token.get_secret_value()) == (
            f"a-{user}",
            f"r-{user}",
        )
    return True


@pytest.mark.usefixtures("old_key")
async def test_after_rotation_the_old_key_can_be_dropped(db: Database) -> None:
    users = USERS[:12]
    await _seed(db, users)
    seen: list[tuple[str, int, int]] = []
    with keys_in_use([NEW, OLD]):
        report = await db.encryption.rotate(batch_size=5, on_batch=lambda *step: seen.append(step))
    counts = report.tables["oauth_token"]
    assert (counts.rows, counts.rotated, counts.current) == (12, 12, 0)
    assert seen == [("oauth_token", 5, 12), ("oauth_token", 10, 12), ("oauth_token", 12, 12)]
    assert all(_under(NEW, value) for pair in (await _raw(db)).values() for value in pair)
    with keys_in_use([NEW]):  # the old key is gone from the configuration
        assert await _all_readable(db, users)
        again = await db.encryption.rotate(batch_size=5)
    assert (again.tables["oauth_token"].rotated, again.tables["oauth_token"].current) == (0, 12)
    rotations = await db.security.between(
        utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1), kind=SecurityEventKind.KEY_ROTATION
    )
    assert [e.detail["tables"]["oauth_token"]["rotated"] for e in rotations] == [0, 12]


@pytest.mark.usefixtures("old_key")
async def test_a_wrong_key_stops_the_rotation_naming_the_column_and_overwrites_nothing(db: Database) -> None:
    await _seed(db, USERS[:3])
    before = await _raw(db)
    with keys_in_use([NEW]), pytest.raises(EncryptionKeyError) as raised:  # OLD is missing: nothing opens the values
        await db.encryption.rotate()
    assert raised.value.column == "oauth_token.access_token"
    assert f"row (user_id={USERS[0]})" in str(raised.value)
    assert OLD not in str(raised.value)
    assert NEW not in str(raised.value)
    assert await _raw(db) == before
    with keys_in_use([]), pytest.raises(EncryptionKeyError, match=r"^\w+\.\w+: no encryption key"):
        await db.encryption.rotate()
    assert await _raw(db) == before


async def test_a_reader_running_through_the_rotation_reads_every_value_throughout(pooled_db: Database) -> None:
    users = USERS[:60]
    await _seed(pooled_db, users)
    reads = during = 0
    rotating = True

    async def reader() -> None:
        nonlocal reads, during
        while rotating or reads == 0:
            await _all_readable(pooled_db, users[reads % 6 :: 6])
            reads += 1
            during += rotating  # this read began and ended while the rotation was running
            await asyncio.sleep(0)

    with keys_in_use([NEW, OLD]):
        task = asyncio.create_task(reader())
        try:
            report = await pooled_db.encryption.rotate(batch_size=4, on_batch=lambda *_: None)
        finally:
            rotating = False
        await task  # re-raises the first failed read, if any
        assert report.tables["oauth_token"].rotated == len(users)
    assert during > 1
    with keys_in_use([NEW]):
        assert await _all_readable(pooled_db, users)


async def _wait_for(condition: object, process: asyncio.subprocess.Process, what: str) -> None:
    for _ in range(600):
        if process.returncode is not None:
            pytest.fail(f"rotation exited early while waiting for {what}: {(await process.communicate())[1]!r}")
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
async def test_a_rotation_killed_half_way_is_finished_by_running_it_again(
    pooled_db: Database, settings: Settings
) -> None:
    await _seed(pooled_db, USERS)
    assert settings.database_url is not None
    env = {
        **os.environ,
        "GUILDBASE_DATABASE_URL": settings.database_url,
        "GUILDBASE_REDIS_URL": settings.redis_url or "",
        "GUILDBASE_ENCRYPTION_KEYS": f"{NEW},{OLD}",
    }
    if not settings.redis_url:
        env.pop("GUILDBASE_REDIS_URL")
    command = [str(GUILDBASE), "keys", "rotate", "--batch-size", "10"]

    async def rotated() -> int:
        return sum(_under(NEW, access) for access, _ in (await _raw(pooled_db)).values())

    async with pooled_db.engine.connect() as holder:  # holds row 56 so the 6th batch waits on it
        await holder.execute(text("SELECT 1 FROM oauth_token WHERE user_id = :u FOR UPDATE"), {"u": USERS[55]})
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )

        async def blocked() -> bool:
            async with pooled_db.session() as session:
                waiting = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE oauth_token%'"
                    )
                )
            return bool(waiting) and await rotated() == 50

        await _wait_for(blocked, process, "five committed batches and the sixth blocked")
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await holder.rollback()
    assert process.returncode == -signal.SIGKILL
    raw = await _raw(pooled_db)
    assert [user for user in USERS if _under(NEW, raw[user][0])] == USERS[:50]
    with keys_in_use([NEW, OLD]):
        assert await _all_readable(pooled_db, USERS)  # half-way, everything reads

    rerun = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await rerun.communicate()
    assert rerun.returncode == 0, err.decode()[-2000:]
    assert "│ oauth_token │ 100  │ 50      │ 50              │" in out.decode()
    with keys_in_use([NEW]):
        assert await _all_readable(pooled_db, USERS)
