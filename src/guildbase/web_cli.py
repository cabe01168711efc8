"""``guildbase web``: serve the dashboard with uvicorn (needs ``guildbase[web]``)."""

from typing import Annotated

import typer

from guildbase.cli_support import console, load_settings, reported
from guildbase.errors import GuildbaseError

__all__ = ["run_web"]


def run_web(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Serve the web dashboard (Discord login; settings via GUILDBASE_WEB_*, see docs/dashboard.md)."""
    try:  # lazy: the other commands never import FastAPI
        import uvicorn  # noqa: PLC0415

        from guildbase.database import Database  # noqa: PLC0415
        from guildbase.web import WebSettings, create_app  # noqa: PLC0415
    except ImportError as error:
        console.print(f"[red]the dashboard needs its extra: pip install 'guildbase[web]' ({error})[/red]")
        raise typer.Exit(2) from None
    settings = load_settings()
    try:
        web_settings = WebSettings()
    except GuildbaseError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    console.print(f"guildbase dashboard on http://{host}:{port}/ (log in with Discord)")
    with reported("web", settings):
        uvicorn.run(
            create_app(Database(settings), web_settings, owns_db=True), host=host, port=port, proxy_headers=True
        )
