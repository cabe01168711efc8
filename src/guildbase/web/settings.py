"""Dashboard settings, read from ``GUILDBASE_WEB_*`` variables.

The Discord base URL is a setting so tests (and a self-hosted proxy) point the
login at another server. The cookie's ``Secure`` flag may be turned off only
when the dashboard is served on a loopback host: a browser never sends a
Secure cookie over plain HTTP, so development on ``http://localhost`` needs it
off, and anywhere else turning it off would let the session leak in clear.
"""

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from guildbase.errors import ConfigurationError

__all__ = ["LOOPBACK_HOSTS", "WebSettings"]

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


class WebSettings(BaseSettings):
    """Where Discord is, who the dashboard is to it, and how long sessions live."""

    model_config = SettingsConfigDict(env_prefix="GUILDBASE_WEB_", env_file=".env", extra="ignore")

    discord_api_url: str = Field(default="https://discord.com/api/v10", description="Discord's REST API base URL.")
    discord_authorize_url: str = Field(
        default="https://discord.com/oauth2/authorize", description="Where the browser is sent to log in."
    )
    client_id: str = Field(default="", description="The application's OAuth2 client ID.")
    client_secret: SecretStr = Field(default=SecretStr(""), description="The application's OAuth2 client secret.")
    redirect_url: str = Field(
        default="http://localhost:8080/callback", description="The callback URL registered with Discord."
    )
    bot_token: SecretStr | None = Field(
        default=None, description="The bot's token, to read a member's roles for rank-based (partial) access."
    )
    cookie_secure: bool = Field(default=True, description="Send the session cookie over HTTPS only.")
    session_idle_seconds: int = Field(default=2 * 3600, ge=60, description="A session unused this long ends.")
    session_absolute_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="A session ends this long after login."
    )
    guild_cache_seconds: int = Field(default=60, ge=0, description="How long a user's Discord guild list is reused.")
    login_rate_limit: str = Field(default="10/minute", description="Login attempts per client IP.")
    api_rate_limit: str = Field(default="120/minute", description="API and page requests per user or key.")
    moderator_rank: int = Field(
        default=3, ge=0, le=7, description="Rank from which a member who is not an admin may see and edit cases."
    )

    @model_validator(mode="after")
    def _secure_off_only_on_loopback(self) -> "WebSettings":
        host = urlsplit(self.redirect_url).hostname or ""
        if not self.cookie_secure and host not in LOOPBACK_HOSTS:
            msg = (
                "GUILDBASE_WEB_COOKIE_SECURE: may be false only when the dashboard runs on localhost "
                f"(GUILDBASE_WEB_REDIRECT_URL's host is {host!r}); serve it over HTTPS instead"
            )
            raise ConfigurationError(msg)
        return self

    @property
    def token_url(self) -> str:
        """Discord's token endpoint."""
        return f"{self.discord_api_url.rstrip('/')}/oauth2/token"

    @property
    def revoke_url(self) -> str:
        """Discord's token revocation endpoint."""
        return f"{self.discord_api_url.rstrip('/')}/oauth2/token/revoke"
