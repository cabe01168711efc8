"""mkdocs hook: the API reference lists whatever the facade really has.

``docs/api.md`` holds the marker ``<!-- facade-controllers -->``; at build time
it is replaced by one mkdocstrings block per controller attribute of
``Database`` (``db.guilds``, ``db.cases``, …), found by constructing an
unconnected ``Database``. A domain added to the facade is documented without
editing the page, and a controller moved to another module is still found.
"""

from typing import Any

MARKER = "<!-- facade-controllers -->"
SERVICES = [
    ("cache", "guildbase.services.cache.CacheService"),
    ("cache.ratelimits", "guildbase.services.ratelimit.RateLimiter"),
    ("cache.sessions", "guildbase.services.websessions.WebSessionStore"),
]


def facade_sections() -> list[tuple[str, str]]:
    """(attribute, dotted class path) for every controller on the facade, then the Redis services."""
    from guildbase import Database, Settings  # noqa: PLC0415 - imported at build time only
    from guildbase.controllers.base import Controller  # noqa: PLC0415

    db = Database(Settings(database_url="postgresql://docs@127.0.0.1/docs"))
    controllers = [
        (name, f"{type(value).__module__}.{type(value).__qualname__}")
        for name, value in vars(db).items()
        if isinstance(value, Controller)
    ]
    return controllers + SERVICES


def render() -> str:
    """The Markdown that replaces the marker."""
    blocks = [
        f"### `db.{attribute}`\n\n::: {path}\n    options:\n      heading_level: 4\n      show_root_heading: false\n"
        for attribute, path in facade_sections()
    ]
    return "\n".join(blocks)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Expand the marker on the page that has it (the mkdocs entry point)."""
    return markdown.replace(MARKER, render()) if MARKER in markdown else markdown
