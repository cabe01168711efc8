"""The Discord side of a lockdown: read a channel's overwrites, deny sending, and write the saved ones back.

Every call is REST by channel ID (``PATCH /channels/{id}`` with the whole
``permission_overwrites`` list), so the command and the end job of any bot
process produce the same result, and ending a lock writes back exactly the
list the lock saved: overwrites it added go, ones it changed are restored.
"""

from typing import TYPE_CHECKING, Any

import discord

from guildbase.models.channel_settings import ChannelSettingRead, Overwrite

if TYPE_CHECKING:
    from guildbase.bot.bot import GuildbaseBot

__all__ = ["LOCKED_PERMISSIONS", "current_overwrites", "locked_overwrites", "restore_overwrites"]

LOCKED_PERMISSIONS = discord.Permissions(
    send_messages=True, send_messages_in_threads=True, create_public_threads=True, add_reactions=True
).value
"""What a lockdown denies to ``@everyone``."""
ROLE, MEMBER = 0, 1


def current_overwrites(channel: discord.abc.GuildChannel) -> list[dict[str, Any]]:
    """The channel's overwrites as Discord's API has them (``{id, type, allow, deny}``), from the cache."""
    found = []
    for target, overwrite in channel.overwrites.items():
        allow, deny = overwrite.pair()
        is_role = isinstance(target, discord.Role) or getattr(target, "type", None) is discord.Role
        found.append({"id": target.id, "type": ROLE if is_role else MEMBER, "allow": allow.value, "deny": deny.value})
    return found


def locked_overwrites(guild_id: int, saved: list[Overwrite]) -> list[dict[str, Any]]:
    """``saved`` with ``@everyone`` (the role whose ID is the guild's) denied ``LOCKED_PERMISSIONS``."""
    result = []
    everyone = Overwrite(id=guild_id, type=ROLE, allow=0, deny=0)
    for overwrite in saved:
        if overwrite.type == ROLE and overwrite.id == guild_id:
            everyone = overwrite
        else:
            result.append(overwrite.api())
    locked = Overwrite(
        id=guild_id, type=ROLE, allow=everyone.allow & ~LOCKED_PERMISSIONS, deny=everyone.deny | LOCKED_PERMISSIONS
    )
    return [locked.api(), *result]


async def restore_overwrites(bot: "GuildbaseBot", setting: ChannelSettingRead, *, reason: str) -> None:
    """Write the overwrites a lock saved back as the channel's whole list."""
    saved = setting.saved_overwrites or []
    await bot.http.edit_channel(setting.channel_id, permission_overwrites=[o.api() for o in saved], reason=reason)
