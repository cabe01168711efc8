"""API keys (R10.5): hashed at rest, shown once, scoped per guild and action, expiring, revocable, audited.

Every refusal (forged, expired, revoked, wrong scope) is checked twice: ``verify``
raises, and a security event records it with the reason.
"""

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlmodel import col

from guildbase import Database, acting_as
from guildbase.controllers.api_keys import ApiKeyRefusedError
from guildbase.db.types import utcnow
from guildbase.errors import ValidationError
from guildbase.models.audit import AuditAction, AuditLog
from guildbase.models.security import ApiAction, ApiKey, ApiKeyCreated, SecurityEventKind
from guildbase.testing import ids

pytestmark = pytest.mark.clock  # expiries are measured from now

BLOCK = ids.block()
GUILD = BLOCK + 1
OTHER_GUILD = BLOCK + 2
ADMIN = BLOCK + 101
K = SecurityEventKind


async def _create(db: Database, **kwargs: object) -> ApiKeyCreated:
    options: dict[str, object] = {"guild_ids": [GUILD], "actions": [ApiAction.CASES_READ]} | kwargs
    with acting_as(ADMIN):
        return await db.api_keys.create("ci bot", **options)  # type: ignore[arg-type]


async def _refusals(db: Database) -> list[tuple[str, int | None]]:
    now = utcnow()  # events carry the real time they were written at, whatever the test clock says
    events = await db.security.between(now - timedelta(days=1), now + timedelta(days=1))
    return [(e.detail["reason"], e.api_key_id) for e in reversed(events) if e.kind is K.API_KEY_REFUSED]


async def test_only_the_prefix_and_the_sha256_of_the_secret_are_stored_and_the_token_is_shown_once(
    db: Database,
) -> None:
    created = await _create(db)
    token = created.token.get_secret_value()
    scheme, prefix, secret = token.split("_", 2)
    assert (scheme, prefix) == ("gb", created.key.prefix)
    assert len(secret) >= 43  # 32 random bytes, url-safe base64
    assert token not in repr(created)
    async with db.session() as session:
        row = (await session.execute(text("SELECT row_to_json(k)::text AS dump, secret_hash FROM api_key k"))).one()
    assert secret not in row.dump
    assert bytes(row.secret_hash) == hashlib.sha256(secret.encode()).digest()
    listed = await db.api_keys.list()
    assert [k.key_id for k in listed] == [created.key.key_id]
    assert "secret_hash" not in type(listed[0]).model_fields


async def test_a_good_key_is_accepted_in_its_scope_and_its_use_recorded(db: Database) -> None:
    created = await _create(db, actions=["cases:read", "cases:write"], guild_ids=[GUILD, OTHER_GUILD])
    token = created.token.get_secret_value()
    key = await db.api_keys.verify(token, guild_id=OTHER_GUILD, action="cases:write", ip="198.51.100.4")
    assert key.key_id == created.key.key_id
    assert key.last_used_at is not None
    used = [e for e in await db.security.by_ip("198.51.100.4") if e.kind is K.API_KEY_USED]
    assert [(e.api_key_id, e.guild_id, e.user_id) for e in used] == [(key.key_id, OTHER_GUILD, ADMIN)]


async def test_a_forged_key_is_refused_and_leaves_a_security_event(db: Database) -> None:
    created = await _create(db)
    token = created.token.get_secret_value()
    forged = [
        "not-a-key",  # malformed
        f"gb_{'0' * 12}_{'x' * 43}",  # no such prefix
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),  # the right prefix, a wrong secret
    ]
    reasons = []
    for candidate in forged:
        with pytest.raises(ApiKeyRefusedError) as raised:
            await db.api_keys.verify(candidate, guild_id=GUILD, action=ApiAction.CASES_READ)
        reasons.append(raised.value.reason)
    assert reasons == ["malformed", "unknown key", "wrong secret"]
    assert await _refusals(db) == [("malformed", None), ("unknown key", None), ("wrong secret", created.key.key_id)]


