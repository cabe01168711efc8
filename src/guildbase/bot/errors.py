"""One error mapper: an exception → the reply the user sees, chosen by walking its MRO.

Like starlette's exception middleware, ``ErrorMapper.reply_for`` looks each class
of ``type(error).__mro__`` up in one table, so a subclass inherits its parent's
reply unless it has its own. discord.py's wrappers (``CommandInvokeError``,
``HybridCommandError``, ``ConversionError``, app-command wrappers) are unwrapped
first, so a ``ValidationError`` raised deep in the facade is answered the same
whether the command came as a prefix or a slash command.

Anything the table does not know is unexpected: the reply carries a short error
ID, the traceback is logged under the same ID, and the bot records the error in
the error log (``db.logs.record_error``) with that ID, so a user's report finds
its sample.
"""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from guildbase.errors import ConflictError, GuildbaseError, NotFoundError, PermissionDeniedError, ValidationError

log = logging.getLogger("guildbase.bot")


class BlockedError(commands.CheckFailure):
    """The global check refused the command; the message says why."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What to tell the user; ``error_id`` is set for unexpected errors only."""

    text: str
    error_id: str | None = None


Render = Callable[[BaseException], str]


def unwrap(error: BaseException) -> BaseException:
    """The exception the command actually raised, without discord.py's wrappers."""
    while True:
        if isinstance(error, commands.HybridCommandError | commands.CommandInvokeError | commands.ConversionError):
            inner: BaseException | None = error.original
        elif isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
            inner = error.__cause__
        else:
            return error
        if inner is None:
            return error
        error = inner


def _validation(error: BaseException) -> str:
    assert isinstance(error, ValidationError)  # noqa: S101 - the table maps this class only
    lines = [f"**{field.field}**: {field.message}" for field in error.errors]
    return "That input was refused:\n" + "\n".join(lines)


def _missing_argument(error: BaseException) -> str:
    assert isinstance(error, commands.MissingRequiredArgument)  # noqa: S101
    return f"`{error.param.name}` is missing."


def _missing_permissions(error: BaseException) -> str:
    assert isinstance(error, commands.MissingPermissions | commands.BotMissingPermissions)  # noqa: S101
    names = ", ".join(name.replace("_", " ") for name in error.missing_permissions)
    who = "I need" if isinstance(error, commands.BotMissingPermissions) else "You need"
    return f"{who} the {names} permission for this."


def _text(error: BaseException) -> str:
    return str(error)


def _member_not_found(error: BaseException) -> str:
    assert isinstance(error, commands.MemberNotFound | commands.UserNotFound)  # noqa: S101
    return f"I can't find `{error.argument}`; mention them or give their ID."


def _discord_refused(error: BaseException) -> str:
    assert isinstance(error, discord.HTTPException)  # noqa: S101
    return f"Discord refused that: {error.text or error.status}."


DEFAULT_TABLE: dict[type[BaseException], Render] = {
    ValidationError: _validation,
    NotFoundError: _text,
    ConflictError: _text,
    PermissionDeniedError: _text,
    BlockedError: _text,
    commands.MissingRequiredArgument: _missing_argument,
    commands.MemberNotFound: _member_not_found,
    commands.UserNotFound: _member_not_found,
    commands.MissingPermissions: _missing_permissions,
    commands.BotMissingPermissions: _missing_permissions,
    commands.NoPrivateMessage: lambda _: "This command only works in a server.",
    commands.NotOwner: lambda _: "Only the bot's owners can do that.",
    commands.CheckFailure: lambda _: "You can't use this command here.",
    commands.UserInputError: _text,
    commands.CommandOnCooldown: _text,
    discord.Forbidden: lambda _: "Discord refused that: I lack the permission (check my role's position too).",
    discord.HTTPException: _discord_refused,
}


class ErrorMapper:
    """The table from error class to reply, and the fallback for everything else."""

    def __init__(self, table: dict[type[BaseException], Render] | None = None) -> None:
        self.table = dict(DEFAULT_TABLE if table is None else table)

    def reply_for(self, error: BaseException, *, context: str = "") -> Reply:
        """The reply for ``error`` (unwrapped); unexpected ones are logged with an error ID."""
        error = unwrap(error)
        for cls in type(error).__mro__:
            render = self.table.get(cls)
            if render is not None:
                return Reply(render(error))
        if isinstance(error, GuildbaseError):
            return Reply(str(error))
        error_id = secrets.token_hex(4)
        log.error("unexpected error %s in %s", error_id, context or "a command", exc_info=error)
        return Reply(f"Something went wrong on my side (error ID `{error_id}`); it has been logged.", error_id)
