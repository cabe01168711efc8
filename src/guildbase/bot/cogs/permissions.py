"""Permissions cog (R3.3, R4.5, R22): ranks, access rules, and ``explain`` (could @user run ban here, and why?).

Thin calls to ``db.permissions``: the facade validates (a rank outside 0-10,
an unknown command, an expiry in the past) and the error mapper quotes its
message naming the field. Targets are written as the bot knows them: ``all``,
a command (``ban``), a cog (``Moderation``) or a feature (``levels``);
subjects as mentions (``@user``, ``@role``, ``#channel``), an ID (a category,
a voice channel) or ``everyone`` for the server default. Needs Manage Server.
"""

import re
from datetime import timedelta
from typing import Any, Literal

import discord
from discord.ext import commands

from guildbase.bot.checks import use_of
from guildbase.bot.cog import Ctx, GuildbaseCog, given_or_none, hybrid, manage_guild_only
from guildbase.bot.durations import DURATION_OR_DEFAULT, format_duration
from guildbase.bot.ui import embed, timestamp
from guildbase.db.types import utcnow
from guildbase.errors import ValidationError
from guildbase.models.core import Feature
from guildbase.models.permissions import PermissionRuleRead, PermissionSetRead, SubjectKind, TargetKind

_MENTION = re.compile(r"<(@!?|@&|#)(\d+)>|(\d{15,20})")
EVERYONE = frozenset({"everyone", "@everyone", "server", "guild"})
MAX_LISTED = 25
CHANNEL = given_or_none(discord.TextChannel, "the channel to ask about (default: this one)")


def subject_of(guild: discord.Guild, raw: str) -> tuple[SubjectKind, int | None]:
    """``@user`` / ``@role`` / ``#channel`` / an ID / ``everyone`` → the rule's subject; refused by name."""
    if raw.lower() in EVERYONE:
        return SubjectKind.GUILD, None
    found = _MENTION.fullmatch(raw.strip())
    if found is None:
        raise ValidationError.single("subject", "format", f"must be a mention, an ID or everyone, got {raw[:40]!r}")
    sigil, mentioned, bare = found.groups()
    target = int(mentioned or bare)
    if sigil in {"@", "@!"}:
        return SubjectKind.MEMBER, target
    if sigil == "@&" or (sigil is None and guild.get_role(target) is not None):
        return SubjectKind.ROLE, target
    channel = guild.get_channel(target)
    if isinstance(channel, discord.CategoryChannel):
        return SubjectKind.CATEGORY, target
    if sigil == "#" or channel is not None:
        return SubjectKind.CHANNEL, target
    return SubjectKind.MEMBER, target


def target_of(bot: commands.Bot | commands.AutoShardedBot | Any, raw: str) -> tuple[TargetKind, str | None]:
    """``all`` / a command / a cog / a feature → the rule's target (unknown names: the facade refuses them)."""
    name = raw.strip()
    if name.lower() in {"all", "*"}:
        return TargetKind.ALL, None
    command = bot.get_command(name)
    if command is not None:
        return TargetKind.COMMAND, command.qualified_name
    if bot.get_cog(name) is not None:
        return TargetKind.MODULE, name
    if name.lower() in {f.value for f in Feature}:
        return TargetKind.FEATURE, name.lower()
    return TargetKind.COMMAND, name


def describe_subject(rule: PermissionRuleRead) -> str:
    """How a rule's subject is shown: a mention, or ``everyone``."""
    return {
        SubjectKind.MEMBER: f"<@{rule.subject_id}>",
        SubjectKind.ROLE: f"<@&{rule.subject_id}>",
        SubjectKind.CHANNEL: f"<#{rule.subject_id}>",
        SubjectKind.CATEGORY: f"category {rule.subject_id}",
        SubjectKind.GUILD: "everyone",
    }[rule.subject_kind]


