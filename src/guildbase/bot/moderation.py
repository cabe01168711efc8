"""What the moderation cog and the job handlers share: jail roles, the user's DM, the log post.

- A JAIL saves the member's roles on its case (``role_ids``) and leaves them
  the jail role plus the roles Discord manages (boosts, integrations), which
  no bot can take away. UNJAIL, by command or when a timed jail expires,
  gives back the saved roles, keeps whatever the member was given meanwhile,
  and drops the jail role: ``restored_roles``.
- The DM about an action (``mod_settings.is_user_notified``) is best effort:
  a user who does not accept DMs is not an error, the reply says so.
- Each case is posted to its action's log channel
  (``mod_settings.log_channel(type)``), else the guild's mod-log channel, and
  the posted message is remembered on the case (``cases.set_mod_log_message``).
  A log channel that is gone or closed to the bot never fails the command.
"""

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import discord

from guildbase import CaseRead, ModSettingsRead
from guildbase.bot.ui import embed, timestamp

if TYPE_CHECKING:
    from guildbase.bot.bot import GuildbaseBot

log = logging.getLogger("guildbase.bot")

VERBS = {
    "WARN": "warned",
    "KICK": "kicked from",
    "BAN": "banned from",
    "TEMPBAN": "temporarily banned from",
    "UNBAN": "unbanned in",
    "TIMEOUT": "timed out in",
    "JAIL": "jailed in",
    "UNJAIL": "released from jail in",
}
"""How the DM words each action ("You were warned in **Guild**")."""


def jailed_roles(member: discord.Member, jail_role: discord.Role) -> tuple[list[int], list[discord.abc.Snowflake]]:
    """What a jail saves (every role the bot may remove) and what the member keeps (jail role, managed roles)."""
    saved = [r.id for r in member.roles if not r.is_default() and not r.managed and r.id != jail_role.id]
    kept: list[discord.abc.Snowflake] = [jail_role, *(r for r in member.roles if r.managed)]
    return saved, kept


def restored_roles(current: Iterable[int], saved: Iterable[int], jail_role_id: int | None) -> list[int]:
    """The roles after an unjail: the saved ones, plus any given during the jail, minus the jail role."""
    return sorted((set(saved) | set(current)) - {jail_role_id})


def case_embed(case: CaseRead) -> discord.Embed:
    """The embed a moderation command answers with, and posts to the log."""
    result = embed(
        f"Case #{case.number}: {case.type.value}",
        case.reason or "no reason",
        user=f"<@{case.user_id}>",
        moderator=f"<@{case.moderator_id}>",
        status=case.status.value,
    )
    if case.expires_at is not None:
        result.add_field(name="Expires", value=timestamp(case.expires_at), inline=True)
    result.timestamp = case.created_at
    return result


async def notify(user: discord.User | discord.Member, guild: discord.Guild, case: CaseRead) -> bool:
    """DM the user about their case; False when Discord will not deliver it."""
    verb = VERBS.get(case.type.value, f"given a {case.type.value.lower()} in")
    preposition = "" if verb.endswith((" in", " from")) else " in"
    lines = [
        f"You were {verb}{preposition} **{guild.name}** (case #{case.number}).",
        f"Reason: {case.reason or 'none'}",
    ]
    if case.expires_at is not None:
        lines.append(f"Ends {timestamp(case.expires_at)}.")
    try:
        await user.send("\n".join(lines))
    except discord.HTTPException as error:
        log.info("could not DM %s about case #%s in %s: %s", user.id, case.number, guild.id, error)
        return False
    return True


async def post_to_log(bot: "GuildbaseBot", settings: ModSettingsRead, case: CaseRead) -> int | None:
    """Post ``case`` to its log channel and remember the message; the channel, or None when there is none."""
    channel_id = settings.log_channel(case.type)
    if channel_id is None:
        channel_id = (await bot.db.guild_config.get(case.guild_id)).mod_log_channel_id
    if channel_id is None:
        return None
    try:
        message = await bot.get_partial_messageable(channel_id, guild_id=case.guild_id).send(embed=case_embed(case))
    except discord.HTTPException as error:
        log.warning("could not post case #%s of %s to <#%s>: %s", case.number, case.guild_id, channel_id, error)
        return None
    await bot.db.cases.set_mod_log_message(case.guild_id, case.number, message.id)
    return channel_id
