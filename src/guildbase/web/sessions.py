"""Login, sessions and logout (R21.1, R21.2): the dashboard's side of ``WebSessionStore``.

- **Login** starts with a pending record in Redis under the SHA-256 of a random
  ``state`` (10 minutes, read once with ``GETDEL``), holding the PKCE verifier
  and the hash of a nonce set as a short-lived cookie: a callback whose state
  is unknown, used, or arrives in another browser than the one that started
  the login is refused.
- **Rotation**: a successful callback ends whatever session the browser held
  and starts a new one with a new ID, so an ID planted before the login
  (session fixation) is worthless after it.
- **Expiry**: idle (``session_idle_seconds`` since the last request) and
  absolute (``session_absolute_seconds`` since the login); an expired session
  is revoked when it is seen. ``clock`` is injectable so tests move time
  instead of waiting.
- **Logout** revokes the Discord token (at Discord and in ``oauth_token``) and
  the session; "sign out everywhere" ends every session of the user.
- **CSRF**: each session holds a random token; every state-changing request
  must echo it (form field or ``X-CSRF-Token``), compared in constant time.
"""

import contextlib
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from guildbase.database import Database
from guildbase.db.types import utcnow
from guildbase.models.security import SecurityEventKind
from guildbase.services.keys import CACHE_VERSION, NAMESPACE
from guildbase.services.websessions import WebSession
from guildbase.web.oauth import DiscordGuild, DiscordOAuth, OAuthFailedError, Pkce, TokenSet
from guildbase.web.settings import WebSettings

__all__ = ["LOGIN_COOKIE", "SESSION_COOKIE", "Auth", "LoginStart", "csrf_matches"]

SESSION_COOKIE = "gb_session"
LOGIN_COOKIE = "gb_login"
LOGIN_TTL_SECONDS = 600
REFRESH_MARGIN = timedelta(minutes=1)
SEEN_PRECISION = timedelta(seconds=30)
"""``seen_at`` is rewritten at most this often: idle expiry is exact to 30 s, and a busy session costs one read."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _login_key(state: str) -> str:
    return f"{NAMESPACE}:v{CACHE_VERSION}:web-login:{_digest(state)}"


def csrf_matches(session: WebSession, given: str | None) -> bool:
    """Whether ``given`` is this session's CSRF token (constant-time)."""
    expected = str(session.data.get("csrf") or "")
    return bool(given) and bool(expected) and hmac.compare_digest(expected.encode(), (given or "").encode())


@dataclass(frozen=True, slots=True)
class LoginStart:
    """Where to send the browser, and the nonce cookie that binds the callback to this browser."""

    url: str
    nonce: str


