"""Security events (R10.4): recorded, queried by user, IP, guild and time; append-only; retention by partition."""

from datetime import timedelta

import pytest
from sqlalchemy import text

from guildbase import Database
from guildbase.db import partitions
from guildbase.errors import ValidationError
from guildbase.models.security import SECURITY_RETENTION_MONTHS, SecurityEventKind
from guildbase.testing import ids, shifted_now

pytestmark = pytest.mark.clock  # events are placed around now

BLOCK = ids.block()
USER = BLOCK + 1
OTHER_USER = BLOCK + 2
GUILD = BLOCK + 11
OTHER_GUILD = BLOCK + 12
K = SecurityEventKind


async def _seed(db: Database) -> None:
    now = shifted_now()
    await db.security.record(K.LOGIN, user_id=USER, ip="203.0.113.7", occurred_at=now - timedelta(hours=3))
    await db.security.record(K.LOGIN_FAILED, user_id=OTHER_USER, ip="203.0.113.7", occurred_at=now - timedelta(hours=2))
    await db.security.record(
        K.DASHBOARD_PERMISSION_DENIED,
        user_id=USER,
        guild_id=GUILD,
        ip="2001:db8::1",
        detail={"page": "moderation"},
        occurred_at=now - timedelta(hours=1),
    )
    await db.security.record(K.LOGOUT, user_id=USER, occurred_at=now - timedelta(minutes=5))
    await db.security.record(K.ACCESS_DENIED, guild_id=OTHER_GUILD, occurred_at=now - timedelta(minutes=1))


async def test_events_are_found_by_user_by_ip_by_guild_and_by_time_newest_first(db: Database) -> None:
    await _seed(db)
    now = shifted_now()
    assert [e.kind for e in await db.security.by_user(USER)] == [K.LOGOUT, K.DASHBOARD_PERMISSION_DENIED, K.LOGIN]
    by_ip = await db.security.by_ip("203.0.113.7")
    assert [(e.kind, e.user_id) for e in by_ip] == [(K.LOGIN_FAILED, OTHER_USER), (K.LOGIN, USER)]
    denied = await db.security.by_guild(GUILD)
    assert [(e.kind, e.ip, e.detail) for e in denied] == [
        (K.DASHBOARD_PERMISSION_DENIED, "2001:db8::1", {"page": "moderation"})
    ]
    assert [e.kind for e in await db.security.by_ip("2001:0db8:0000::1")] == [K.DASHBOARD_PERMISSION_DENIED]
    window = await db.security.between(now - timedelta(hours=2, minutes=30), now - timedelta(minutes=2))
    assert [e.kind for e in window] == [K.LOGOUT, K.DASHBOARD_PERMISSION_DENIED, K.LOGIN_FAILED]
    failed = await db.security.between(now - timedelta(days=1), now + timedelta(minutes=1), kind="login_failed")
    assert [e.user_id for e in failed] == [OTHER_USER]
    recent = await db.security.by_user(USER, since=now - timedelta(hours=2), limit=1)
    assert [e.kind for e in recent] == [K.LOGOUT]


async def test_the_trail_is_append_only_update_and_delete_are_refused(db: Database) -> None:
    await _seed(db)
    for statement in ("UPDATE security_event SET user_id = NULL", "DELETE FROM security_event"):
        with pytest.raises(Exception, match="security_event is append-only"):
            async with db.session() as session:
                await session.execute(text(statement))
    month = partitions.month_of(shifted_now())
    name = f"security_event_p{month:%Y%m}"
    with pytest.raises(Exception, match="append-only: DELETE refused"):
        async with db.session() as session:
            await session.execute(text(f"DELETE FROM {name}"))  # a partition is guarded as well
    assert len(await db.security.by_user(USER)) == 3


async def test_an_event_in_a_month_without_a_partition_creates_the_month(db: Database) -> None:
    far = shifted_now() + timedelta(days=400)
    await db.security.record(K.LOGIN, user_id=USER, occurred_at=far)
    async with db.session() as session:
        names = await session.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'security_event'::regclass"
            )
        )
        assert f"security_event_p{partitions.month_of(far):%Y%m}" in set(names)
    assert [e.occurred_at for e in await db.security.by_user(USER)] == [far]


async def test_retention_drops_whole_months_past_it_and_creates_months_ahead(db: Database) -> None:
    now = shifted_now()
    old = now - timedelta(days=31 * (SECURITY_RETENTION_MONTHS + 2))
    await db.security.record(K.LOGIN, user_id=USER, occurred_at=old)
    await db.security.record(K.LOGIN, user_id=USER, occurred_at=now)
    changes = await db.security.maintain_partitions(months_ahead=2, now=now)
    assert f"security_event_p{partitions.month_of(old):%Y%m}" in changes["dropped"]
    assert [e.occurred_at for e in await db.security.by_user(USER)] == [now]
    ahead = partitions.add_months(partitions.month_of(now), 2)
    again = await db.security.maintain_partitions(months_ahead=2, now=now)
    assert again == {"created": [], "dropped": []}
    async with db.session() as session:
        assert await session.scalar(text(f"SELECT to_regclass('security_event_p{ahead:%Y%m}') IS NOT NULL"))


async def test_a_bad_address_or_kind_is_refused_by_name_before_anything_is_written(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await db.security.record(K.LOGIN, user_id=USER, ip="300.1.1.1")
    assert raised.value.fields == ["ip"]
    with pytest.raises(ValidationError) as raised:
        await db.security.record("no-such-kind", user_id=USER)
    assert raised.value.fields == ["kind"]
    assert await db.security.by_user(USER) == []