async def test_an_expired_key_is_refused_and_leaves_a_security_event(db: Database) -> None:
    created = await _create(db, expires_at=utcnow() + timedelta(hours=1))
    async with db.session() as session:  # an hour passes
        await session.execute(
            update(ApiKey).where(col(ApiKey.key_id) == created.key.key_id).values(expires_at=utcnow())
        )
    with pytest.raises(ApiKeyRefusedError, match="expired"):
        await db.api_keys.verify(created.token.get_secret_value(), guild_id=GUILD, action="cases:read")
    assert await _refusals(db) == [("expired", created.key.key_id)]


async def test_a_revoked_key_is_refused_and_leaves_a_security_event(db: Database) -> None:
    created = await _create(db)
    token = created.token.get_secret_value()
    await db.api_keys.verify(token, guild_id=GUILD, action="cases:read")
    with acting_as(ADMIN):
        revoked = await db.api_keys.revoke(created.key.key_id)
        assert await db.api_keys.revoke(created.key.key_id) == revoked  # again: nothing changes
    assert (revoked.revoked_by, revoked.revoked_at is not None) == (ADMIN, True)
    with pytest.raises(ApiKeyRefusedError, match="revoked"):
        await db.api_keys.verify(token, guild_id=GUILD, action="cases:read")
    assert await _refusals(db) == [("revoked", created.key.key_id)]
    assert await db.api_keys.list() == []
    assert [k.key_id for k in await db.api_keys.list(include_revoked=True)] == [created.key.key_id]


async def test_a_key_outside_its_guilds_or_actions_is_refused_and_leaves_a_security_event(db: Database) -> None:
    created = await _create(db)
    token = created.token.get_secret_value()
    with pytest.raises(ApiKeyRefusedError, match="guild out of scope"):
        await db.api_keys.verify(token, guild_id=OTHER_GUILD, action="cases:read")
    with pytest.raises(ApiKeyRefusedError, match="action out of scope"):
        await db.api_keys.verify(token, guild_id=GUILD, action="cases:write")
    assert await _refusals(db) == [
        ("guild out of scope", created.key.key_id),
        ("action out of scope", created.key.key_id),
    ]
    denied = await db.security.by_guild(OTHER_GUILD)
    assert [(e.kind, e.user_id) for e in denied] == [(K.API_KEY_REFUSED, ADMIN)]


async def test_create_and_revoke_are_audited_per_guild_of_the_scope_and_recorded(db: Database) -> None:
    created = await _create(db, guild_ids=[GUILD, OTHER_GUILD])
    with acting_as(ADMIN):
        await db.api_keys.revoke(created.key.key_id)
    async with db.session() as session:
        rows = (await session.execute(select(AuditLog.action, AuditLog.guild_id, AuditLog.actor_id))).all()
    assert sorted(rows) == sorted(
        (action, guild, ADMIN)
        for action in (AuditAction.API_KEY_CREATE, AuditAction.API_KEY_REVOKE)
        for guild in (GUILD, OTHER_GUILD)
    )
    kinds = [e.kind for e in await db.security.by_user(ADMIN)]
    assert kinds == [K.API_KEY_REVOKED, K.API_KEY_CREATED]


async def test_listing_by_guild_shows_the_keys_whose_scope_holds_it(db: Database) -> None:
    first = await _create(db)
    second = await _create(db, guild_ids=[OTHER_GUILD])
    assert [k.key_id for k in await db.api_keys.list(guild_id=OTHER_GUILD)] == [second.key.key_id]
    assert [k.key_id for k in await db.api_keys.list()] == [second.key.key_id, first.key.key_id]


async def test_a_key_needs_a_guild_an_action_and_a_future_expiry(db: Database) -> None:
    for options, field in (
        ({"guild_ids": []}, "guild_ids"),
        ({"actions": []}, "actions"),
        ({"actions": ["cases:nuke"]}, "actions.0"),
        ({"expires_at": utcnow() - timedelta(seconds=1)}, "expires_at"),
    ):
        with pytest.raises(ValidationError) as raised:
            await _create(db, **options)
        assert raised.value.fields == [field]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ApiKey)) == 0
