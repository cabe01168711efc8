"""OAuth tokens (R10.1): the dashboard's Discord tokens per user, encrypted at rest.

``store`` after a login (replacing what the user had), ``get`` before a call
to Discord, ``refresh`` after a token refresh, ``revoke`` on logout or when
Discord refuses the token. The tokens pass through ``EncryptedText``: they
are encrypted with the newest key on write and decrypted with any configured
key on read; a missing key is an ``EncryptionKeyError`` naming the column, and
nothing is written. Nothing here is cached (Redis would hold the tokens in
clear), and the read model shows the tokens only through ``SecretStr``.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.validation import aware, optional_text, snowflake, text, texts
from guildbase.errors import NotFoundError, ValidationError
from guildbase.models.core import DiscordUser
from guildbase.models.oauth import MAX_SCOPES, SCOPE_MAX_LENGTH, TOKEN_MAX_LENGTH, OAuthToken, OAuthTokenRead

__all__ = ["OAuthTokenController"]


def _scopes(scopes: object) -> list[str]:
    checked = texts("scopes", scopes, max_length=SCOPE_MAX_LENGTH, min_items=1)
    if len(checked) > MAX_SCOPES:
        raise ValidationError.single(
            "scopes", "max_items", f"must hold at most {MAX_SCOPES} scopes, got {len(checked)}"
        )
    return sorted(set(checked))


class OAuthTokenController(Controller):
    """A user's Discord OAuth tokens: store, get, refresh, revoke."""

    async def store(
        self,
        user_id: int,
        *,
        access_token: str,
        refresh_token: str | None,
        scopes: Sequence[str],
        expires_at: datetime,
    ) -> OAuthTokenRead:
        """Keep the tokens of a login (replacing the user's previous ones)."""
        values = {
            "user_id": snowflake("user_id", user_id),
            "access_token": text("access_token", access_token, min_length=1, max_length=TOKEN_MAX_LENGTH),
            "refresh_token": optional_text("refresh_token", refresh_token, max_length=TOKEN_MAX_LENGTH),
            "scopes": _scopes(scopes),
            "expires_at": aware("expires_at", expires_at),
        }
        async with self._write() as session:
            await session.execute(insert(DiscordUser).values(user_id=values["user_id"]).on_conflict_do_nothing())
            stmt = insert(OAuthToken).values(values)
            replaced = {name: stmt.excluded[name] for name in values if name != "user_id"}
            await session.execute(
                stmt.on_conflict_do_update(index_elements=["user_id"], set_={**replaced, "updated_at": func.now()})
            )
            row = await session.scalar(select(OAuthToken).where(col(OAuthToken.user_id) == values["user_id"]))
            return OAuthTokenRead.model_validate(row)

    async def get(self, user_id: int) -> OAuthTokenRead | None:
        """The user's tokens, decrypted (as ``SecretStr``), or None when they never logged in or logged out."""
        user = snowflake("user_id", user_id)
        async with self._write() as session:
            row = await session.scalar(select(OAuthToken).where(col(OAuthToken.user_id) == user))
            return None if row is None else OAuthTokenRead.model_validate(row)

    async def refresh(
        self, user_id: int, *, access_token: str, refresh_token: str | None, expires_at: datetime
    ) -> OAuthTokenRead:
        """Replace the tokens after Discord refreshed them; ``NotFoundError`` when the user has none."""
        user = snowflake("user_id", user_id)
        values = {
            "access_token": text("access_token", access_token, min_length=1, max_length=TOKEN_MAX_LENGTH),
            "refresh_token": optional_text("refresh_token", refresh_token, max_length=TOKEN_MAX_LENGTH),
            "expires_at": aware("expires_at", expires_at),
        }
        async with self._write() as session:
            stmt = update(OAuthToken).where(col(OAuthToken.user_id) == user).values(values)
            result = await session.execute(stmt.returning(col(OAuthToken.user_id)))
            if result.one_or_none() is None:
                msg = f"user_id: user {user} has no stored OAuth tokens (store them at login first)"
                raise NotFoundError(msg)
            row = await session.scalar(
                select(OAuthToken).where(col(OAuthToken.user_id) == user).execution_options(populate_existing=True)
            )
            return OAuthTokenRead.model_validate(row)

    async def revoke(self, user_id: int) -> bool:
        """Forget the user's tokens (logout); False when there were none."""
        user = snowflake("user_id", user_id)
        async with self._write() as session:
            result = await session.execute(
                delete(OAuthToken).where(col(OAuthToken.user_id) == user).returning(col(OAuthToken.user_id))
            )
            return result.one_or_none() is not None
