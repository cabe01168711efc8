"""Discord OAuth2 (R21.1): the authorization-code flow with ``state`` and PKCE (S256), through httpx-oauth.

Why httpx-oauth and not Authlib's Starlette client: Authlib keeps the state and
the PKCE verifier in ``request.session``, Starlette's signed-cookie session,
which would be a second session store beside the Redis one (R21.2) and puts
the verifier in the browser. httpx-oauth is a thin client over httpx (already
a dependency) that takes the state, the challenge and the verifier from us, so
they live in Redis next to the session and never leave the server.

Scopes are ``identify guilds``: who the user is and which guilds they are in
with which permissions; nothing else. Every URL comes from ``WebSettings``
(``GUILDBASE_WEB_DISCORD_API_URL``), so the tests' fake Discord is a real
HTTP server the same code talks to.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from httpx_oauth.oauth2 import OAuth2, OAuth2Error, OAuth2Token

from guildbase.db.types import utcnow
from guildbase.web.settings import WebSettings

__all__ = ["SCOPES", "DiscordGuild", "DiscordOAuth", "DiscordUserInfo", "OAuthFailedError", "Pkce", "TokenSet"]

SCOPES = ("identify", "guilds")
ADMINISTRATOR = 0x8
MANAGE_GUILD = 0x20
TIMEOUT = httpx.Timeout(10.0)


class OAuthFailedError(Exception):
    """Discord refused the code, the token or the call (the login fails; nothing is stored)."""


@dataclass(frozen=True, slots=True)
class Pkce:
    """A PKCE pair (RFC 7636): the verifier stays on the server, the S256 challenge goes to Discord."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> "Pkce":
        """A fresh verifier (43+ characters of URL-safe randomness) and its S256 challenge."""
        verifier = secrets.token_urlsafe(48)
        return cls(verifier, s256(verifier))


def s256(verifier: str) -> str:
    """The S256 code challenge of ``verifier``: base64url(SHA-256), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class TokenSet:
    """What a token response gave: the tokens, their scopes and when the access token expires."""

    access_token: str
    refresh_token: str | None
    scopes: list[str]
    expires_at: datetime

    @classmethod
    def of(cls, token: OAuth2Token) -> "TokenSet":
        """Read httpx-oauth's token dict (``expires_in`` seconds from now)."""
        seconds = int(token.get("expires_in") or 604800)
        scopes = str(token.get("scope") or " ".join(SCOPES)).split()
        return cls(
            str(token["access_token"]), token.get("refresh_token"), scopes, utcnow() + timedelta(seconds=seconds)
        )


@dataclass(frozen=True, slots=True)
class DiscordUserInfo:
    """``/users/@me``: the user's ID and name."""

    user_id: int
    username: str


@dataclass(frozen=True, slots=True)
class DiscordGuild:
    """One entry of ``/users/@me/guilds``: the guild, and whether the user may manage it on Discord."""

    guild_id: int
    name: str
    is_owner: bool
    permissions: int

    @property
    def can_manage(self) -> bool:
        """Owner, ADMINISTRATOR (0x8) or MANAGE_GUILD (0x20): the rule of R21.3."""
        return self.is_owner or bool(self.permissions & (ADMINISTRATOR | MANAGE_GUILD))

    def as_data(self) -> dict[str, Any]:
        """For the session (JSON: IDs as strings)."""
        return {
            "id": str(self.guild_id),
            "name": self.name,
            "owner": self.is_owner,
            "permissions": str(self.permissions),
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> "DiscordGuild":
        """From Discord's JSON or the session's copy of it."""
        return cls(
            int(data["id"]), str(data.get("name") or ""), bool(data.get("owner")), int(data.get("permissions") or 0)
        )


class DiscordOAuth:
    """The dashboard's side of Discord's OAuth2 and the two user endpoints it reads."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.client = OAuth2(
            settings.client_id,
            settings.client_secret.get_secret_value(),
            settings.discord_authorize_url,
            settings.token_url,
            refresh_token_endpoint=settings.token_url,
            revoke_token_endpoint=settings.revoke_url,
            name="discord",
            base_scopes=list(SCOPES),
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name, not a secret
            revocation_endpoint_auth_method="client_secret_post",
        )

    async def authorization_url(self, state: str, pkce: Pkce) -> str:
        """Where to send the browser: Discord's consent page with our state and S256 challenge."""
        return await self.client.get_authorization_url(
            self.settings.redirect_url,
            state=state,
            scope=list(SCOPES),
            code_challenge=pkce.challenge,
            code_challenge_method="S256",
        )

    async def exchange(self, code: str, verifier: str) -> TokenSet:
        """Trade the callback's code (with the PKCE verifier) for tokens."""
        try:
            return TokenSet.of(await self.client.get_access_token(code, self.settings.redirect_url, verifier))
        except (OAuth2Error, httpx.HTTPError, KeyError) as error:
            raise OAuthFailedError(f"code exchange failed: {type(error).__name__}") from error

    async def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token for a refresh token (Discord rotates the refresh token too)."""
        try:
            return TokenSet.of(await self.client.refresh_token(refresh_token))
        except (OAuth2Error, httpx.HTTPError, KeyError) as error:
            raise OAuthFailedError(f"token refresh failed: {type(error).__name__}") from error

    async def revoke(self, token: str) -> None:
        """Revoke a token at Discord (logout); a refusal is reported, the local logout goes on."""
        try:
            await self.client.revoke_token(token, "access_token")
        except (OAuth2Error, httpx.HTTPError) as error:
            raise OAuthFailedError(f"token revocation failed: {type(error).__name__}") from error

    async def _get(self, path: str, access_token: str) -> Any:
        url = f"{self.settings.discord_api_url.rstrip('/')}{path}"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.get(url, headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as error:
            raise OAuthFailedError(f"GET {path} failed: {type(error).__name__}") from error
        if response.status_code != httpx.codes.OK:
            raise OAuthFailedError(f"GET {path} answered {response.status_code}")
        return response.json()

    async def user(self, access_token: str) -> DiscordUserInfo:
        """``GET /users/@me``."""
        data = await self._get("/users/@me", access_token)
        return DiscordUserInfo(int(data["id"]), str(data.get("username") or data["id"]))

    async def guilds(self, access_token: str) -> list[DiscordGuild]:
        """``GET /users/@me/guilds``: every guild the user is in, with their permissions there."""
        return [DiscordGuild.of(entry) for entry in await self._get("/users/@me/guilds", access_token)]

    async def member_roles(self, guild_id: int, user_id: int) -> list[int] | None:
        """The member's role IDs, read with the bot's token (for rank-based access); None without a bot token."""
        token = self.settings.bot_token
        if token is None:
            return None
        url = f"{self.settings.discord_api_url.rstrip('/')}/guilds/{guild_id}/members/{user_id}"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.get(url, headers={"Authorization": f"Bot {token.get_secret_value()}"})
        except httpx.HTTPError:
            return None
        if response.status_code != httpx.codes.OK:
            return None
        return [int(role) for role in response.json().get("roles", [])]
