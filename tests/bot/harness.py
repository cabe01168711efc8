"""Drives a real ``GuildbaseBot`` offline: gateway payloads in, REST calls out to ``FakeDiscord``.

Events enter through discord.py's own parsers (``ConnectionState.parse_message_create``,
``parse_interaction_create``, ``parse_message_reaction_add`` …), so the bot's listeners,
prefix resolution, converters, hybrid/slash dispatch, checks and error events all run
exactly as on a live gateway. ``settle`` waits until every task the dispatch started
has finished. The one gateway feature faked in place is member queries: the shard's
websocket says it is rate limited, so member lookups fall back to REST (the fake's
``GET /guilds/{id}/members/{id}``), and name queries answer with no member.
"""

import asyncio
import itertools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import discord
import pytest
from discord import app_commands
from fake_discord import FakeDiscord, user_payload

from guildbase import Database, Settings
from guildbase.bot.bot import GuildbaseBot
from guildbase.bot.settings import BotSettings

ADMINISTRATOR = 1 << 3
EVERYONE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    use_application_commands=True,
).value
DISPATCH_TASKS = (
    "discord.py:",
    "CommandTree-invoker",
    "discord-ui-view-dispatch",
    "discord-ui-modal-dispatch",
    "discord-ui-dynamic-item",
)
WAIT_SECONDS = 60.0
T = TypeVar("T")


async def until(probe: Callable[[], Awaitable[T | None]], what: str, *, seconds: float = WAIT_SECONDS) -> T:
    """The first truthy answer of ``probe``: job workers and bot processes run on their own schedule."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    is_mod: bool = False

    @property
    def mention(self) -> str:
        return f"<@{self.user_id}>"


class _FakeGateway:
    """The bits of ``DiscordWebSocket`` member lookups use."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def is_ratelimited(self) -> bool:
        return True  # MemberConverter then asks REST instead of the gateway

    async def request_chunks(self, guild_id: int, *_args: object, nonce: str | None = None, **_query: object) -> None:
        """Answer a member query with no members (tests only ever query for unknown people)."""
        # Answered on a later loop turn, as the gateway would: discord.py starts waiting after this returns.
        chunk = {"guild_id": str(guild_id), "members": [], "chunk_index": 0, "chunk_count": 1, "nonce": nonce}
        asyncio.get_running_loop().call_later(0.01, self.state.parse_guild_members_chunk, chunk)


class _FakeShard:
    def __init__(self, state: Any) -> None:
        self.ws = _FakeGateway(state)
        self.id = 0

    async def close(self) -> None:
        """Nothing to close: there is no gateway connection."""


