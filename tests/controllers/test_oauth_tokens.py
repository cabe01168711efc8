"""OAuth tokens (R10.1): store, get, refresh and revoke a user's Discord tokens, encrypted at rest."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from guildbase import Database
from guildbase.db.encryption import Keyring, keys_in_use
from guildbase.errors import NotFoundError, ValidationError
from guildbase.models.oauth import OAuthTokenRead
from guildbase.testing import ids, shifted_now

pytestmark = pytest.mark.clock  # expiries are measured from now

BLOCK = ids.block()
USER = BLOCK + 1
OTHER = BLOCK + 2
KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _keys(db: Database) -> Iterator[Keyring]:
    """After ``db``: building a Database installs its settings' keys (none in the tests)."""
    with keys_in_use([KEY]) as ring:
        yield ring


async def _store(  # noqa: PLR0917 - the columns of a login, in order
    db: Database, user: int, access: str, refresh: str | None, scopes: list[str], expires: datetime
) -> OAuthTokenRead:
    return await db.oauth_tokens.store(
        user, access_token=access, refresh_token=refresh, scopes=scopes, expires_at=expires
    )


async def _refresh(db: Database, user: int, access: str, refresh: str | None, expires: datetime) -> OAuthTokenRead:
    return await db.oauth_tokens.refresh(user, access_token=access, refresh_token=refresh, expires_at=expires)


async def test_store_then_get_gives_the_tokens_back_and_a_login_again_replaces_them(db: Database) -> None:
    expires = shifted_now() + timedelta(days=7)
    stored = await _store(db, USER, "a1", "r1", ["identify", "guilds"], expires)
    assert stored.access_token.get_secret_value() == "a1"
    assert stored.scopes == ["guilds", "identify"]
    assert not stored.is_expired(shifted_now())
    again = await _store(db, USER, "a2", None, ["identify"], expires)
    assert again.refresh_token is None
    got = await db.oauth_tokens.get(USER)
    assert got is not None
    assert got.access_token.get_secret_value() == "a2"
    assert got.scopes == ["identify"]
    assert await db.oauth_tokens.get(OTHER) is None


async def test_refresh_replaces_the_tokens_and_needs_a_stored_login(db: Database) -> None:
    expires = shifted_now() + timedelta(hours=1)
    await _store(db, USER, "a1", "r1", ["identify"], expires)
    later = expires + timedelta(days=7)
    refreshed = await _refresh(db, USER, "a2", "r2", later)
    assert (refreshed.access_token.get_secret_value(), refreshed.expires_at) == ("a2", later)
    assert refreshed.refresh_token is not None
    assert refreshed.refresh_token.get_secret_value() == "r2"
    with pytest.raises(NotFoundError, match="user_id"):
        await _refresh(db, OTHER, "a", None, later)


async def test_revoke_forgets_the_tokens_once(db: Database) -> None:
    expires = shifted_now() + timedelta(hours=1)
    await _store(db, USER, "a1", "r1", ["identify"], expires)
    assert await db.oauth_tokens.revoke(USER) is True
    assert await db.oauth_tokens.revoke(USER) is False
    assert await db.oauth_tokens.get(USER) is None


async def test_neither_token_is_stored_in_clear(db: Database) -> None:
    expires = shifted_now() + timedelta(hours=1)
    await _store(db, USER, "plain-access", "plain-refresh", ["identify"], expires)
    async with db.session() as session:
        dump = await session.scalar(
            text("SELECT row_to_json(t)::text FROM oauth_token AS t WHERE user_id = :u"), {"u": USER}
        )
    assert dump is not None
    assert "plain-access" not in dump
    assert "plain-refresh" not in dump


async def test_a_login_without_scopes_is_refused_by_name(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await _store(db, USER, "a", None, [], shifted_now() + timedelta(hours=1))
    assert raised.value.fields == ["scopes"]