def rule_line(rule: PermissionRuleRead) -> str:
    """``#12 deny ban for @Muted (until …) — reason``."""
    target = "everything" if rule.target_kind is TargetKind.ALL else f"{rule.target_kind} `{rule.target_name}`"
    mode = " (whitelist)" if rule.is_whitelist else ""
    until = "" if rule.expires_at is None else f" until {timestamp(rule.expires_at)}"
    why = f" — {rule.reason}" if rule.reason else ""
    return f"**#{rule.rule_id}** {rule.effect} {target} for {describe_subject(rule)}{mode}{until}{why}"


def describe_ranks(ranks: PermissionSetRead) -> discord.Embed:
    """A guild's rank configuration in one embed."""
    names = [f"{level}: {name}" for level, name in sorted(ranks.rank_names.items())]
    roles = [f"<@&{role}>: {level}" for role, level in sorted(ranks.role_ranks.items(), key=lambda i: -i[1])]
    commands_ = [
        f"`{key.partition(':')[2]}` ({key.partition(':')[0]}): {level}"
        for key, level in sorted(ranks.command_ranks.items())
    ]
    return embed(
        "Permission ranks",
        None,
        names="\n".join(names) or "none",
        roles="\n".join(roles[:MAX_LISTED]) or "none",
        commands="\n".join(commands_[:MAX_LISTED]) or "none",
        unconfigured_commands="allowed" if ranks.is_unconfigured_allowed else "denied",
    )


