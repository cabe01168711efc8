"""One name space per guild for what members call by name: snippets, their aliases, custom commands.

Snippet names and aliases are unique together by their index
(``snippet_name``, ``(guild_id, lower(name))``); custom commands have their
own table, so a name taken across the two kinds is refused here, by name,
under a per-guild transaction lock that every writer of either kind takes
first (``lock_names``): two staff members adding ``faq`` as a snippet and as
a command at the same moment get one ``faq`` and one ``ConflictError``.

Built-in commands are the adapter's: the bot registers its command names and
aliases once (``reserve_builtin_names``), and neither kind may take them.
"""

import weakref
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.errors import ConflictError
from guildbase.models.custom_commands import CustomCommand
from guildbase.models.snippets import SnippetName

__all__ = ["lock_names", "refuse_taken", "reserve_builtin_names", "reserved_names"]

_RESERVED: "weakref.WeakKeyDictionary[object, frozenset[str]]" = weakref.WeakKeyDictionary()


def reserve_builtin_names(db: object, names: Iterable[str]) -> None:
    """Declare the built-in command names (any letter case) no snippet or custom command of ``db`` may take."""
    _RESERVED[db] = frozenset(name.lower() for name in names)


def reserved_names(db: object) -> frozenset[str]:
    """The built-in names registered for ``db`` (lower case); empty when no adapter registered any."""
    return _RESERVED.get(db, frozenset())


async def lock_names(session: AsyncSession, guild_id: int) -> None:
    """Serialise every write to the guild's name space until the transaction ends."""
    key = func.hashtextextended(f"names:{guild_id}", 0)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def refuse_taken(
    session: AsyncSession,
    db: object,
    guild_id: int,
    name: str,
    *,
    field: str = "name",
    exclude_snippet: int | None = None,
) -> None:
    """Raise ``ConflictError`` naming ``field`` when ``name`` is taken in the guild, in any letter case.

    ``exclude_snippet`` lets a snippet keep (or re-case) a name it already holds.
    """
    lowered = name.lower()
    if lowered in reserved_names(db):
        raise ConflictError(f"{field}: {name!r} is a built-in command; choose another name")
    snippet = await session.execute(
        select(col(SnippetName.snippet_id), col(SnippetName.is_alias), col(SnippetName.name)).where(
            col(SnippetName.guild_id) == guild_id, func.lower(col(SnippetName.name)) == lowered
        )
    )
    found = snippet.one_or_none()
    if found is not None and found.snippet_id != exclude_snippet:
        kind = "an alias of a snippet" if found.is_alias else "a snippet"
        raise ConflictError(f"{field}: {name!r} is already {kind} ({found.name}) in this server")
    command = await session.scalar(
        select(col(CustomCommand.name)).where(
            col(CustomCommand.guild_id) == guild_id, func.lower(col(CustomCommand.name)) == lowered
        )
    )
    if command is not None:
        raise ConflictError(f"{field}: {name!r} is already a custom command ({command}) in this server")
