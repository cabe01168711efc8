"""OAuth domain (R10.1): the Discord OAuth tokens the dashboard holds for each user who logged in.

Design decisions:

- One row per user (``user_id`` is the key; logging in again replaces the
  tokens), removed with the user (``ON DELETE CASCADE`` from ``discord_user``).
- ``access_token`` and ``refresh_token`` are ``EncryptedText``: whoever holds
  them acts on Discord as the user, so a database dump or a replica must not
  give them away. Only the holder of ``GUILDBASE_ENCRYPTION_KEYS`` reads them.
- The scopes and the expiry are not secret and stay plain, so the dashboard
  can tell whether a refresh is due without decrypting anything.
- The read model gives the tokens as ``SecretStr``: printing it, logging it or
  putting it in an error shows ``**********``, never a token.
- Tokens are never cached (Redis would hold them in clear).
"""

from datetime import datetime

from pydantic import SecretStr
from sqlalchemy import CheckConstraint, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from guildbase.db.encryption import EncryptedText
from guildbase.db.mixins import TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, snowflake_field
from guildbase.privacy.policy import Erase, personal_data

__all__ = ["MAX_SCOPES", "SCOPE_MAX_LENGTH", "TOKEN_MAX_LENGTH", "OAuthToken", "OAuthTokenRead"]

TOKEN_MAX_LENGTH = 2048
SCOPE_MAX_LENGTH = 64
MAX_SCOPES = 32


class OAuthToken(TimestampMixin, table=True):
    """A user's Discord OAuth tokens (encrypted), their scopes and when the access token expires."""

    __tablename__ = "oauth_token"
    __table_args__ = (CheckConstraint("char_length(token_type) BETWEEN 1 AND 32", name="token_type_length"),)

    user_id: Snowflake = snowflake_field(primary_key=True, foreign_key="discord_user.user_id", ondelete="CASCADE")
    access_token: str = Field(sa_type=EncryptedText)
    refresh_token: str | None = Field(default=None, sa_type=EncryptedText)
    token_type: str = Field(default="Bearer", sa_type=Text, sa_column_kwargs={"server_default": text("'Bearer'")})
    scopes: list[str] = Field(
        default_factory=list, sa_type=ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'::text[]")}
    )
    expires_at: datetime = Field(sa_type=UTCDateTimeType)


class OAuthTokenRead(SQLModel):
    """A user's tokens as the dashboard reads them; the tokens print as ``**********``."""

    model_config = READ_ONLY

    user_id: int
    access_token: SecretStr
    refresh_token: SecretStr | None
    token_type: str
    scopes: list[str]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime

    def is_expired(self, now: datetime) -> bool:
        """Whether the access token has expired at ``now`` (refresh it first)."""
        return self.expires_at <= now


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    OAuthToken,
    "A user's Discord login tokens for the dashboard (encrypted).",
    retention="until logout, revocation or expiry",
    user_id=Erase.DELETE,
)
