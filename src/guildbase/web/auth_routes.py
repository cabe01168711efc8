"""``/login``, ``/callback``, ``/logout``, ``/logout/everywhere``: cookies and redirects around ``Auth``.

The session cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (no
cross-site POST carries it) and ``Secure`` unless ``WebSettings`` allows plain
HTTP on localhost. Login attempts are rate-limited per client IP.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from guildbase.services.websessions import WebSession
from guildbase.web.context import WebContext, client_ip, get_context
from guildbase.web.deps import rate_limit, require_session
from guildbase.web.sessions import LOGIN_COOKIE, LOGIN_TTL_SECONDS, SESSION_COOKIE

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_context)]


def _set_cookie(ctx: WebContext, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=ctx.settings.cookie_secure
    )


@router.get("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    """Send the browser to Discord with a fresh state and PKCE challenge."""
    await rate_limit(ctx, ctx.settings.login_rate_limit, "login", client_ip(request) or "unknown")
    start = await ctx.auth.begin_login()
    response = RedirectResponse(start.url, status_code=303)
    _set_cookie(ctx, response, LOGIN_COOKIE, start.nonce, LOGIN_TTL_SECONDS)
    return response


@router.get("/callback")
async def callback(
    request: Request,
    ctx: Ctx,
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """Finish the login: a new session (the old cookie's session, if any, is ended)."""
    ip = client_ip(request)
    await rate_limit(ctx, ctx.settings.login_rate_limit, "login", ip or "unknown")
    session = await ctx.auth.finish_login(
        state=state,
        code=code,
        nonce=request.cookies.get(LOGIN_COOKIE),
        previous=request.cookies.get(SESSION_COOKIE),
        ip=ip,
    )
    response = RedirectResponse("/", status_code=303)
    assert session.session_id is not None  # noqa: S101 - create always returns the new ID
    _set_cookie(ctx, response, SESSION_COOKIE, session.session_id, ctx.settings.session_absolute_seconds)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


async def _logout(request: Request, ctx: WebContext, session: WebSession, *, everywhere: bool) -> Response:
    await ctx.auth.logout(session, everywhere=everywhere, ip=client_ip(request))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=ctx.settings.cookie_secure, httponly=True, samesite="lax")
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx, session: Annotated[WebSession, Depends(require_session)]) -> Response:
    """End this session and revoke the Discord token (POST with the CSRF token)."""
    return await _logout(request, ctx, session, everywhere=False)


@router.post("/logout/everywhere")
async def logout_everywhere(
    request: Request, ctx: Ctx, session: Annotated[WebSession, Depends(require_session)]
) -> Response:
    """End every session of this user ("sign out everywhere") and revoke the Discord token."""
    return await _logout(request, ctx, session, everywhere=True)
