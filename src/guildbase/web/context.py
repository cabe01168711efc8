"""What every route reaches: the facade, the settings, the auth service and the templates."""

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from guildbase.database import Database
from guildbase.web.sessions import Auth
from guildbase.web.settings import WebSettings

__all__ = ["TEMPLATES", "WebContext", "client_ip", "get_context"]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass(slots=True)
class WebContext:
    """One per app (``app.state.web``)."""

    db: Database
    settings: WebSettings
    auth: Auth
    presence: dict[int, tuple[bool, float]] = field(default_factory=dict)
    """Guild ID → (is the bot in it, when that was read (monotonic)): ``access.bot_is_in``."""


async def get_context(request: Request) -> WebContext:
    """The app's context (a FastAPI dependency; async, so FastAPI does not run it in a worker thread)."""
    context: WebContext = request.app.state.web
    return context


def client_ip(request: Request) -> str | None:
    """The peer's address (behind a proxy, run uvicorn with ``--proxy-headers``)."""
    return request.client.host if request.client is not None else None
