"""Who may manage what (R21.3) and how a refusal looks (R21.4).

A user manages a guild when Discord's ``/users/@me/guilds`` says they own it
or hold ADMINISTRATOR (0x8) or MANAGE_GUILD (0x20) there, **and** the bot is
in it (guildbase has its ``guild`` row). The guild list is the session's copy
for ``guild_cache_seconds``; every state-changing request asks Discord again,
so a revoked admin cannot keep writing from a cached list.

Partial access goes through the permission ranks: a member who is not an
admin but whose roles reach ``moderator_rank`` (``GUILDBASE_WEB_MODERATOR_RANK``,
default 3) in the guild's permission set may see and edit cases and notes
(``Area.CASES``), and nothing else. Their roles are read with the bot's token
(``GUILDBASE_WEB_BOT_TOKEN``); without it only admins get in.

An API key is checked by ``ApiKeyController.verify``: its guild scope and the
action the request needs (``ACTIONS``).

Every refusal is a ``Denied`` (401 or 403, no data) after a ``security_event``
row naming who, what, from which IP, in which guild.
"""

import enum
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from guildbase.db.context import AuditSource, acting_as, audit_context
from guildbase.models.security import ApiAction, SecurityEventKind
from guildbase.services.websessions import WebSession
from guildbase.web.context import WebContext
from guildbase.web.oauth import OAuthFailedError

__all__ = ["ACTIONS", "Access", "Area", "Denied", "acting", "actor_id", "bot_is_in", "deny", "session_access"]


class Area(enum.StrEnum):
    """What part of a guild a request touches."""

    OVERVIEW = "overview"
    SETTINGS = "settings"
    CASES = "cases"
    AUDIT = "audit"
    LEVELS = "levels"
    CONTENT = "content"
    TICKETS = "tickets"
    PREMIUM = "premium"


ACTIONS: dict[tuple[Area, bool], ApiAction] = {
    (Area.OVERVIEW, False): ApiAction.GUILD_READ,
    (Area.SETTINGS, False): ApiAction.CONFIG_READ,
    (Area.SETTINGS, True): ApiAction.CONFIG_WRITE,
    (Area.CASES, False): ApiAction.CASES_READ,
    (Area.CASES, True): ApiAction.CASES_WRITE,
    (Area.AUDIT, False): ApiAction.AUDIT_READ,
    (Area.LEVELS, False): ApiAction.LEVELS_READ,
    (Area.LEVELS, True): ApiAction.LEVELS_WRITE,
}
"""The API key action each (area, write?) needs; a pair not listed is refused to keys."""

PARTIAL_AREAS = frozenset({Area.CASES})
PRESENCE_MAX = 10_000
"""Guilds whose presence one process remembers (the map is emptied when it grows past this)."""


class Denied(Exception):  # noqa: N818 - a refusal, not a failure
    """A refused request: the status (401/403/429) and a reason safe to show."""

    def __init__(self, status: int, reason: str, *, retry_after: float | None = None) -> None:
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Access:
    """What a request may do in one guild, and on whose behalf."""

    guild_id: int
    user_id: int | None
    areas: frozenset[Area]
    via: str

    @property
    def is_admin(self) -> bool:
        """Full access (owner, ADMINISTRATOR, MANAGE_GUILD)."""
        return self.areas == frozenset(Area)


async def deny(
    ctx: WebContext,
    status: int,
    reason: str,
    *,
    ip: str | None,
    path: str,
    user_id: int | None = None,
    guild_id: int | None = None,
    kind: SecurityEventKind = SecurityEventKind.ACCESS_DENIED,
) -> Denied:
    """Record the refusal as a security event; return the exception to raise."""
    detail = {"reason": reason, "path": path, "status": status}
    await ctx.db.security.record(kind, user_id=user_id, guild_id=guild_id, ip=ip, detail=detail)
    return Denied(status, reason)


async def session_access(
    ctx: WebContext, session: WebSession, guild_id: int, area: Area, *, write: bool, ip: str | None, path: str
) -> Access:
    """The session user's access to ``guild_id`` for ``area``, or ``Denied`` (recorded)."""
    user = session.user_id
    refused = SecurityEventKind.DASHBOARD_PERMISSION_DENIED
    if not await bot_is_in(ctx, guild_id, fresh=write):
        raise await deny(ctx, 403, "the bot is not in this guild", ip=ip, path=path, user_id=user, guild_id=guild_id)
    try:
        guilds = await ctx.auth.guilds(session, fresh=write)
    except OAuthFailedError:
        raise await deny(
            ctx, 401, "Discord refused the stored login; log in again", ip=ip, path=path, user_id=user
        ) from None
    entry = next((guild for guild in guilds if guild.guild_id == guild_id), None)
    if entry is not None and entry.can_manage:
        return Access(guild_id, user, frozenset(Area), "session")
    if entry is not None and area in PARTIAL_AREAS and await _has_rank(ctx, guild_id, user):
        return Access(guild_id, user, PARTIAL_AREAS, "session")
    raise await deny(
        ctx, 403, f"you may not manage {area.value} of this guild", ip=ip, path=path, user_id=user,
        guild_id=guild_id, kind=refused,
    )  # fmt: skip


async def bot_is_in(ctx: WebContext, guild_id: int, *, fresh: bool = False) -> bool:
    """Whether the bot is in the guild (its row exists and it has not left), remembered ``guild_cache_seconds``.

    Like the user's guild list, a state-changing request (``fresh``) asks the database again.
    """
    now = time.monotonic()
    known = ctx.presence.get(guild_id)
    if known is not None and not fresh and now - known[1] < ctx.settings.guild_cache_seconds:
        return known[0]
    guild = await ctx.db.guilds.get(guild_id)
    present = guild is not None and guild.left_at is None
    if len(ctx.presence) >= PRESENCE_MAX:
        ctx.presence.clear()
    ctx.presence[guild_id] = (present, now)
    return present


async def _has_rank(ctx: WebContext, guild_id: int, user_id: int) -> bool:
    roles = await ctx.auth.oauth.member_roles(guild_id, user_id)
    if not roles:
        return False
    ranks = (await ctx.db.permissions.get(guild_id)).role_ranks
    return max((ranks.get(role, -1) for role in roles), default=-1) >= ctx.settings.moderator_rank


@contextmanager
def acting(access: Access) -> Iterator[None]:
    """Attribute the writes of this block to the user, from the dashboard or an API key (audit rows)."""
    source = AuditSource.API_KEY if access.via == "api_key" else AuditSource.DASHBOARD
    with acting_as(access.user_id), audit_context(source):
        yield


def actor_id(access: Access) -> int:
    """The user a write is made as (the author of a snippet or a note): the session's user or the key's creator."""
    if access.user_id is None:
        raise Denied(403, "this change needs a user, and the API key has no creator")
    return access.user_id
