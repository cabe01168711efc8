"""A fake of Discord's OAuth2 and user endpoints, as a real HTTP server on 127.0.0.1 (aiohttp).

The dashboard's real HTTP clients (httpx-oauth, httpx) talk to it through
``GUILDBASE_WEB_DISCORD_API_URL`` / ``…_AUTHORIZE_URL``: ``/oauth2/authorize``
consents at once for ``next_user`` and redirects back with a code;
``/api/v10/oauth2/token`` checks the client secret, the redirect URI and the
PKCE verifier against the S256 challenge (and refreshes); ``…/token/revoke``
revokes; ``/users/@me`` and ``/users/@me/guilds`` answer for the bearer token;
``/guilds/{id}/members/{user}`` answers the bot token with the member's roles.
Tests read ``revoked``, ``refreshes`` and ``requests`` to see what happened.
"""

import base64
import hashlib
import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

API = "/api/v10"
CLIENT_ID = "424242424242424242"
CLIENT_SECRET = "fake-client-secret"  # noqa: S105 - the fake's own secret
BOT_TOKEN = "fake-bot-token"  # noqa: S105 - the fake's own token


@dataclass
class FakeUser:
    user_id: int
    username: str
    guilds: list[dict[str, Any]] = field(default_factory=list)
    roles: dict[int, list[int]] = field(default_factory=dict)
    """Guild ID → the member's role IDs there (read with the bot token)."""

    def member_of(self, guild_id: int, *, name: str = "guild", owner: bool = False, permissions: int = 0) -> None:
        self.guilds.append({"id": str(guild_id), "name": name, "owner": owner, "permissions": str(permissions)})


@dataclass
class _Grant:
    user: FakeUser
    challenge: str
    method: str
    redirect_uri: str


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class FakeDiscordOAuth:
    """Start with ``await fake.start()``; ``fake.base`` is its URL; ``await fake.close()``."""

    def __init__(self) -> None:
        self.users: dict[int, FakeUser] = {}
        self.next_user: FakeUser | None = None
        self.codes: dict[str, _Grant] = {}
        self.tokens: dict[str, FakeUser] = {}
        self.refresh_tokens: dict[str, FakeUser] = {}
        self.revoked: list[str] = []
        self.refreshes = 0
        self.requests: list[tuple[str, str]] = []
        self.expires_in = 604800
        self._counter = itertools.count(1)
        app = web.Application()
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_post(f"{API}/oauth2/token", self._token)
        app.router.add_post(f"{API}/oauth2/token/revoke", self._revoke)
        app.router.add_get(f"{API}/users/@me", self._me)
        app.router.add_get(f"{API}/users/@me/guilds", self._guilds)
        app.router.add_get(f"{API}/guilds/{{guild_id}}/members/{{user_id}}", self._member)
        self._runner = web.AppRunner(app)
        self.base = ""

    def user(self, user_id: int, username: str = "someone") -> FakeUser:
        created = self.users.setdefault(user_id, FakeUser(user_id, username))
        self.next_user = created
        return created

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        await self._runner.cleanup()

    def _issue(self, user: FakeUser) -> dict[str, Any]:
        access, refresh = f"access-{next(self._counter)}-{secrets.token_hex(4)}", f"refresh-{secrets.token_hex(8)}"
        self.tokens[access] = user
        self.refresh_tokens[refresh] = user
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "identify guilds",
        }

    async def _authorize(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", "/oauth2/authorize"))
        query = request.query
        if query.get("client_id") != CLIENT_ID or self.next_user is None or query.get("response_type") != "code":
            return web.json_response({"error": "invalid_request"}, status=400)
        if sorted(query.get("scope", "").split()) != ["guilds", "identify"]:
            return web.json_response({"error": "invalid_scope"}, status=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = _Grant(
            self.next_user,
            query.get("code_challenge", ""),
            query.get("code_challenge_method", ""),
            query["redirect_uri"],
        )
        raise web.HTTPFound(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}")

    async def _token(self, request: web.Request) -> web.Response:
        self.requests.append(("POST", "/oauth2/token"))
        form = await request.post()
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") == "refresh_token":
            user = self.refresh_tokens.pop(str(form.get("refresh_token")), None)
            if user is None:
                return web.json_response({"error": "invalid_grant"}, status=400)
            self.refreshes += 1
            return web.json_response(self._issue(user))
        grant = self.codes.pop(str(form.get("code")), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        if grant.method != "S256" or _s256(str(form.get("code_verifier", ""))) != grant.challenge:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
        return web.json_response(self._issue(grant.user))

    async def _revoke(self, request: web.Request) -> web.Response:
        self.requests.append(("POST", "/oauth2/token/revoke"))
        form = await request.post()
        token = str(form.get("token"))
        if self.tokens.pop(token, None) is not None:
            self.revoked.append(token)
        return web.json_response({})

    def _bearer(self, request: web.Request) -> FakeUser | None:
        header = request.headers.get("Authorization", "")
        return self.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None

    async def _me(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", "/users/@me"))
        user = self._bearer(request)
        if user is None:
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        return web.json_response({"id": str(user.user_id), "username": user.username})

    async def _guilds(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", "/users/@me/guilds"))
        user = self._bearer(request)
        if user is None:
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        return web.json_response(user.guilds)

    async def _member(self, request: web.Request) -> web.Response:
        self.requests.append(("GET", "/guilds/members"))
        if request.headers.get("Authorization") != f"Bot {BOT_TOKEN}":
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        user = self.users.get(int(request.match_info["user_id"]))
        guild_id = int(request.match_info["guild_id"])
        if user is None or guild_id not in user.roles:
            return web.json_response({"message": "Unknown Member", "code": 10007}, status=404)
        return web.json_response({"user": {"id": str(user.user_id)}, "roles": [str(r) for r in user.roles[guild_id]]})
