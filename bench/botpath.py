"""W6b: W6's message path through the reference bot's real ``on_message`` listeners, and its memory.

One operation is one guild message handed to the bot the way discord.py
hands it over after a MESSAGE_CREATE: a ``discord.Message`` built from the
gateway payload (author and mentions as real ``Member`` objects), then every
``on_message`` listener the bot registered, run concurrently as dispatch
runs them: the bot's own (prefix resolution, no command), the levels cog (the
global blacklist check, the feature toggle, the XP award) and the AFK cog (the
same checks, the author's and mentions' AFK; an AFK author is welcomed back).
The channel is a stand-in whose ``send`` does nothing, so Discord's REST API is
not measured. The bot shares the run's ``Database``; W6's limit runs in the
same run on the same data, and the figure is the ratio to it.

Memory: after the rounds, 10,000 guilds are seeded and their configs read
through the bot's facade, so each is cached in the process (the local copies'
lifetime is raised for this phase, so none expires while the rest load); the
report gives the process's resident set before and after, and its peak.
"""

import asyncio
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from bench.composite import W6World, w6_limit, w6_world
from bench.harness import Env, Runner, Variant, environment
from bench.workloads import CHANNEL, G0, U0, Scale, seed_guilds, summarize, xp_target
from guildbase.bot.bot import GuildbaseBot
from guildbase.bot.settings import BotSettings
from guildbase.controllers.guild_config import config_key

BOT_ID = U0 + 999_999
CACHED_GUILDS = 10_000
CONFIG_BATCH = 500
MEMORY_TTL = 600.0
"""Local cache lifetime for the memory phase only (the rounds run with the default)."""


@dataclass
class Channel:
    """The message's channel: the guild it belongs to, and a ``send`` that only counts."""

    id: int
    guild: discord.Guild
    sent: list[str] = field(default_factory=list)

    async def send(self, content: str | None = None, **_: Any) -> None:
        self.sent.append(content or "")


def _user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(user_id), "username": name, "discriminator": "0", "global_name": name, "avatar": None, "bot": bot}


def _member() -> dict[str, Any]:
    return {"roles": [], "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False, "mute": False, "flags": 0}


def _guild(guild_id: int) -> dict[str, Any]:
    everyone = {"id": str(guild_id), "name": "@everyone", "permissions": "0", "position": 0, "color": 0}
    return {
        "id": str(guild_id),
        "name": f"guild {guild_id}",
        "owner_id": str(BOT_ID),
        "roles": [everyone | {"hoist": False, "managed": False, "mentionable": False, "flags": 0}],
        "channels": [],
        "members": [],
        "emojis": [],
        "stickers": [],
        "features": [],
        "member_count": 1,
    }


class BotWorld:
    """A ``GuildbaseBot`` on the run's facade, with W6's guilds in its cache and no gateway or REST."""

    def __init__(self, env: Env, world: W6World) -> None:
        settings = BotSettings(**env.db.settings.model_dump(), bot_shard_count=1, bot_run_jobs=False)
        self.bot = GuildbaseBot(settings, db=env.db)
        self.world = world
        state = self.bot._connection  # noqa: SLF001 - the state discord.py parses gateway payloads with
        state.user = discord.ClientUser(state=state, data=_user(BOT_ID, "guildbase", bot=True))  # type: ignore[arg-type]
        self.channels: dict[int, Channel] = {}
        for offset in range(world.guilds):
            guild = discord.Guild(data=_guild(world.firsts["bot"] + offset), state=state)  # type: ignore[arg-type]
            state._add_guild(guild)  # noqa: SLF001
            self.channels[guild.id] = Channel(CHANNEL, guild)

    async def start(self) -> None:
        """What ``login`` would run: the facade (already connected), the global check, the cogs."""
        await self.bot.setup_hook()
        self.listeners = [self.bot.on_message, *self.bot.extra_events["on_message"]]

    def message(self, index: int) -> discord.Message:
        """The message of W6's operation ``index``, as discord.py builds it from MESSAGE_CREATE."""
        g, u, _now = xp_target(index, self.world.guilds, self.world.members, self.world.firsts["bot"])
        data = {
            "id": str(G0 + 10_000_000 + index),
            "channel_id": str(CHANNEL),
            "guild_id": str(g),
            "author": _user(u, f"user{u}"),
            "member": _member(),
            "content": f"hello from message {index}",
            "timestamp": "2026-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [_user(m, f"user{m}") | {"member": _member()} for m in self.world.mentions(index)],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
        }
        return discord.Message(state=self.bot._connection, channel=self.channels[g], data=data)  # type: ignore[arg-type]  # noqa: SLF001

    async def handle(self, index: int) -> Any:
        message = self.message(index)
        return await asyncio.gather(*(listener(message) for listener in self.listeners))


def rss_mb() -> float:
    """The process's resident set now (``VmRSS``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def cache_configs(env: Env, first: int) -> dict[str, Any]:
    """Seed 10,000 guilds and read each one's config through the facade, so the process caches them all."""
    await seed_guilds(env, first, CACHED_GUILDS)
    env.db.cache.local.ttl = MEMORY_TTL  # all 10,000 stay resident however long the reads take
    before = rss_mb()
    for start in range(0, CACHED_GUILDS, CONFIG_BATCH):
        ids = range(first + start, first + min(start + CONFIG_BATCH, CACHED_GUILDS))
        await asyncio.gather(*(env.db.guild_config.get(g) for g in ids))
    after = rss_mb()
    cached = sum(1 for g in range(first, first + CACHED_GUILDS) if env.db.cache.local.get(config_key(g))[0])
    return {
        "guild_configs_read": CACHED_GUILDS,
        "guild_configs_in_local_cache": cached,
        "rss_mb_before_configs": round(before, 1),
        "rss_mb_with_10k_configs": round(after, 1),
        "rss_mb_for_10k_configs": round(after - before, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


async def w6b(scale: Scale, rounds: int) -> dict[str, Any]:
    async with environment() as env:
        world = await w6_world(env, scale, {"bot": G0 + 400, "limit": G0 + 200})
        bot = BotWorld(env, world)
        await bot.start()
        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase_bot", bot.handle, world.ops, world.tasks),
                Variant("limit", w6_limit(env, world), world.ops, world.tasks),
            ]
        )
        memory = await cache_configs(env, G0 + 1_000_000)
        sent = sum(len(channel.sent) for channel in bot.channels.values())
        return {
            "variants": summarize(results),
            "checks": {"replies_the_listeners_sent": sent, **memory},
            "notes": "the bot's own on_message plus the levels and AFK listeners, on discord.Message objects built "
            "from gateway payloads; the limit is W6's, in the same run",
        }