class Auth:
    """Everything about who is logged in; the routes only move cookies and redirects."""

    def __init__(
        self, db: Database, settings: WebSettings, oauth: DiscordOAuth, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.settings = settings
        self.oauth = oauth
        self.clock = clock

    # -- login -----------------------------------------------------------------------------
    async def begin_login(self) -> LoginStart:
        """A new state, PKCE pair and nonce, kept in Redis; the URL of Discord's consent page."""
        state, nonce, pkce = secrets.token_urlsafe(32), secrets.token_urlsafe(32), Pkce.new()
        pending = json.dumps({"verifier": pkce.verifier, "nonce": _digest(nonce)})
        await self.db.redis.set(_login_key(state), pending, ex=LOGIN_TTL_SECONDS)
        return LoginStart(await self.oauth.authorization_url(state, pkce), nonce)

    async def finish_login(
        self, *, state: str, code: str, nonce: str | None, previous: str | None, ip: str | None
    ) -> WebSession:
        """Check the state, trade the code, store the tokens, rotate the session; ``OAuthFailedError`` if refused."""
        raw = await self.db.redis.getdel(_login_key(state)) if state else None
        if raw is None:
            await self._failed("unknown or used state", ip)
            raise OAuthFailedError("state: unknown, expired or already used; start the login again")
        pending = json.loads(raw)
        if not nonce or not hmac.compare_digest(pending["nonce"], _digest(nonce)):
            await self._failed("state from another browser", ip)
            raise OAuthFailedError("state: this login was started in another browser")
        try:
            tokens = await self.oauth.exchange(code, pending["verifier"])
            user = await self.oauth.user(tokens.access_token)
            guilds = await self.oauth.guilds(tokens.access_token)
        except OAuthFailedError as error:
            await self._failed(str(error), ip)
            raise
        await self._store_tokens(user.user_id, tokens)
        if previous:
            await self.db.web_sessions.revoke(previous)
        session = await self.db.web_sessions.create(
            user.user_id,
            {
                "username": user.username,
                "csrf": secrets.token_urlsafe(32),
                "login_at": self.clock().isoformat(),
                "seen_at": self.clock().isoformat(),
                "guilds": [guild.as_data() for guild in guilds],
                "guilds_at": self.clock().isoformat(),
            },
        )
        await self.db.security.record(
            SecurityEventKind.LOGIN, user_id=user.user_id, ip=ip, detail={"via": "discord_oauth"}
        )
        return session

    async def _failed(self, reason: str, ip: str | None) -> None:
        await self.db.security.record(SecurityEventKind.LOGIN_FAILED, ip=ip, detail={"reason": reason})

    async def _store_tokens(self, user_id: int, tokens: TokenSet) -> None:
        await self.db.oauth_tokens.store(
            user_id,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            scopes=tokens.scopes,
            expires_at=tokens.expires_at,
        )

    # -- the session of a request ----------------------------------------------------------
    async def current(self, session_id: str | None) -> tuple[WebSession | None, str | None]:
        """The live session and None, or None and why not (``no session``, ``expired`` …)."""
        if not session_id:
            return None, "no session"
        session = await self.db.web_sessions.get(session_id, touch=False)
        if session is None:
            return None, "unknown or revoked session"
        now = self.clock()
        login_at = datetime.fromisoformat(str(session.data.get("login_at") or session.created_at.isoformat()))
        seen_at = datetime.fromisoformat(str(session.data.get("seen_at") or session.last_seen_at.isoformat()))
        if now - login_at >= timedelta(seconds=self.settings.session_absolute_seconds):
            await self.db.web_sessions.revoke(session_id)
            return None, "session expired (absolute lifetime)"
        if now - seen_at >= timedelta(seconds=self.settings.session_idle_seconds):
            await self.db.web_sessions.revoke(session_id)
            return None, "session expired (idle)"
        if now - seen_at < SEEN_PRECISION:
            return session, None
        updated = await self.db.web_sessions.update(session_id, {**session.data, "seen_at": now.isoformat()})
        return (updated, None) if updated is not None else (None, "unknown or revoked session")

    async def guilds(self, session: WebSession, *, fresh: bool = False) -> list[DiscordGuild]:
        """The user's Discord guilds: the session's copy while young, else (or when ``fresh``) asked again."""
        cached_at = datetime.fromisoformat(str(session.data["guilds_at"]))
        young = self.clock() - cached_at < timedelta(seconds=self.settings.guild_cache_seconds)
        if young and not fresh:
            return [DiscordGuild.of(entry) for entry in session.data.get("guilds", [])]
        access = await self.access_token(session.user_id)
        guilds = await self.oauth.guilds(access)
        if session.session_id is not None:
            data = {**session.data, "guilds": [g.as_data() for g in guilds], "guilds_at": self.clock().isoformat()}
            await self.db.web_sessions.update(session.session_id, data)
        return guilds

    async def access_token(self, user_id: int) -> str:
        """A valid access token for the user, refreshed (and stored again, encrypted) when it is due."""
        stored = await self.db.oauth_tokens.get(user_id)
        if stored is None:
            raise OAuthFailedError("user_id: no Discord token stored; log in again")
        if stored.expires_at - REFRESH_MARGIN > self.clock():
            return stored.access_token.get_secret_value()
        if stored.refresh_token is None:
            raise OAuthFailedError("access token expired and no refresh token is stored; log in again")
        tokens = await self.oauth.refresh(stored.refresh_token.get_secret_value())
        await self.db.oauth_tokens.refresh(
            user_id, access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_at=tokens.expires_at
        )
        return tokens.access_token

    # -- logout ----------------------------------------------------------------------------
    async def logout(self, session: WebSession, *, everywhere: bool = False, ip: str | None = None) -> int:
        """Revoke the Discord token and this session (or all of the user's); returns how many sessions ended."""
        stored = await self.db.oauth_tokens.get(session.user_id)
        if stored is not None:
            with contextlib.suppress(OAuthFailedError):  # the local token and session go regardless
                await self.oauth.revoke(stored.access_token.get_secret_value())
            await self.db.oauth_tokens.revoke(session.user_id)
        if everywhere:
            ended = await self.db.web_sessions.revoke_all(session.user_id)
        else:
            ended = int(await self.db.web_sessions.revoke_handle(session.handle))
        detail: dict[str, Any] = {"everywhere": everywhere, "sessions": ended}
        await self.db.security.record(SecurityEventKind.LOGOUT, user_id=session.user_id, ip=ip, detail=detail)
        return ended
