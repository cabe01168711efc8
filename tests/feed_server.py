"""A local HTTP server for the integration tests: feeds with validators, GitHub releases, webhooks.

It is the outside world of ``db.integrations`` (the only fake: guildbase itself
runs for real). Each feed path serves a body with an ETag and a Last-Modified;
a request that sends them back gets a 304, as a real server does. Every
request and every webhook post is recorded for the tests to read.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from guildbase.testing import shifted_now


def rss(title: str, items: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 document, newest item first; each item is (guid, title)."""
    entries = "".join(
        f"<item><guid>{guid}</guid><title>{name}</title><link>https://example.org/{guid}</link>"
        f"<pubDate>{format_datetime(shifted_now(), usegmt=True)}</pubDate></item>"
        for guid, name in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{entries}</channel></rss>'.encode()


def atom(title: str, items: list[tuple[str, str]]) -> bytes:
    """An Atom document, newest entry first; each entry is (id, title)."""
    entries = "".join(
        f'<entry><id>{entry_id}</id><title>{name}</title><link href="https://example.org/{entry_id}"/>'
        f"<updated>{shifted_now().isoformat()}</updated></entry>"
        for entry_id, name in items
    )
    return f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>{title}</title>{entries}</feed>'.encode()


@dataclass
class Served:
    body: bytes
    status: int = 200
    content_type: str = "application/rss+xml"
    since: datetime = field(default_factory=lambda: shifted_now().replace(microsecond=0))

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class FeedServer:
    """``paths`` maps a path to what it serves; ``requests`` and ``posts`` record what arrived."""

    paths: dict[str, Served] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    posts: list[tuple[str, Any]] = field(default_factory=list)
    webhook_status: int = 204
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._get)
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def serve(self, path: str, body: bytes | list[Any], *, status: int = 200) -> str:
        """Serve ``body`` (bytes, or JSON for a list) at ``path``; returns its full URL."""
        if isinstance(body, list):
            self.paths[path] = Served(json.dumps(body).encode(), status, "application/json")
        else:
            self.paths[path] = Served(body, status)
        return self.url + path

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [headers for seen, headers in self.requests if seen == path]

    def posts_to(self, path: str) -> list[Any]:
        return [body for seen, body in self.posts if seen == path]

    async def _get(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers)))
        served = self.paths.get(request.path)
        if served is None:
            return web.Response(status=404)
        if served.status != 200:
            return web.Response(status=served.status, text="down")
        if request.headers.get("If-None-Match") == served.etag:
            return web.Response(status=304)
        headers = {"ETag": served.etag, "Last-Modified": format_datetime(served.since, usegmt=True)}
        return web.Response(body=served.body, content_type=served.content_type, headers=headers)

    async def _post(self, request: web.Request) -> web.Response:
        self.posts.append((request.path, await request.json()))
        return web.Response(status=self.webhook_status)
