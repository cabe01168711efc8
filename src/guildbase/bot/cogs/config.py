"""Config cog: prefixes, log/jail/welcome channels, staff/jail roles, welcome message, feature toggles.

Every command is a thin call into ``db.guild_config``; the facade validates (a
prefix with a space, an 11-character prefix …) and the error mapper quotes its
message. Needs Manage Server.
"""

from typing import Literal

import discord
from discord.ext import commands

from guildbase import Feature
from guildbase.bot.cog import Ctx, GuildbaseCog, given_or_none, hybrid, manage_guild_only
from guildbase.bot.ui import embed

ChannelKind = Literal[
    "mod_log", "audit_log", "join_log", "private_log", "report_log", "dev_log", "jail", "general", "welcome"
]
RoleKind = Literal["jail", "quarantine", "base_staff", "base_member"]
FEATURES = tuple(feature.value for feature in Feature)
CHANNEL = given_or_none(discord.TextChannel, "the channel (leave out to clear)")
ROLE = given_or_none(discord.Role, "the role (leave out to clear)")


class ConfigCog(GuildbaseCog, name="Config"):
    """Server settings (Manage Server)."""

    async def cog_check(self, ctx: Ctx) -> bool:
        return manage_guild_only(ctx)

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        """Greet a newcomer in the welcome channel when the welcome feature is on and a message is set."""
        if member.bot or not await self.db.guild_config.is_enabled(member.guild.id, "welcome"):
            return
        config = await self.db.guild_config.get(member.guild.id)
        if config.welcome_channel_id is None or not config.welcome_message:
            return
        text = config.welcome_message.replace("{user}", member.mention).replace("{server}", member.guild.name)
        await self.bot.get_partial_messageable(config.welcome_channel_id).send(text)

    @hybrid(name="prefix")
    async def prefix(self, ctx: Ctx, new: str | None = None) -> None:
        """Show the prefixes, or replace the primary one."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        if new is None:
            prefixes = await self.db.guild_config.get_prefixes(ctx.guild.id)
            await ctx.send(embed=embed("Prefixes", " ".join(f"`{p}`" for p in prefixes)))
            return
        config = await self.db.guild_config.set_prefix(ctx.guild.id, new)
        await ctx.send(f"Prefix set to `{config.prefix}`.")

    @hybrid(name="addprefix")
    async def add_prefix(self, ctx: Ctx, prefix: str) -> None:
        """Add an extra prefix."""
        assert ctx.guild is not None  # noqa: S101
        prefixes = await self.db.guild_config.add_prefix(ctx.guild.id, prefix)
        await ctx.send("Prefixes: " + " ".join(f"`{p}`" for p in prefixes))

    @hybrid(name="removeprefix")
    async def remove_prefix(self, ctx: Ctx, prefix: str) -> None:
        """Remove an extra prefix."""
        assert ctx.guild is not None  # noqa: S101
        prefixes = await self.db.guild_config.remove_prefix(ctx.guild.id, prefix)
        await ctx.send("Prefixes: " + " ".join(f"`{p}`" for p in prefixes))

    @hybrid(name="setchannel")
    async def set_channel(self, ctx: Ctx, kind: ChannelKind, channel: discord.TextChannel | None = CHANNEL) -> None:
        """Set (or, without a channel, clear) one of the server's channels."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.guild_config.update(
            ctx.guild.id, **{f"{kind}_channel_id": None if channel is None else channel.id}
        )
        await ctx.send(f"{kind.replace('_', ' ')} channel: {'cleared' if channel is None else channel.mention}.")

    @hybrid(name="setrole")
    async def set_role(self, ctx: Ctx, kind: RoleKind, role: discord.Role | None = ROLE) -> None:
        """Set (or, without a role, clear) one of the server's roles."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.guild_config.update(ctx.guild.id, **{f"{kind}_role_id": None if role is None else role.id})
        await ctx.send(f"{kind.replace('_', ' ')} role: {'cleared' if role is None else role.name}.")

    @hybrid(name="welcome")
    async def welcome(self, ctx: Ctx, *, message: str | None = None) -> None:
        """Set the welcome message (``{user}``: the newcomer, ``{server}``: the server name), or clear it."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.guild_config.update(ctx.guild.id, welcome_message=message)
        await ctx.send("Welcome message cleared." if message is None else "Welcome message saved.")

    @hybrid(name="feature")
    async def feature_toggle(self, ctx: Ctx, name: str, state: bool) -> None:
        """Turn a feature on or off (levels, starboard, afk, reminders, bookmarks …)."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.guild_config.set_feature(ctx.guild.id, name.lower(), enabled=state)
        await ctx.send(f"{name.lower()} is now {'on' if state else 'off'}.")

    @feature_toggle.autocomplete("name")
    async def _feature_names(
        self, _interaction: discord.Interaction, current: str
    ) -> list[discord.app_commands.Choice[str]]:
        return [discord.app_commands.Choice(name=f, value=f) for f in FEATURES if current.lower() in f]

    @hybrid(name="features")
    async def features(self, ctx: Ctx) -> None:
        """Every feature and whether it is on here."""
        assert ctx.guild is not None  # noqa: S101
        states = await self.db.guild_config.features(ctx.guild.id)
        lines = [f"{'✅' if on else '❌'} {feature}" for feature, on in sorted(states.items())]
        await ctx.send(embed=embed("Features", "\n".join(lines)))
