"""Events cog: every gateway event the trail keeps goes to ``db.events`` (R14), and nothing else.

The listeners translate discord.py objects into IDs and changed fields; the
facade validates, buffers and writes them. Feature ``logging``: while a guild
has it off, nothing of it is recorded (the listeners skip, as the facade would
refuse); closing voice sessions and the invite baseline still run, so turning
it back on starts from a true state.

- Attribution (R14.5): for role, channel, emoji, sticker and member changes the
  cog asks Discord's audit log (when the bot may read it) for the entry about
  the same target in the last ``AUDIT_WINDOW`` and records its executor and
  reason; otherwise the executor stays unknown (``None``), never guessed.
- Voice (R14.3): each voice state update is handed over as the member's new
  state. When a shard disconnects, the open sessions of its guilds are closed
  with ``disconnect``; when it resumes, or a guild becomes available, they are
  re-synchronised from what the gateway says now (``restart`` for the stale ones).
- Invites (R14.4): the guild's invites are taken as the baseline when it
  becomes available, and fetched again on each join to find the one used.
"""

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import discord
from discord.ext import commands

from guildbase.bot.cog import GuildbaseCog
from guildbase.db.types import utcnow
from guildbase.models.events import GuildEventKind, InviteState, VoiceEndReason, VoiceState

log = logging.getLogger("guildbase.bot.events")
AUDIT_WINDOW = timedelta(seconds=30)
Audit = discord.AuditLogAction


def invite_state(invite: discord.Invite) -> InviteState:
    """An invite as the tracker takes it (IDs and counts only)."""
    channel = getattr(invite.channel, "id", None)
    return InviteState(
        code=invite.code,
        uses=invite.uses or 0,
        max_uses=invite.max_uses or 0,
        channel_id=channel,
        inviter_id=None if invite.inviter is None else invite.inviter.id,
        expires_at=invite.expires_at,
    )


def voice_states(guild: discord.Guild) -> list[VoiceState]:
    """Who is in which voice channel of ``guild`` now, from the gateway's cache."""
    found = []
    for user_id, state in guild._voice_states.items():  # noqa: SLF001 - discord.py keeps no public map of them
        if state.channel is not None:
            muted, deafened, streaming = _flags(state)
            found.append(
                VoiceState(
                    user_id=user_id, channel_id=state.channel.id, muted=muted, deafened=deafened, streaming=streaming
                )
            )
    return found


def _flags(state: discord.VoiceState) -> tuple[bool, bool, bool]:
    """Muted, deafened (by the server or themselves) and streaming."""
    return state.mute or state.self_mute, state.deaf or state.self_deaf, state.self_stream


