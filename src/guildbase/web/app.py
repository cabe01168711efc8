"""``create_app``: the dashboard as one FastAPI application over a ``Database``.

Given a connected ``Database`` (tests, embedding in a bot process) the app uses
it as is; given none (or ``owns_db=True``, as ``guildbase web`` does), it
connects and closes the facade with the app's lifespan.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from guildbase.database import Database
from guildbase.db.types import utcnow
from guildbase.web import (
    account_pages,
    api,
    auth_routes,
    content_api,
    content_pages,
    domain_pages,
    levels_api,
    notes_api,
    pages,
    permissions_api,
    privacy_routes,
    tickets_api,
)
from guildbase.web.context import WebContext
from guildbase.web.errors import install_error_handlers
from guildbase.web.oauth import DiscordOAuth
from guildbase.web.sessions import Auth
from guildbase.web.settings import WebSettings

__all__ = ["create_app"]


def create_app(
    db: Database | None = None,
    settings: WebSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    owns_db: bool | None = None,
) -> FastAPI:
    """The dashboard app; ``clock`` lets tests move time for session expiry.

    ``owns_db`` (default: whether ``db`` was omitted) makes the app's lifespan
    connect the facade at start-up and close it at shutdown.
    """
    web_settings = settings or WebSettings()
    owned = db is None if owns_db is None else owns_db
    database = db or Database()
    context = WebContext(database, web_settings, Auth(database, web_settings, DiscordOAuth(web_settings), clock=clock))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if owned:
            await database.connect()
        try:
            yield
        finally:
            if owned:
                await database.close()

    app = FastAPI(
        title="guildbase dashboard API",
        version="1",
        description="Guild settings, moderation and audit data; snowflakes are strings. "
        "Authenticate with the dashboard's session cookie (plus X-CSRF-Token on writes) or an API key "
        "(Authorization: Bearer gb_…).",
        lifespan=lifespan,
    )
    app.state.web = context
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(privacy_routes.router)
    app.include_router(permissions_api.router)
    app.include_router(auth_routes.router)
    for api_module in (levels_api, content_api, tickets_api, notes_api):
        app.include_router(api_module.router)
    app.include_router(pages.router)
    for page_module in (domain_pages, content_pages, account_pages):
        app.include_router(page_module.router)
    return app
