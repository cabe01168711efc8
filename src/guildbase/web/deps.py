"""Request dependencies: the session, the CSRF check, the rate limit and guild access, for pages and the API.

``guild_access(area, write=…)`` is the one gate every guild route declares:

1. an ``Authorization: Bearer gb_…`` header is an API key, checked by
   ``ApiKeyController.verify`` for the guild and the action (no CSRF: a key is
   never sent by a browser on its own);
2. otherwise the session cookie must name a live session (idle and absolute
   expiry), a state-changing request must carry its CSRF token, and
   ``access.session_access`` decides.

Each refusal is recorded (``access.deny``) and answered 401/403 with no data.
"""

from collections.abc import Awaitable, Callable

from fastapi import Depends, Path, Request

from guildbase.controllers.api_keys import ApiKeyRefusedError
from guildbase.errors import ValidationError
from guildbase.services.websessions import WebSession
from guildbase.web.access import ACTIONS, Access, Area, Denied, deny, session_access
from guildbase.web.context import WebContext, client_ip, get_context
from guildbase.web.sessions import SESSION_COOKIE, csrf_matches

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "GuildId", "current_session", "guild_access", "rate_limit", "require_session"]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
GuildId = Path(description="The guild's snowflake, as a string of digits.", pattern=r"^[0-9]{15,20}$")


async def rate_limit(ctx: WebContext, limit: str, *bucket: str | int) -> None:
    """Spend one unit of ``limit`` for ``bucket``; ``Denied(429)`` when it is used up."""
    result = await ctx.db.ratelimits.hit(limit, "web", *bucket)
    if not result.allowed:
        raise Denied(429, "too many requests; try again later", retry_after=result.retry_after)


async def current_session(request: Request, ctx: WebContext = Depends(get_context)) -> WebSession | None:  # noqa: B008
    """The live session of the cookie, or None (pages redirect to the login then)."""
    session, _reason = await ctx.auth.current(request.cookies.get(SESSION_COOKIE))
    return session


async def _csrf_given(request: Request) -> str | None:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return given


async def require_session(request: Request, ctx: WebContext = Depends(get_context)) -> WebSession:  # noqa: B008
    """A live session (401 otherwise) that passed the CSRF check if the request changes state (403)."""
    ip, path = client_ip(request), request.url.path
    session, reason = await ctx.auth.current(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise await deny(ctx, 401, reason or "not logged in", ip=ip, path=path)
    if request.method not in SAFE_METHODS and not csrf_matches(session, await _csrf_given(request)):
        raise await deny(ctx, 403, "missing or wrong CSRF token", ip=ip, path=path, user_id=session.user_id)
    await rate_limit(ctx, ctx.settings.api_rate_limit, "user", session.user_id)
    return session


def _guild_id(raw: str) -> int:
    value = int(raw)
    if value >= 2**63:
        raise ValidationError.single("guild_id", "snowflake", f"must be a Discord snowflake, got {raw}")
    return value


def guild_access(area: Area, *, write: bool = False) -> Callable[..., Awaitable[Access]]:
    """The dependency that admits a request to ``area`` of the path's guild (or refuses it, recorded)."""

    async def admit(
        request: Request,
        guild_id: str = GuildId,
        ctx: WebContext = Depends(get_context),  # noqa: B008
    ) -> Access:
        guild = _guild_id(guild_id)
        ip, path = client_ip(request), request.url.path
        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
            action = ACTIONS.get((area, write))
            if action is None:
                raise await deny(ctx, 403, f"API keys may not {area.value}", ip=ip, path=path, guild_id=guild)
            await rate_limit(ctx, ctx.settings.api_rate_limit, "key", token[:15])
            try:
                key = await ctx.db.api_keys.verify(token, guild_id=guild, action=action, ip=ip)
            except ApiKeyRefusedError as error:  # verify recorded the refusal
                raise Denied(401, f"API key refused ({error.reason})") from None
            except ValidationError:  # too long to be a key: refused before any lookup
                raise await deny(ctx, 401, "API key refused (malformed)", ip=ip, path=path, guild_id=guild) from None
            return Access(guild, key.created_by, frozenset({area}), "api_key")
        session = await require_session(request, ctx)
        return await session_access(ctx, session, guild, area, write=write, ip=ip, path=path)

    return admit