class Harness:
    """One guild with two channels, a moderator, two members and the bot."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.bot: Any = None
        self.fake = fake
        self.guild_id = fake.snowflake()
        self.mod_role_id = fake.snowflake()
        self.jail_role_id = fake.snowflake()
        self.regular_role_id = fake.snowflake()
        self.channel_id = fake.snowflake()
        self.board_channel_id = fake.snowflake()
        self.mod = Person(fake.snowflake(), "mod", is_mod=True)
        self.alice = Person(fake.snowflake(), "alice")
        self.bob = Person(fake.snowflake(), "bob")
        self.stranger = Person(fake.snowflake(), "stranger")
        self._interaction_ids = itertools.count(1)

    @property
    def state(self) -> Any:
        return self.bot._connection

    @property
    def bot_id(self) -> int:
        return int(self.fake.bot_user["id"])

    @property
    def guild(self) -> discord.Guild:
        guild = self.bot.get_guild(self.guild_id)
        assert guild is not None
        return guild

    # -- set-up ------------------------------------------------------------------------
    async def start(self, bot: Any) -> None:
        """Log ``bot`` in against the fake and deliver the guild (GUILD_CREATE)."""
        self.bot = bot
        await self.bot.login("test-token")  # GET /users/@me, application info, then setup_hook
        self.bot._AutoShardedClient__shards[0] = _FakeShard(self.state)
        for person in (self.mod, self.alice, self.bob, self.stranger):
            self.fake.users[person.user_id] = user_payload(person.user_id, person.name)
        for person in (self.mod, self.alice, self.bob):
            self.fake.members[(self.guild_id, person.user_id)] = self.member_payload(person)
        self.state.parse_guild_create(self.guild_payload())
        await self.settle()

    def member_payload(self, person: Person) -> dict[str, Any]:
        """The member as Discord holds it now: roles as the fake last stored them (the bot may have edited them)."""
        stored = self.fake.members.get((self.guild_id, person.user_id))
        if stored is not None:
            roles = list(stored["roles"])
        elif person.is_mod:
            roles = [str(self.mod_role_id)]
        else:
            roles = [str(self.regular_role_id)] if person.name == "alice" else []
        return {
            "user": user_payload(person.user_id, person.name),
            "roles": roles,
            "joined_at": datetime.now(UTC).isoformat(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
        }

    def guild_payload(self) -> dict[str, Any]:
        def role(role_id: int, name: str, permissions: int, position: int) -> dict[str, Any]:
            return {
                "id": str(role_id),
                "name": name,
                "permissions": str(permissions),
                "position": position,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }

        def channel(channel_id: int, name: str, position: int) -> dict[str, Any]:
            return {
                "id": str(channel_id),
                "type": 0,
                "name": name,
                "position": position,
                "permission_overwrites": [],
                "guild_id": str(self.guild_id),
                "nsfw": False,
                "parent_id": None,
                "topic": None,
                "rate_limit_per_user": 0,
            }

        bot_member = {
            "user": self.fake.bot_user,
            "roles": [str(self.mod_role_id)],
            "joined_at": datetime.now(UTC).isoformat(),
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        members = [self.fake.members[(self.guild_id, p.user_id)] for p in (self.mod, self.alice, self.bob)]
        return {
            "id": str(self.guild_id),
            "name": "Test Guild",
            "owner_id": str(self.stranger.user_id),
            "roles": [
                role(self.guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
                role(self.mod_role_id, "Mods", ADMINISTRATOR, 3),
                role(self.regular_role_id, "Regulars", 0, 2),
                role(self.jail_role_id, "Jailed", 0, 1),
            ],
            "channels": [channel(self.channel_id, "general", 0), channel(self.board_channel_id, "starboard", 1)],
            "members": [*members, bot_member],
            "member_count": len(members) + 1,
            "emojis": [],
            "stickers": [],
            "features": [],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "large": False,
            "premium_tier": 0,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
            "afk_timeout": 300,
        }

    async def settle(self) -> None:
        """Wait until every task started by dispatch (events, commands, views) has finished."""
        idle_rounds = 0
        while idle_rounds < 3:
            await asyncio.sleep(0)
            pending = [t for t in asyncio.all_tasks() if not t.done() and t.get_name().startswith(DISPATCH_TASKS)]
            if pending:
                idle_rounds = 0
                await asyncio.wait(pending, timeout=10)
            else:
                idle_rounds += 1

    # -- events in ----------------------------------------------------------------------
    def message_event(
        self, person: Person, content: str, *, mentions: tuple[Person, ...] = (), channel_id: int | None = None
    ) -> dict[str, Any]:
        """The MESSAGE_CREATE payload of ``person`` posting ``content`` in the guild."""
        channel = channel_id or self.channel_id
        payload = self.fake.message_payload(
            channel, {"content": content}, author=user_payload(person.user_id, person.name), guild_id=self.guild_id
        )
        payload["member"] = {k: v for k, v in self.member_payload(person).items() if k != "user"}
        payload["mentions"] = [
            user_payload(p.user_id, p.name)
            | {"member": {k: v for k, v in self.member_payload(p).items() if k != "user"}}
            for p in mentions
        ]
        return payload

    async def say(
        self,
        person: Person,
        content: str,
        *,
        mentions: tuple[Person, ...] = (),
        channel_id: int | None = None,
        settle: bool = True,
    ) -> dict[str, Any]:
        """``person`` posts ``content`` in the guild; returns the message payload."""
        payload = self.message_event(person, content, mentions=mentions, channel_id=channel_id)
        self.state.parse_message_create(payload)
        if settle:
            await self.settle()
        return payload

    async def join(self, person: Person) -> None:
        """``person`` joins the guild (GUILD_MEMBER_ADD)."""
        payload = self.member_payload(person)
        self.fake.members[(self.guild_id, person.user_id)] = payload
        self.state.parse_guild_member_add(payload | {"guild_id": str(self.guild_id)})
        await self.settle()

    async def react(self, person: Person, message: dict[str, Any], emoji: str, *, add: bool = True) -> None:
        data: dict[str, Any] = {
            "user_id": str(person.user_id),
            "channel_id": message["channel_id"],
            "message_id": message["id"],
            "guild_id": str(self.guild_id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if add:
            data["member"] = self.member_payload(person)
            data["message_author_id"] = message["author"]["id"]
            self.state.parse_message_reaction_add(data)
        else:
            self.state.parse_message_reaction_remove(data)
        await self.settle()

    async def slash(self, person: Person, name: str, /, **options: Any) -> None:
        """``person`` runs ``/name`` with ``options`` (Discord objects given as ``Person`` or IDs)."""
        self.state.parse_interaction_create(self.interaction_payload(person, name, options, kind=2))
        await self.settle()

    async def autocomplete(self, person: Person, name: str, focused: str, /, **options: Any) -> list[dict[str, Any]]:
        """The choices the bot offers for option ``focused`` (whose current text is in ``options``)."""
        before = len(self.fake.interaction_responses)
        payload = self.interaction_payload(person, name, options, kind=4)
        for option in payload["data"]["options"]:
            if option["name"] == focused:
                option["focused"] = True
                option["type"] = 3
                option["value"] = str(option["value"])
        self.state.parse_interaction_create(payload)
        await self.settle()
        responses = self.fake.interaction_responses[before:]
        assert responses, "the bot did not answer the autocomplete"
        return list(responses[-1]["data"]["choices"])

    async def click(
        self, person: Person, message: dict[str, Any], label: str, *, channel_id: int | None = None
    ) -> None:
        """``person`` presses the button labelled ``label`` on a message the bot sent (in ``channel_id``)."""
        button = next(c for row in message["components"] for c in row["components"] if c.get("label") == label)
        payload = self.interaction_payload(person, "", {}, kind=3, channel_id=channel_id)
        payload["message"] = message
        payload["data"] = {"custom_id": button["custom_id"], "component_type": 2}
        self.state.parse_interaction_create(payload)
        await self.settle()

    async def submit_modal(self, person: Person, answers: list[str]) -> None:
        """``person`` fills in the modal the bot showed last (its text inputs in order) and submits it."""
        modal = next(r["data"] for r in reversed(self.fake.interaction_responses) if r.get("type") == 9)
        values = iter(answers)
        rows = []
        for row in modal["components"]:
            if row["type"] == 18:  # a label wrapping its input
                inner = row["component"]
                rows.append(
                    {"type": 18, "component": {"type": 4, "custom_id": inner["custom_id"], "value": next(values)}}
                )
            else:
                rows.append(
                    {
                        "type": 1,
                        "components": [
                            {"type": 4, "custom_id": c["custom_id"], "value": next(values)} for c in row["components"]
                        ],
                    }
                )
        payload = self.interaction_payload(person, "", {}, kind=5)
        payload["data"] = {"custom_id": modal["custom_id"], "components": rows}
        self.state.parse_interaction_create(payload)
        await self.settle()

    def interaction_payload(
        self, person: Person, name: str, options: dict[str, Any], *, kind: int, channel_id: int | None = None
    ) -> dict[str, Any]:
        command = self.bot.tree.get_command(name) if name else None
        assert command is None or isinstance(command, app_commands.Command), f"no slash command {name}"
        types = {p.name: p.type for p in command.parameters} if command else {}
        resolved: dict[str, dict[str, Any]] = {"users": {}, "members": {}, "channels": {}, "roles": {}}
        sent = []
        for key, value in options.items():
            option_type = types[key]
            if option_type is discord.AppCommandOptionType.role:
                resolved["roles"][str(value)] = next(r for r in self.guild_payload()["roles"] if r["id"] == str(value))
            if option_type is discord.AppCommandOptionType.channel:
                resolved["channels"][str(value)] = next(
                    c for c in self.guild_payload()["channels"] if c["id"] == str(value)
                ) | {"permissions": str(ADMINISTRATOR)}
            if isinstance(value, Person):
                resolved["users"][str(value.user_id)] = user_payload(value.user_id, value.name)
                if (self.guild_id, value.user_id) in self.fake.members:
                    member = {k: v for k, v in self.member_payload(value).items() if k != "user"}
                    resolved["members"][str(value.user_id)] = member | {
                        "permissions": str(ADMINISTRATOR if value.is_mod else EVERYONE_PERMISSIONS)
                    }
            shown = str(value.user_id) if isinstance(value, Person) else value
            sent.append({"name": key, "type": option_type.value, "value": shown})
        member = self.member_payload(person) | {
            "permissions": str(ADMINISTRATOR if person.is_mod else EVERYONE_PERMISSIONS)
        }
        return {
            "id": str(self.fake.snowflake()),
            "application_id": str(self.fake.application_id),
            "type": kind,
            "token": f"token-{next(self._interaction_ids)}",
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": str(channel_id or self.channel_id),
            "channel": {
                "id": str(channel_id or self.channel_id),
                "type": 0,
                "guild_id": str(self.guild_id),
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
            },
            "member": member,
            "app_permissions": str(ADMINISTRATOR),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 8_000_000,
            "data": {"id": str(self.fake.snowflake()), "name": name, "type": 1, "options": sent, "resolved": resolved},
        }

    # -- what came out ----------------------------------------------------------------------
    def replies(self) -> list[str]:
        """Every message text the bot produced (channel messages and interaction responses), in order."""
        return self.fake.reply_texts()

    def last_reply(self) -> str:
        replies = self.replies()
        assert replies, "the bot did not reply"
        return replies[-1]

    def last_interaction_response(self) -> dict[str, Any]:
        assert self.fake.interaction_responses, "the bot did not answer the interaction"
        return self.fake.interaction_responses[-1]


async def logged_commands(world: Harness, user: Person | None = None) -> list[Any]:
    """The guild's command-log rows (the buffered writer flushed first), oldest first."""
    await world.bot.db.logs.flush()
    rows = await world.bot.db.logs.recent_commands(
        guild_id=world.guild_id, user_id=None if user is None else user.user_id
    )
    return list(reversed(rows))


def bot_settings(settings: Settings, fake: FakeDiscord, **changes: object) -> BotSettings:
    """The test database's settings plus a bot pointed at the fake (one shard, no job worker)."""
    values = settings.model_dump() | {
        "discord_api_url": fake.url,
        "bot_shard_count": 1,
        "bot_run_jobs": False,
    }
    return BotSettings(**(values | changes))


@asynccontextmanager
async def running_bot(db: Database, settings: Settings, fake: FakeDiscord, **changes: object) -> AsyncIterator[Harness]:
    """A bot on ``db`` logged in against the fake and delivered its guild; closed on exit."""
    original_base = discord.http.Route.BASE
    world = Harness(fake)
    bot = GuildbaseBot(bot_settings(settings, fake, owner_ids=[world.mod.user_id], **changes), db=db)
    listener_errors: list[str] = []

    async def on_error(event: str, *_args: object, **_kwargs: object) -> None:
        listener_errors.append(f"{event}: {sys.exc_info()[1]!r}")

    bot.on_error = on_error  # type: ignore[method-assign]
    try:
        await world.start(bot)
        yield world
        assert listener_errors == [], f"a listener raised: {listener_errors}"
    finally:
        await bot.close()
        discord.http.Route.BASE = original_base