def _changed(before: Any, after: Any, fields: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields that differ, as JSON-ready values (colours and permissions as numbers)."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name in fields:
        was, now = getattr(before, name, None), getattr(after, name, None)
        if was != now:
            old[name], new[name] = _plain(was), _plain(now)
    return old, new


def _plain(value: Any) -> Any:
    if isinstance(value, discord.Permissions | discord.Colour):
        return value.value
    if isinstance(value, discord.abc.Snowflake):
        return value.id
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


ROLE_FIELDS = ("name", "colour", "permissions", "hoist", "mentionable", "position")
CHANNEL_FIELDS = ("name", "position", "category", "nsfw", "slowmode_delay", "topic", "user_limit", "bitrate")
EXPRESSION_FIELDS = ("name",)


class EventsCog(GuildbaseCog, name="Events"):
    """Feeds the Discord event trail (no commands; feature: logging)."""

    feature = "logging"

    # -- attribution ------------------------------------------------------------------------------
    async def _executor(self, guild: discord.Guild, action: Audit, target_id: int) -> tuple[int | None, str | None]:
        """Who did ``action`` to ``target_id`` just now, and why, from the audit log; (None, None) if unknown."""
        if not guild.me.guild_permissions.view_audit_log:
            return None, None
        try:
            async for entry in guild.audit_logs(limit=10, action=action):
                if utcnow() - entry.created_at > AUDIT_WINDOW:
                    break
                if getattr(entry.target, "id", None) == target_id:
                    return entry.user_id, entry.reason
        except discord.HTTPException:
            log.info("audit log unreadable in guild %s; executor unknown", guild.id)
        return None, None

    async def _record(
        self,
        guild: discord.Guild,
        kind: GuildEventKind,
        target_id: int,
        action: Audit | None = None,
        *,
        user_id: int | None = None,
        changes: tuple[dict[str, Any], dict[str, Any]] = ({}, {}),
    ) -> None:
        if not await self.enabled(guild.id):
            return
        executor, reason = (None, None) if action is None else await self._executor(guild, action, target_id)
        await self.db.events.record_guild_event(
            guild.id,
            kind,
            user_id=user_id,
            target_id=target_id,
            executor_id=executor,
            before=changes[0],
            after=changes[1],
            reason=reason,
        )

    # -- the bot and the guild -------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        if await self.enabled(guild.id):
            await self.db.events.record_guild_event(guild.id, GuildEventKind.BOT_JOIN)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        if await self.enabled(guild.id):
            await self.db.events.record_guild_event(guild.id, GuildEventKind.BOT_LEAVE)
        await self.db.events.close_voice_sessions([guild.id], reason=VoiceEndReason.DISCONNECT)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        """Start, reconnect: voice sessions and invites are taken from what Discord says now."""
        await self.db.events.resync_voice(guild.id, voice_states(guild))
        invites = await self._invites(guild)
        if invites is not None:
            await self.db.events.sync_invites(guild.id, invites)

    @commands.Cog.listener()
    async def on_shard_disconnect(self, shard_id: int) -> None:
        guilds = [guild.id for guild in self.bot.guilds if guild.shard_id == shard_id]
        if guilds:
            closed = await self.db.events.close_voice_sessions(guilds, reason=VoiceEndReason.DISCONNECT)
            log.info("shard %s disconnected: %s voice sessions closed", shard_id, closed)

    @commands.Cog.listener()
    async def on_shard_resumed(self, shard_id: int) -> None:
        for guild in self.bot.guilds:
            if guild.shard_id == shard_id:
                await self.db.events.resync_voice(guild.id, voice_states(guild))

    # -- members -----------------------------------------------------------------------------------
    async def _invites(self, guild: discord.Guild) -> list[InviteState] | None:
        if not guild.me.guild_permissions.manage_guild:
            return None
        try:
            return [invite_state(invite) for invite in await guild.invites()]
        except discord.HTTPException:
            log.info("invites unreadable in guild %s; joins stay unmatched", guild.id)
            return None

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        if not await self.enabled(member.guild.id):
            return
        invites = await self._invites(member.guild)
        await self.db.events.member_joined(
            member.guild.id, member.id, invites=invites or [], invites_seen=invites is not None
        )

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        if not await self.enabled(payload.guild_id):
            return
        guild = self.bot.get_guild(payload.guild_id)
        executor, reason = (None, None)
        if guild is not None:
            executor, reason = await self._executor(guild, Audit.kick, payload.user.id)
        await self.db.events.record_guild_event(
            payload.guild_id, GuildEventKind.MEMBER_LEAVE, user_id=payload.user.id, executor_id=executor, reason=reason
        )

    @commands.Cog.listener()
    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        added = [r.id for r in after.roles if r not in before.roles]
        removed = [r.id for r in before.roles if r not in after.roles]
        nick = before.nick != after.nick
        timeout = before.timed_out_until != after.timed_out_until
        if not (added or removed or nick or timeout) or not await self.enabled(after.guild.id):
            return
        action = Audit.member_role_update if added or removed else Audit.member_update
        executor, reason = await self._executor(after.guild, action, after.id)
        await self.db.events.record_member_update(
            after.guild.id,
            after.id,
            roles_added=added,
            roles_removed=removed,
            nick_changed=nick,
            timeout_changed=timeout,
            timed_out_until=after.timed_out_until,
            executor_id=executor,
            reason=reason,
        )

    # -- roles, channels, emoji, stickers ---------------------------------------------------------
    @commands.Cog.listener()
    async def on_guild_role_create(self, role: discord.Role) -> None:
        await self._record(role.guild, GuildEventKind.ROLE_CREATE, role.id, Audit.role_create)

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role: discord.Role) -> None:
        await self._record(role.guild, GuildEventKind.ROLE_DELETE, role.id, Audit.role_delete)

    @commands.Cog.listener()
    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        changes = _changed(before, after, ROLE_FIELDS)
        if changes[1]:
            await self._record(after.guild, GuildEventKind.ROLE_UPDATE, after.id, Audit.role_update, changes=changes)

    @commands.Cog.listener()
    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        await self._record(channel.guild, GuildEventKind.CHANNEL_CREATE, channel.id, Audit.channel_create)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await self._record(channel.guild, GuildEventKind.CHANNEL_DELETE, channel.id, Audit.channel_delete)

    @commands.Cog.listener()
    async def on_guild_channel_update(self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel) -> None:
        changes = _changed(before, after, CHANNEL_FIELDS)
        if changes[1]:
            kind, action = GuildEventKind.CHANNEL_UPDATE, Audit.channel_update
            await self._record(after.guild, kind, after.id, action, changes=changes)

    @commands.Cog.listener()
    async def on_guild_emojis_update(
        self, guild: discord.Guild, before: Iterable[discord.Emoji], after: Iterable[discord.Emoji]
    ) -> None:
        kinds = (GuildEventKind.EMOJI_CREATE, GuildEventKind.EMOJI_UPDATE, GuildEventKind.EMOJI_DELETE)
        actions = (Audit.emoji_create, Audit.emoji_update, Audit.emoji_delete)
        await self._expressions(guild, before, after, kinds, actions)

    @commands.Cog.listener()
    async def on_guild_stickers_update(
        self, guild: discord.Guild, before: Iterable[discord.GuildSticker], after: Iterable[discord.GuildSticker]
    ) -> None:
        kinds = (GuildEventKind.STICKER_CREATE, GuildEventKind.STICKER_UPDATE, GuildEventKind.STICKER_DELETE)
        actions = (Audit.sticker_create, Audit.sticker_update, Audit.sticker_delete)
        await self._expressions(guild, before, after, kinds, actions)

    async def _expressions(
        self,
        guild: discord.Guild,
        before: Iterable[Any],
        after: Iterable[Any],
        kinds: tuple[GuildEventKind, GuildEventKind, GuildEventKind],
        actions: tuple[Audit, Audit, Audit],
    ) -> None:
        """Discord sends the whole list; each emoji or sticker added, renamed or removed is one event."""
        old = {item.id: item for item in before}
        new = {item.id: item for item in after}
        for item_id in sorted(new.keys() - old.keys()):
            await self._record(guild, kinds[0], item_id, actions[0], changes=({}, {"name": new[item_id].name}))
        for item_id in sorted(new.keys() & old.keys()):
            changes = _changed(old[item_id], new[item_id], EXPRESSION_FIELDS)
            if changes[1]:
                await self._record(guild, kinds[1], item_id, actions[1], changes=changes)
        for item_id in sorted(old.keys() - new.keys()):
            await self._record(guild, kinds[2], item_id, actions[2], changes=({"name": old[item_id].name}, {}))

    # -- reactions, voice, invites, messages ------------------------------------------------------
    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=False)

    async def _reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        if payload.guild_id is None or not await self.enabled(payload.guild_id):
            return
        await self.db.events.record_reaction(
            payload.guild_id, payload.channel_id, payload.message_id, payload.user_id, str(payload.emoji), added=added
        )

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, _before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        if not await self.enabled(member.guild.id):
            return
        muted, deafened, streaming = _flags(after)
        await self.db.events.record_voice_state(
            member.guild.id,
            member.id,
            channel_id=None if after.channel is None else after.channel.id,
            muted=muted,
            deafened=deafened,
            streaming=streaming,
        )

    @commands.Cog.listener()
    async def on_invite_create(self, invite: discord.Invite) -> None:
        if invite.guild is not None and await self.enabled(invite.guild.id):
            await self.db.events.invite_created(invite.guild.id, invite_state(invite))

    @commands.Cog.listener()
    async def on_invite_delete(self, invite: discord.Invite) -> None:
        if invite.guild is not None and await self.enabled(invite.guild.id):
            await self.db.events.invite_deleted(invite.guild.id, invite.code)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Count it (never its content) for the channel and author statistics."""
        if message.guild is not None and not message.author.bot and await self.enabled(message.guild.id):
            await self.db.events.record_message(message.guild.id, message.channel.id, message.author.id)
