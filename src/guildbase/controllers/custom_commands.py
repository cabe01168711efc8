"""Custom command rules (R15.2): templated replies with arguments, a required rank, a per-member cooldown.

Guarantees:

- Names: one case-insensitive namespace per guild with snippets and their
  aliases, never a built-in command (``controllers/names.py``); the check and
  the write hold the guild's name lock.
- ``invoke`` is ONE statement: it finds the command, applies the rank
  (``required_rank`` against the ``rank`` the adapter passes: THE permission
  check point, which the permissions domain feeds with the member's rank),
  checks the argument count, takes the member's cooldown (an upsert that only
  moves ``last_used_at`` once the cooldown has passed, so two concurrent runs
  cannot both pass) and adds one to ``uses``. A refused run counts nothing.
- ``render`` fills the template with plain substitution (no ``str.format``:
  a template cannot reach attributes or run code).
- Create, edit and delete are configuration: each writes an audit row
  (entity ``custom_command``, the ``command_id``) in its transaction.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.features import gated
from guildbase.controllers.names import lock_names, refuse_taken
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.validation import changes_of, integer, page_limit, snowflake, validate
from guildbase.db.validation import text as checked_text
from guildbase.errors import NotFoundError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import Feature
from guildbase.models.custom_commands import (
    MAX_RANK,
    CommandRun,
    CustomCommand,
    CustomCommandCreate,
    CustomCommandRead,
    CustomCommandUpdate,
)
from guildbase.models.snippets import NAME_MAX_LENGTH

__all__ = ["ARGS_MAX_LENGTH", "MAX_LIST", "CustomCommandController", "arg_count", "check_rank", "render"]

MAX_LIST = 200
ARGS_MAX_LENGTH = 2000
_PLACEHOLDER = re.compile(r"\{(user|channel|guild|args|[1-9])\}")
_EDITABLE = ("template", "required_rank", "cooldown_seconds")

_INVOKE_SQL = text("""
WITH cmd AS (
    SELECT * FROM custom_command WHERE guild_id = :guild_id AND lower(name) = lower(:name)
), allowed AS (
    SELECT command_id, cooldown_seconds FROM cmd
    WHERE coalesce(required_rank, 0) <= :rank AND arg_count <= :given
), ran AS (
    INSERT INTO custom_command_use AS u (guild_id, command_id, user_id, last_used_at)
    SELECT :guild_id, allowed.command_id, :user_id, now() FROM allowed
    ON CONFLICT (guild_id, command_id, user_id) DO UPDATE SET last_used_at = now()
    WHERE u.last_used_at <= now() - make_interval(secs => (SELECT cooldown_seconds FROM allowed))
    RETURNING u.command_id
), counted AS (
    UPDATE custom_command AS c SET uses = c.uses + 1 FROM ran
    WHERE c.guild_id = :guild_id AND c.command_id = ran.command_id
    RETURNING c.uses
)
SELECT cmd.*,
       coalesce((SELECT uses FROM counted), cmd.uses) AS uses_now,
       coalesce(cmd.required_rank, 0) <= :rank AS is_allowed,
       EXISTS (SELECT FROM ran) AS is_run,
       CASE WHEN EXISTS (SELECT FROM ran) OR NOT EXISTS (SELECT FROM allowed) THEN 0
            -- no row in this snapshot: a concurrent run of this member just took the cooldown. Its now()
            -- (its transaction's start) may be later than ours, so the wait is capped at the cooldown.
            ELSE least(coalesce((SELECT extract(epoch FROM
                                      u.last_used_at + make_interval(secs => cmd.cooldown_seconds) - now())
                           FROM custom_command_use AS u
                           WHERE u.guild_id = :guild_id AND u.command_id = cmd.command_id AND u.user_id = :user_id),
                          cmd.cooldown_seconds), cmd.cooldown_seconds)
       END AS retry_after
FROM cmd
""")


def arg_count(template: str) -> int:
    """How many arguments a template needs: the highest ``{n}`` in it (0 when it uses none)."""
    return max((int(m.group(1)) for m in _PLACEHOLDER.finditer(template) if m.group(1).isdigit()), default=0)


def render(template: str, *, user: str, channel: str, guild: str, args: Sequence[str]) -> str:
    """The reply: ``{user}``, ``{channel}``, ``{guild}``, ``{args}`` (all of them) and ``{1}``…``{9}`` filled in.

    Anything else in braces is left as written; an argument missing for a
    ``{n}`` becomes empty (``invoke`` refuses such a run before it counts).
    """
    values = {"user": user, "channel": channel, "guild": guild, "args": " ".join(args)}

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.isdigit():
            index = int(key) - 1
            return args[index] if index < len(args) else ""
        return values[key]

    return _PLACEHOLDER.sub(fill, template)


def check_rank(required_rank: int | None, rank: int) -> bool:
    """Whether a member of ``rank`` may run a command needing ``required_rank`` (None: everyone may)."""
    return required_rank is None or rank >= required_rank


def _lookup(value: object) -> str:
    return checked_text("name", value, max_length=NAME_MAX_LENGTH, min_length=1)


def _read(row: CustomCommand) -> CustomCommandRead:
    return CustomCommandRead.model_validate(row)


async def _audit(
    session: AsyncSession, action: AuditAction, row: CustomCommand, before: dict[str, Any], after: dict[str, Any]
) -> None:
    assert row.command_id is not None  # noqa: S101 - a stored row has its key
    await record_audit(
        session, action, AuditEntity.CUSTOM_COMMAND, row.command_id, guild_id=row.guild_id, before=before, after=after
    )


class CustomCommandController(Controller):
    """A guild's own commands: staff define them, members run them."""

    async def create(
        self,
        guild_id: int,
        name: str,
        template: str,
        *,
        author_id: int,
        required_rank: int | None = None,
        cooldown_seconds: int = 0,
    ) -> CustomCommandRead:
        """Define a command; its name must be free of snippets, aliases, commands and built-ins in any case."""
        checked = validate(
            CustomCommandCreate,
            {
                "guild_id": guild_id,
                "name": name,
                "template": template,
                "author_id": author_id,
                "required_rank": required_rank,
                "cooldown_seconds": cooldown_seconds,
            },
        )
        async with self._write() as session:
            await lock_names(session, checked.guild_id)
            await refuse_taken(session, self._db, checked.guild_id, checked.name)
            row = CustomCommand.model_validate(checked, update={"arg_count": arg_count(checked.template)})
            session.add(row)
            await session.flush()
            await session.refresh(row)
            await _audit(session, AuditAction.CUSTOM_COMMAND_CREATE, row, {}, checked.model_dump(exclude={"guild_id"}))
            return _read(row)

    async def get(self, guild_id: int, name: str) -> CustomCommandRead | None:
        """The command called ``name`` (any letter case), or None."""
        guild_id, name = snowflake("guild_id", guild_id), _lookup(name)
        async with self._write() as session:
            row = await self._find(session, guild_id, name)
            return None if row is None else _read(row)

    async def list_for_guild(self, guild_id: int, *, limit: int = 100) -> list[CustomCommandRead]:
        """The guild's commands by name (case-insensitive order)."""
        guild_id, limit = snowflake("guild_id", guild_id), page_limit(limit, MAX_LIST)
        stmt = (
            select(CustomCommand)
            .where(col(CustomCommand.guild_id) == guild_id)
            .order_by(func.lower(col(CustomCommand.name)))
            .limit(limit)
        )
        async with self._write() as session:
            return [_read(row) for row in await session.scalars(stmt)]

    async def edit(
        self, guild_id: int, name: str, changes: CustomCommandUpdate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> CustomCommandRead:
        """Change the template, the required rank (None: everyone) or the cooldown; only what is given changes."""
        guild_id, name = snowflake("guild_id", guild_id), _lookup(name)
        given = changes_of(changes, CustomCommandUpdate) | fields
        checked = validate(CustomCommandUpdate, given)
        values = {key: getattr(checked, key) for key in given}
        if "template" in values:
            if values["template"] is None:
                raise ValidationError.single("template", "missing", "must be text; a command always has a reply")
            values["arg_count"] = arg_count(values["template"])
        if values.get("cooldown_seconds", 0) is None:
            values["cooldown_seconds"] = 0
        async with self._write() as session:
            row = await self._find(session, guild_id, name, lock=True)
            if row is None:
                raise NotFoundError(f"name: no custom command {name!r} in this server")
            before = {key: getattr(row, key) for key in values}
            stmt = (
                update(CustomCommand)
                .where(col(CustomCommand.command_id) == row.command_id)
                .values(**values, updated_at=func.now(), **actor_columns(CustomCommand, "update"))
                .returning(CustomCommand)
            )
            after = (await session.scalars(stmt, execution_options={"populate_existing": True})).one()
            await _audit(session, AuditAction.CUSTOM_COMMAND_EDIT, after, before, values)
            return _read(after)

    async def delete(self, guild_id: int, name: str) -> bool:
        """Delete a command (its cooldown rows go with it); False when there is none."""
        guild_id, name = snowflake("guild_id", guild_id), _lookup(name)
        async with self._write() as session:
            row = await self._find(session, guild_id, name, lock=True)
            if row is None:
                return False
            before = {"name": row.name, "template": row.template}
            await session.delete(row)
            await session.flush()
            await _audit(session, AuditAction.CUSTOM_COMMAND_DELETE, row, before, {})
            return True

    @gated(Feature.CUSTOM_COMMANDS)
    async def invoke(
        self, guild_id: int, name: str, user_id: int, *, rank: int = 0, args: str = ""
    ) -> CommandRun | None:
        """Run a command for a member of ``rank`` with the raw ``args`` text, in ONE statement; None if no such command.

        The result says whether it ran; when it did not, whether the rank was
        too low (``is_allowed``), the arguments too few (``arguments`` vs the
        command's ``arg_count``) or the member is cooling down (``retry_after_seconds``).
        """
        guild_id, name, user_id = snowflake("guild_id", guild_id), _lookup(name), snowflake("user_id", user_id)
        rank = integer("rank", rank, minimum=0, maximum=MAX_RANK)
        arguments = checked_text("args", args, max_length=ARGS_MAX_LENGTH).split()
        params = {"guild_id": guild_id, "name": name, "user_id": user_id, "rank": rank, "given": len(arguments)}
        async with self._write() as session:
            found = (await session.execute(_INVOKE_SQL, params)).mappings().one_or_none()
        if found is None:
            return None
        values = {key: found[key] for key in CustomCommandRead.model_fields if key in found} | {
            "uses": found["uses_now"]
        }
        return CommandRun(
            command=CustomCommandRead.model_validate(values),
            arguments=arguments,
            is_run=bool(found["is_run"]),
            is_allowed=bool(found["is_allowed"]),
            retry_after_seconds=0.0 if found["is_run"] else max(0.0, float(found["retry_after"])),
        )

    @staticmethod
    async def _find(session: AsyncSession, guild_id: int, name: str, *, lock: bool = False) -> CustomCommand | None:
        stmt = select(CustomCommand).where(
            col(CustomCommand.guild_id) == guild_id, func.lower(col(CustomCommand.name)) == name.lower()
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await session.scalars(stmt)).one_or_none()
