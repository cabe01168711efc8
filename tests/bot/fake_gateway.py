"""A fake Discord gateway on the fake REST server, for bot *processes* (``guildbase bot``).

A real bot process connects to it through ``GUILDBASE_DISCORD_GATEWAY_URL``
with discord.py's own websocket client: HELLO, IDENTIFY (with its shard),
READY, then a GUILD_CREATE for every guild of that shard, heartbeats
acknowledged. Guilds belong to shards as on Discord, ``(guild_id >> 22) %
shard_count``, so a test that splits shards between processes sees each
guild's events reach exactly one process. ``dispatch`` sends an event to the
shard that owns the guild; ``identified`` waits for a shard to connect.
Frames are plain JSON text (discord.py accepts them with compression asked for).
"""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

HELLO, IDENTIFY, HEARTBEAT, HEARTBEAT_ACK, REQUEST_MEMBERS, DISPATCH = 10, 2, 1, 11, 8, 0
HEARTBEAT_INTERVAL_MS = 41_250


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord routes a guild's events to."""
    return (guild_id >> 22) % shard_count


@dataclass
class Connection:
    socket: web.WebSocketResponse
    shard_id: int
    sequence: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class FakeGateway:
    """The gateway side of the fake: which shards are connected and what each guild looks like."""

    bot_user: dict[str, Any]
    application_id: int
    shard_count: int = 1
    guilds: dict[int, dict[str, Any]] = field(default_factory=dict)
    connections: dict[int, Connection] = field(default_factory=dict)
    _ready: dict[int, asyncio.Event] = field(default_factory=dict)

    def _event(self, shard_id: int) -> asyncio.Event:
        return self._ready.setdefault(shard_id, asyncio.Event())

    async def identified(self, shard_id: int) -> None:
        """Wait until ``shard_id`` has identified and received READY and its guilds."""
        await self._event(shard_id).wait()

    async def dispatch(self, guild_id: int, event: str, data: dict[str, Any]) -> None:
        """Send ``event`` to the process holding the guild's shard."""
        connection = self.connections[shard_of(guild_id, self.shard_count)]
        await self._send(connection, event, data)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_str(json.dumps({"op": HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}))
        connection: Connection | None = None
        try:
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    break
                frame = json.loads(message.data)
                if frame["op"] == HEARTBEAT:
                    await socket.send_str(json.dumps({"op": HEARTBEAT_ACK}))
                elif frame["op"] == IDENTIFY:
                    shard_id, count = frame["d"].get("shard", [0, 1])
                    assert count == self.shard_count, f"shard count {count}, the fake has {self.shard_count}"
                    connection = Connection(socket, shard_id)
                    self.connections[shard_id] = connection
                    await self._identify(connection)
                elif frame["op"] == REQUEST_MEMBERS and connection is not None:
                    guild_id = int(frame["d"]["guild_id"])
                    chunk = {"guild_id": str(guild_id), "members": [], "chunk_index": 0, "chunk_count": 1}
                    await self._send(connection, "GUILD_MEMBERS_CHUNK", chunk | {"nonce": frame["d"].get("nonce")})
        finally:
            if connection is not None:
                connection.closed.set()
                if self.connections.get(connection.shard_id) is connection:
                    del self.connections[connection.shard_id]
                    self._ready.pop(connection.shard_id, None)
        return socket

    async def _identify(self, connection: Connection) -> None:
        mine = [g for gid, g in self.guilds.items() if shard_of(gid, self.shard_count) == connection.shard_id]
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": g["id"], "unavailable": True} for g in mine],
            "session_id": f"session-{connection.shard_id}",
            "resume_gateway_url": "ws://127.0.0.1:1/unused",
            "shard": [connection.shard_id, self.shard_count],
            "application": {"id": str(self.application_id), "flags": 0},
        }
        await self._send(connection, "READY", ready)
        for guild in mine:
            await self._send(connection, "GUILD_CREATE", guild)
        self._event(connection.shard_id).set()

    @staticmethod
    async def _send(connection: Connection, event: str, data: dict[str, Any]) -> None:
        connection.sequence += 1
        frame = {"op": DISPATCH, "t": event, "s": connection.sequence, "d": data}
        await connection.socket.send_str(json.dumps(frame))
