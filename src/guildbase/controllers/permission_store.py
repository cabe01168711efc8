"""What the permission controllers share: the cache key, the one read of a guild's set, target validation.

``read_set`` reads the five tables of a guild's permissions in one session
(the cache loader and the audited writes both use it). ``known_target``
checks a rule or rank target against the command tree the bot registered
(``bot_command``): a command by its qualified name, a module by its cog
name, a feature by the ``Feature`` enum.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.db.rows import read_all
from guildbase.db.stale import stale_keys
from guildbase.db.validation import validate_enum
from guildbase.errors import ValidationError, shown
from guildbase.models.core import Feature
from guildbase.models.permissions import (
    ALL_TARGET,
    BotCommand,
    PermissionCommandRank,
    PermissionConfig,
    PermissionRank,
    PermissionRoleRank,
    PermissionRule,
    PermissionRuleRead,
    PermissionSetRead,
    TargetKind,
)
from guildbase.services.keys import guild_key

__all__ = ["known_target", "permissions_key", "read_set"]


def permissions_key(guild_id: int) -> str:
    """Cache key of a guild's ``PermissionSetRead`` (compiled in each process); dropped by every write."""
    return guild_key(guild_id, "permissions")


for _model in (PermissionConfig, PermissionRank, PermissionRoleRank, PermissionCommandRank, PermissionRule):
    stale_keys(_model, lambda row: (permissions_key(row.guild_id),))


async def read_set(session: AsyncSession, guild_id: int) -> PermissionSetRead:
    """Everything a guild's checks need, expired rules included (the compiled set drops them at read)."""
    config = await session.get(PermissionConfig, guild_id)
    names = await session.execute(
        select(col(PermissionRank.rank), col(PermissionRank.name)).where(col(PermissionRank.guild_id) == guild_id)
    )
    roles = await session.execute(
        select(col(PermissionRoleRank.role_id), col(PermissionRoleRank.rank)).where(
            col(PermissionRoleRank.guild_id) == guild_id
        )
    )
    commands = await session.execute(
        select(col(PermissionCommandRank.kind), col(PermissionCommandRank.name), col(PermissionCommandRank.rank)).where(
            col(PermissionCommandRank.guild_id) == guild_id
        )
    )
    rules = await session.scalars(
        select(PermissionRule).where(col(PermissionRule.guild_id) == guild_id).order_by(col(PermissionRule.rule_id))
    )
    return PermissionSetRead(
        guild_id=guild_id,
        is_unconfigured_allowed=True if config is None else config.is_unconfigured_allowed,
        rank_names={int(r): n for r, n in names.all()},
        role_ranks={int(r): int(k) for r, k in roles.all()},
        command_ranks={f"{kind}:{name}": level for kind, name, level in commands.all()},
        rules=read_all(PermissionRuleRead, rules),
    )


async def known_target(session: AsyncSession, kind: TargetKind, name: str) -> str:
    """``name`` as stored for a target of ``kind``, or a ``ValidationError`` naming ``target_name``."""
    if kind is TargetKind.ALL:
        return ALL_TARGET
    if kind is TargetKind.FEATURE:
        return validate_enum("target_name", Feature, name).value
    column = col(BotCommand.name) if kind is TargetKind.COMMAND else col(BotCommand.module)
    found = (await session.execute(select(column).where(column == name).limit(1))).first()
    if found is None:
        what = "command (its full name, as the bot registered it)" if kind is TargetKind.COMMAND else "module (cog)"
        msg = f"must be a known {what}, got {shown(name)}"
        raise ValidationError.single("target_name", "unknown", msg)
    return name