class PermissionsCog(GuildbaseCog, name="Permissions"):
    """Who may run which command where (Manage Server)."""

    async def cog_check(self, ctx: Ctx) -> bool:
        return manage_guild_only(ctx)

    # -- ranks ----------------------------------------------------------------------------------
    @hybrid(name="ranks")
    async def ranks(self, ctx: Ctx) -> None:
        """The rank names, the roles' ranks, the commands' required ranks and the default."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        await ctx.send(embed=describe_ranks(await self.db.permissions.get(ctx.guild.id)))

    @hybrid(name="rankname")
    async def rank_name(self, ctx: Ctx, rank: int, *, name: str | None = None) -> None:
        """Name a rank (0-10); no name clears it."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.permissions.set_rank_name(ctx.guild.id, rank, name)
        await ctx.send(f"Rank {rank} is {'now ' + repr(name) if name else 'unnamed'}.")

    @hybrid(name="rolerank")
    async def role_rank(self, ctx: Ctx, role: discord.Role, rank: int | None = None) -> None:
        """Give a role a rank (0-10); no rank removes it. A member's rank is their roles' highest."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.permissions.set_role_rank(ctx.guild.id, role.id, rank)
        await ctx.send(f"{role.mention} {'has rank ' + str(rank) if rank is not None else 'has no rank'} now.")

    @hybrid(name="commandrank")
    async def command_rank(self, ctx: Ctx, rank: int, *, target: str) -> None:
        """Require a rank (0-10) for a command or a module (cog); subcommands fall back to it."""
        assert ctx.guild is not None  # noqa: S101
        kind, name = target_of(self.bot, target)
        await self.db.permissions.set_command_rank(ctx.guild.id, kind, name or target, rank)
        await ctx.send(f"`{name}` ({kind}) needs rank {rank} now.")

    @hybrid(name="uncommandrank")
    async def uncommand_rank(self, ctx: Ctx, *, target: str) -> None:
        """Remove a command's or module's required rank."""
        assert ctx.guild is not None  # noqa: S101
        kind, name = target_of(self.bot, target)
        await self.db.permissions.set_command_rank(ctx.guild.id, kind, name or target, None)
        await ctx.send(f"`{name}` ({kind}) needs no rank now.")

    @hybrid(name="permdefault")
    async def default(self, ctx: Ctx, state: Literal["allow", "deny"]) -> None:
        """Whether commands that no rule or rank covers are allowed or denied here."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.permissions.set_unconfigured_allowed(ctx.guild.id, state == "allow")
        await ctx.send(f"Commands nothing configures are {'allowed' if state == 'allow' else 'denied'} now.")

    # -- rules ------------------------------------------------------------------------------------
    @hybrid(name="rules")
    async def rules(self, ctx: Ctx) -> None:
        """The access rules that apply now, oldest first."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.permissions.rules(ctx.guild.id)
        lines = [rule_line(rule) for rule in found[:MAX_LISTED]]
        more = f"\n… and {len(found) - MAX_LISTED} more" if len(found) > MAX_LISTED else ""
        await ctx.send("\n".join(lines) + more if lines else "No access rules; ranks and the default decide.")

    @hybrid(name="allow")
    async def allow(
        self,
        ctx: Ctx,
        target: str,
        subject: str,
        duration: timedelta | None = DURATION_OR_DEFAULT,
        *,
        reason: str | None = None,
    ) -> None:
        """``allow ban @Helpers 7d trial``: allow a target for a member, role, channel, category or everyone."""
        await self._add(ctx, "allow", target, subject, duration, reason)

    @hybrid(name="deny")
    async def deny(
        self,
        ctx: Ctx,
        target: str,
        subject: str,
        duration: timedelta | None = DURATION_OR_DEFAULT,
        *,
        reason: str | None = None,
    ) -> None:
        """``deny levels #general``: never allow a target there (blacklist mode)."""
        await self._add(ctx, "deny", target, subject, duration, reason)

    @hybrid(name="whitelist")
    async def whitelist(
        self,
        ctx: Ctx,
        target: str,
        subject: str,
        duration: timedelta | None = DURATION_OR_DEFAULT,
        *,
        reason: str | None = None,
    ) -> None:
        """``whitelist rank #bots``: the target only for the listed entities of that kind (only in #bots)."""
        await self._add(ctx, "allow", target, subject, duration, reason, whitelist=True)

    async def _add(  # noqa: PLR0917 - the parsed command arguments, passed on
        self,
        ctx: Ctx,
        effect: str,
        target: str,
        subject: str,
        duration: timedelta | None,
        reason: str | None,
        *,
        whitelist: bool = False,
    ) -> None:
        assert ctx.guild is not None  # noqa: S101
        subject_kind, subject_id = subject_of(ctx.guild, subject)
        target_kind, target_name = target_of(self.bot, target)
        rule = await self.db.permissions.add_rule(
            ctx.guild.id,
            subject_kind,
            subject_id,
            target_kind,
            target_name,
            effect=effect,
            is_whitelist=whitelist,
            expires_at=None if duration is None else utcnow() + duration,
            reason=reason,
            author_id=ctx.author.id,
        )
        lasting = "" if duration is None else f" for {format_duration(duration)}"
        await ctx.send(f"Rule {rule_line(rule)} saved{lasting}.")

    @hybrid(name="unrule")
    async def unrule(self, ctx: Ctx, rule_id: int) -> None:
        """Remove an access rule by its number (``rules`` lists them)."""
        assert ctx.guild is not None  # noqa: S101
        removed = await self.db.permissions.remove_rule(ctx.guild.id, rule_id)
        await ctx.send(f"Removed rule #{rule_id}." if removed else f"There is no rule #{rule_id} in this server.")

    @hybrid(name="explain")
    async def explain(
        self, ctx: Ctx, member: discord.Member, command: str, channel: discord.TextChannel | None = CHANNEL
    ) -> None:
        """``explain @user ban #general``: could they run it there, and which rule or rank decides."""
        assert ctx.guild is not None  # noqa: S101
        found = self.bot.get_command(command)
        if found is None:
            raise ValidationError.single("command", "unknown", f"must be one of my commands, got {command[:40]!r}")
        use: dict[str, Any] = await use_of(self.bot, ctx, member, channel, found)
        decision = await self.db.permissions.explain(ctx.guild.id, member.id, **use)
        where = (channel or ctx.channel).mention  # type: ignore[union-attr]
        verdict = "could" if decision.allowed else "could not"
        await ctx.send(f"{member.mention} {verdict} run `{found.qualified_name}` in {where}: {decision.reason()}.")
