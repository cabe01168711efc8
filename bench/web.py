"""W15 (see BENCHMARKS.md): the dashboard API, ``GET /api/guilds/{id}/config``, 32 concurrent clients.

Variants, interleaved:

- ``guildbase``: the real dashboard app (``create_app``) with a logged-in
  session: every request reads the session from Redis (idle and absolute
  expiry checked), spends a rate-limit unit, checks the guild is the bot's and
  the user's, and reads the config through the cache the bot reads;
- ``limit``: a bare Starlette endpoint returning the same config JSON, already
  serialized in memory (no auth, no cache lookup): the framework's floor.

Both are served by uvicorn on a loopback socket of this process and called by
32 concurrent httpx clients over HTTP/1.1 keep-alive connections, as a browser
or a script would call them; the ratio is the one W15 states (at least 0.5 of the bare endpoint's rate), and the
p99 is the caller's.
"""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness import Runner, Variant, environment
from bench.workloads import G0, U0, Scale, summarize
from guildbase.db.types import utcnow
from guildbase.web import WebSettings, create_app
from guildbase.web.schemas import ConfigPublic
from guildbase.web.sessions import SESSION_COOKIE

CLIENTS = 32
BASE = "https://dashboard.bench"


@contextlib.asynccontextmanager
async def _served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` on a loopback port (uvicorn in this loop); a client with one keep-alive connection per task."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=300)
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{listener.getsockname()[1]}", limits=limits)
    try:
        yield client
    finally:
        await client.aclose()
        server.should_exit = True
        await task
        listener.close()


def _bare(body: bytes) -> Starlette:
    async def config(_request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/api/guilds/{guild_id}/config", config)])


async def w15(scale: Scale, rounds: int) -> dict[str, Any]:
    async with environment() as env:
        db = env.db
        guild = G0 + 1
        await db.guilds.join(guild, name="bench")
        settings = WebSettings(
            client_id="1", redirect_url=f"{BASE}/callback", guild_cache_seconds=3600, api_rate_limit="100000/second"
        )
        now = utcnow().isoformat()
        session = await db.web_sessions.create(
            U0 + 1,
            {
                "username": "bench",
                "csrf": "x",
                "login_at": now,
                "seen_at": now,
                "guilds": [{"id": str(guild), "name": "bench", "owner": True, "permissions": "8"}],
                "guilds_at": now,
            },
        )
        if session.session_id is None:  # create always returns the new ID
            raise RuntimeError("no session ID")
        app = create_app(db, settings)
        body = ConfigPublic.of(await db.guild_config.get(guild)).model_dump_json().encode()
        path = f"/api/guilds/{guild}/config"
        answers: dict[str, set[bytes]] = {"guildbase": set(), "limit": set()}
        cookie = {"Cookie": f"{SESSION_COOKIE}={session.session_id}"}
        async with _served(app) as dashboard, _served(_bare(body)) as bare:

            async def real(_index: int) -> None:
                response = await dashboard.get(path, headers=cookie)
                answers["guildbase"].add(response.content)

            async def floor(_index: int) -> None:
                response = await bare.get(path)
                answers["limit"].add(response.content)

            ops = scale.pick(2_000, 20_000)
            results = await Runner(env, rounds=rounds).compare(
                [Variant("guildbase", real, ops, CLIENTS), Variant("limit", floor, ops, CLIENTS)]
            )
        summary = summarize(results)
        return {
            "variants": summary,
            "checks": {
                "guildbase_p99_ms": round(summary["guildbase"]["p99_ms"], 3),
                "same_json_as_the_bare_endpoint": answers["guildbase"] == answers["limit"] == {body},
            },
        }
