"""A fake Discord REST API on 127.0.0.1, for the bot's real HTTP client.

The bot under test talks to it through ``GUILDBASE_DISCORD_API_URL`` (``discord.http.Route.BASE``),
so every reply, ban, member edit, DM and interaction response travels through
discord.py's own HTTP machinery (routes, JSON bodies, rate-limit handling) and
lands here, where tests read it: ``requests`` is every call in order, ``sent`` the
messages created, ``bans`` who is banned now. Unknown routes answer 404 and are
kept in ``unknown`` so a test can insist there were none. ``fail`` makes a route
answer with a Discord error, to test how the bot handles refusals; ``hold`` keeps
matching calls waiting until the test releases them, so a command or a job is
in flight at a moment the test chooses. ``gateway`` (``fake_gateway.FakeGateway``)
serves ``/gateway`` on the same server for bot processes.
"""

import asyncio
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
from aiohttp import web
from fake_gateway import FakeGateway

API_PREFIX = "/api/v10"
Handler = Callable[[dict[str, str], dict[str, Any]], web.Response]


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]
    query: dict[str, str]


@dataclass
class Hold:
    method: str
    pattern: re.Pattern[str]
    arrived: list[Call] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass
class Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    code: int
    message: str
    times: int | None = None


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


@dataclass
class FakeDiscord:
    """State Discord would hold, filled by the harness and changed by the bot's calls."""

    bot_user: dict[str, Any]
    application_id: int
    requests: list[Call] = field(default_factory=list)
    unknown: list[Call] = field(default_factory=list)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    interaction_responses: list[dict[str, Any]] = field(default_factory=list)
    bans: set[tuple[int, int]] = field(default_factory=set)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    gateway: FakeGateway | None = None
    invites: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    """Per guild, the invites ``GET /guilds/{id}/invites`` lists (``invite_payload``); tests change ``uses``."""
    audit_log: list[dict[str, Any]] = field(default_factory=list)
    """Audit log entries, newest first (``audit_entry``), served by ``GET /guilds/{id}/audit-logs``."""
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Channels and threads the bot created (``POST /guilds/{id}/channels``, ``POST /channels/{id}/threads``),
    with the edits it made (``PATCH /channels/{id}``: names, archived, locked)."""
    thread_members: dict[int, set[int]] = field(default_factory=dict)
    entitlements: list[dict[str, Any]] = field(default_factory=list)
    """The application's entitlements, served by ``GET /applications/{id}/entitlements``."""
    """What the bot last set on each channel with ``PATCH /channels/{id}`` (overwrites, slowmode)."""
    _ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    url: str = ""

    def snowflake(self) -> int:
        """A fresh ID with a current timestamp (the facade checks IDs are plausible)."""
        return discord.utils.time_snowflake(datetime.now(UTC)) + next(self._ids)

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle)
        if self.gateway is not None:
            app.router.add_get("/gateway", self.gateway.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}{API_PREFIX}"
        return self.url

    @property
    def gateway_url(self) -> str:
        return self.url.removesuffix(API_PREFIX).replace("http://", "ws://", 1) + "/gateway"

    async def stop(self) -> None:
        for hold in self.holds:
            hold.release()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests use ---------------------------------------------------------------
    def fail(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 403,
        code: int = 50013,
        message: str = "Missing Permissions",
        times: int | None = None,
    ) -> None:
        """Make matching calls answer with a Discord error (``times`` calls, or all)."""
        self.failures.append(Failure(method, re.compile(path_regex), status, code, message, times))

    def hold(self, method: str, path_regex: str) -> Hold:
        """Keep matching calls waiting (their arrival recorded) until ``Hold.release``."""
        hold = Hold(method, re.compile(path_regex))
        self.holds.append(hold)
        return hold

    def calls(self, method: str, path_regex: str) -> list[Call]:
        pattern = re.compile(path_regex)
        return [c for c in self.requests if c.method == method and pattern.fullmatch(c.path)]

    def sent_to(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.sent if int(m["channel_id"]) == channel_id]

    def texts(self, channel_id: int | None = None) -> list[str]:
        """Text of each created message (content, else the embeds' titles and descriptions)."""
        found = self.sent if channel_id is None else self.sent_to(channel_id)
        return [_text(m) for m in found]

    def reply_texts(self) -> list[str]:
        """Text of every message and interaction response, in order."""
        return [_text(r) for r in self.requests_text()]

    def requests_text(self) -> list[dict[str, Any]]:
        return [
            call.body.get("data", call.body) if "/callback" in call.path else call.body
            for call in self.requests
            if call.method == "POST"
            and (call.path.endswith("/messages") or "/callback" in call.path or call.path.startswith("/webhooks/"))
        ]

    # -- the router -----------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        body: dict[str, Any] = {}
        if raw:
            if request.content_type == "application/json":
                body = json.loads(raw)
            elif request.content_type.startswith("multipart/"):
                body = {"multipart": True}
        call = Call(request.method, path, body, dict(request.query))
        await self._wait_if_held(call)
        self.requests.append(call)
        for failure in self.failures:
            if failure.method == request.method and failure.pattern.fullmatch(path) and failure.times != 0:
                if failure.times is not None:
                    failure.times -= 1
                return _json({"message": failure.message, "code": failure.code}, status=failure.status)
        for method, pattern, handler in self._routes():
            match = pattern.fullmatch(path)
            if method == request.method and match:
                return handler(match.groupdict(), body)
        self.unknown.append(call)
        return _json({"message": "404: Not Found", "code": 0}, status=404)

    async def _wait_if_held(self, call: Call) -> None:
        for hold in self.holds:
            if hold.method == call.method and hold.pattern.fullmatch(call.path) and not hold.released.is_set():
                hold.arrived.append(call)
                await hold.released.wait()

    def _routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        r = re.compile
        return [
            ("GET", r(r"/users/@me"), lambda _m, _b: _json(self.bot_user)),
            ("GET", r(r"/oauth2/applications/@me"), self._application),
            ("POST", r(r"/channels/(?P<channel>\d+)/messages"), self._create_message),
            ("GET", r(r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)"), self._get_message),
            ("PATCH", r(r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)"), self._edit_message),
            ("DELETE", r(r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)"), self._delete_message),
            ("PUT", r(r"/channels/\d+/messages/\d+/reactions/[^/]+/@me"), _no_content),
            ("POST", r(r"/users/@me/channels"), self._dm_channel),
            ("GET", r(r"/users/(?P<user>\d+)"), self._get_user),
            ("PUT", r(r"/guilds/(?P<guild>\d+)/bans/(?P<user>\d+)"), self._ban),
            ("DELETE", r(r"/guilds/(?P<guild>\d+)/bans/(?P<user>\d+)"), self._unban),
            ("GET", r(r"/guilds/(?P<guild>\d+)/members/(?P<user>\d+)"), self._get_member),
            ("PATCH", r(r"/guilds/(?P<guild>\d+)/members/(?P<user>\d+)"), self._edit_member),
            ("DELETE", r(r"/guilds/(?P<guild>\d+)/members/(?P<user>\d+)"), self._kick),
            ("PUT", r(r"/guilds/\d+/members/\d+/roles/\d+"), _no_content),
            ("GET", r(r"/guilds/(?P<guild>\d+)/invites"), self._guild_invites),
            ("PATCH", r(r"/channels/(?P<channel>\d+)"), self._edit_channel),
            ("GET", r(r"/invites/(?P<code>[^/]+)"), self._get_invite),
            ("GET", r(r"/guilds/(?P<guild>\d+)/audit-logs"), self._audit_logs),
            ("GET", r(r"/applications/\d+/entitlements"), lambda _m, _b: _json(self.entitlements)),
            ("DELETE", r(r"/guilds/\d+/members/\d+/roles/\d+"), _no_content),
            ("POST", r(r"/channels/(?P<channel>\d+)/threads"), self._create_thread),
            ("PUT", r(r"/channels/(?P<channel>\d+)/thread-members/(?P<user>\d+)"), self._add_thread_member),
            ("POST", r(r"/guilds/(?P<guild>\d+)/channels"), self._create_channel),
            ("POST", r(r"/interactions/(?P<interaction>\d+)/(?P<token>[^/]+)/callback"), self._callback),
            ("POST", r(r"/webhooks/\d+/(?P<token>[^/]+)"), self._followup),
            ("GET", r(r"/webhooks/\d+/(?P<token>[^/]+)/messages/(?P<message>@original|\d+)"), self._webhook_message),
            ("PATCH", r(r"/webhooks/\d+/(?P<token>[^/]+)/messages/(?P<message>@original|\d+)"), self._webhook_message),
        ]

    # -- handlers --------------------------------------------------------------------------
    def _application(self, _m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user["username"],
                "icon": None,
                "description": "",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.bot_user,
                "summary": "",
                "verify_key": "0" * 64,
                "team": None,
                "flags": 0,
            }
        )

    def message_payload(
        self,
        channel_id: int,
        body: dict[str, Any],
        *,
        author: dict[str, Any] | None = None,
        guild_id: int | None = None,
    ) -> dict[str, Any]:
        message_id = self.snowflake()
        payload = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": author or self.bot_user,
            "content": body.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": body.get("flags", 0),
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
        self.messages[message_id] = payload
        return payload

    def _create_message(self, m: dict[str, str], body: dict[str, Any]) -> web.Response:
        payload = self.message_payload(int(m["channel"]), body)
        self.sent.append(payload)
        return _json(payload)

    def _get_message(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        found = self.messages.get(int(m["message"]))
        if found is None:
            return _error(404, 10008, "Unknown Message")
        return _json(found)

    def _edit_message(self, m: dict[str, str], body: dict[str, Any]) -> web.Response:
        found = self.messages.get(int(m["message"]))
        if found is None:
            return _error(404, 10008, "Unknown Message")
        found.update({k: v for k, v in body.items() if k in {"content", "embeds", "components"}})
        return _json(found)

    def _delete_message(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        if self.messages.pop(int(m["message"]), None) is None:
            return _error(404, 10008, "Unknown Message")
        return _no_content(m, _b)

    def _dm_channel(self, _m: dict[str, str], body: dict[str, Any]) -> web.Response:
        user_id = int(body["recipient_id"])
        user = self.users.get(user_id, user_payload(user_id, f"user{user_id}"))
        return _json({"id": str(user_id + 1), "type": 1, "recipients": [user], "last_message_id": None})

    def _get_user(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        user = self.users.get(int(m["user"]))
        return _error(404, 10013, "Unknown User") if user is None else _json(user)

    def _ban(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        self.bans.add((int(m["guild"]), int(m["user"])))
        return _no_content(m, _b)

    def _unban(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        key = (int(m["guild"]), int(m["user"]))
        if key not in self.bans:
            return _error(404, 10026, "Unknown Ban")
        self.bans.discard(key)
        return _no_content(m, _b)

    def _get_member(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        member = self.members.get((int(m["guild"]), int(m["user"])))
        return _error(404, 10007, "Unknown Member") if member is None else _json(member)

    def _edit_member(self, m: dict[str, str], body: dict[str, Any]) -> web.Response:
        member = self.members.get((int(m["guild"]), int(m["user"])))
        if member is None:
            return _error(404, 10007, "Unknown Member")
        member.update({k: v for k, v in body.items() if k in {"nick", "communication_disabled_until"}})
        if "roles" in body:  # Discord answers with the IDs as strings, whichever way they were sent
            member["roles"] = [str(role) for role in body["roles"]]
        return _json(member)

    def _kick(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        if self.members.pop((int(m["guild"]), int(m["user"])), None) is None:
            return _error(404, 10007, "Unknown Member")
        return _no_content(m, _b)

    def invite_payload(
        self, guild_id: int, channel_id: int, code: str, inviter: dict[str, Any], *, uses: int = 0, max_uses: int = 0
    ) -> dict[str, Any]:
        """An invite as the REST API lists it; appended to ``invites[guild_id]``."""
        payload = {
            "code": code,
            "type": 0,
            "guild": {"id": str(guild_id), "name": "Test Guild", "features": []},
            "channel": {"id": str(channel_id), "name": "general", "type": 0},
            "inviter": inviter,
            "uses": uses,
            "max_uses": max_uses,
            "max_age": 0,
            "temporary": False,
            "created_at": datetime.now(UTC).isoformat(),
        }
        self.invites.setdefault(guild_id, []).append(payload)
        return payload

    def audit_entry(
        self, action: discord.AuditLogAction, target_id: int, user_id: int, *, reason: str | None = None
    ) -> None:
        """Record that ``user_id`` did ``action`` to ``target_id`` just now (newest first, as Discord lists them)."""
        entry = {
            "id": str(self.snowflake()),
            "action_type": action.value,
            "target_id": str(target_id),
            "user_id": str(user_id),
            "changes": [],
            "reason": reason,
        }
        self.audit_log.insert(0, entry)

    def _edit_channel(self, m: dict[str, str], body: dict[str, Any]) -> web.Response:
        """A thread the fake made keeps its name and metadata apart; any other channel takes the body whole."""
        channel = self.channels.setdefault(int(m["channel"]), {"id": m["channel"], "type": 0})
        if "thread_metadata" in channel:
            channel.update({k: v for k, v in body.items() if k == "name"})
            channel["thread_metadata"].update({k: v for k, v in body.items() if k in {"archived", "locked"}})
        else:
            channel.update(body)
        return _json(channel)

    def _get_invite(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        found = next((i for listed in self.invites.values() for i in listed if i["code"] == m["code"]), None)
        return _error(404, 10006, "Unknown Invite") if found is None else _json(found)

    def _guild_invites(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        return _json(self.invites.get(int(m["guild"]), []))

    def _audit_logs(self, _m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        wanted = self.requests[-1].query.get("action_type")
        entries = [e for e in self.audit_log if wanted is None or str(e["action_type"]) == wanted]
        users = [self.users[int(e["user_id"])] for e in entries if int(e["user_id"]) in self.users]
        empty: list[Any] = []
        return _json(
            {
                "audit_log_entries": entries,
                "users": users,
                "webhooks": empty,
                "integrations": empty,
                "threads": empty,
                "application_commands": empty,
                "auto_moderation_rules": empty,
                "guild_scheduled_events": empty,
            }
        )

    def _create_thread(self, m: dict[str, str], body: dict[str, Any]) -> web.Response:
        thread_id = self.snowflake()
        self.channels[thread_id] = {
            "id": str(thread_id),
            "type": body.get("type", 12),
            "parent_id": m["channel"],
            "name": body.get("name"),
            "owner_id": self.bot_user["id"],
            "thread_metadata": {"archived": False, "locked": False, "auto_archive_duration": 10080},
        }
        return _json(self.channels[thread_id])

    def _add_thread_member(self, m: dict[str, str], _b: dict[str, Any]) -> web.Response:
        self.thread_members.setdefault(int(m["channel"]), set()).add(int(m["user"]))
        return _no_content(m, _b)

    def _create_channel(self, m: dict[str, str], body: dict[str, Any]) -> web.Response:
        channel_id = self.snowflake()
        self.channels[channel_id] = body | {"id": str(channel_id), "guild_id": m["guild"], "thread_metadata": {}}
        return _json(self.channels[channel_id])

    def _callback(self, m: dict[str, str], body: dict[str, Any]) -> web.Response:
        self.interaction_responses.append(body)
        data = body.get("data") or {}
        interaction = {"id": m["interaction"], "type": 2, "response_message_loading": body.get("type") == 5}
        result: dict[str, Any] = {"interaction": interaction, "resource": {"type": body.get("type", 4)}}
        if body.get("type") in {4, 7}:
            message = self.message_payload(0, data)
            message["interaction_token"] = m["token"]
            interaction["response_message_id"] = message["id"]
            interaction["response_message_ephemeral"] = bool(data.get("flags", 0) & 64)
            result["resource"]["message"] = message
        return _json(result)

    def _followup(self, _m: dict[str, str], body: dict[str, Any]) -> web.Response:
        self.interaction_responses.append({"type": "followup", "data": body})
        return _json(self.message_payload(0, body))

    def _webhook_message(self, m: dict[str, str], body: dict[str, Any]) -> web.Response:
        if m["message"] == "@original":
            found = next(
                (msg for msg in reversed(self.messages.values()) if msg.get("interaction_token") == m["token"]), None
            )
        else:
            found = self.messages.get(int(m["message"]))
        if found is None:
            return _error(404, 10008, "Unknown Message")
        found.update({k: v for k, v in body.items() if k in {"content", "embeds", "components"}})
        return _json(found)


def _no_content(_m: dict[str, str], _b: dict[str, Any]) -> web.Response:
    return web.Response(status=204)


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


def _text(message: dict[str, Any]) -> str:
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts.extend(str(embed.get(key) or "") for key in ("title", "description"))
        parts.extend(f"{f.get('name')}: {f.get('value')}" for f in embed.get("fields") or [])
    return "\n".join(part for part in parts if part)


def _json(data: Any, status: int = 200) -> web.Response:
    """JSON with exactly ``application/json`` (discord.py compares the header, charset and all)."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})
