"""Snippet rules (R7.3, R15.1): create, use, edit, lock, alias, delete, "did you mean".

Guarantees:

- Lookup (``get``) and use (``use``) are ONE statement each, on the unique
  index ``(guild_id, lower(name))`` of ``snippet_name``: a name or an alias, in
  any letter case. ``use`` adds one to ``uses`` in that statement
  (``SET uses = uses + 1``), so concurrent uses are all counted.
- A miss can ask ``suggest`` for the closest names (``pg_trgm`` similarity,
  over the guild's names only).
- Names and aliases share one case-insensitive namespace with custom commands
  and the bot's built-in commands (``controllers/names.py``); every write to
  it holds the guild's name lock, so the cross-kind check cannot race.
- The limit: a guild keeps at most ``snippet_limit(db, guild_id)`` snippets,
  counted under the same lock: ``GUILDBASE_SNIPPET_LIMIT``, or the guild's
  premium tier's ``max_snippets`` when that is higher (``db.premium.limit``).
- The lock: anyone may edit an unlocked snippet; a locked one only its author
  or staff (``is_staff``, decided by the adapter: the bot uses Manage Messages).
  Locking and unlocking is staff only.
- A member under an active SNIPPETBAN case cannot create, edit or alias.
- Every create, edit, lock, alias change and delete writes an audit row in
  its own transaction (entity ``snippet``, the ``snippet_id``); uses do not.
"""

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.controllers.features import gated
from guildbase.controllers.moderation_queries import latest_pair_query
from guildbase.controllers.names import lock_names, refuse_taken
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.validation import flag, optional_text, page_limit, snowflake, validate
from guildbase.db.validation import text as checked_text
from guildbase.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import Feature
from guildbase.models.moderation import PAIRS, CaseStatus, Restriction
from guildbase.models.premium import PremiumLimit
from guildbase.models.snippets import (
    CONTENT_MAX_LENGTH,
    MAX_ALIASES,
    NAME_MAX_LENGTH,
    Snippet,
    SnippetCreate,
    SnippetName,
    SnippetRead,
    check_name,
)

__all__ = ["MAX_LIST", "MAX_SUGGESTIONS", "SnippetController", "snippet_limit"]

MAX_LIST = 200
MAX_SUGGESTIONS = 10
SIMILARITY = 0.2
"""The least ``pg_trgm`` similarity a suggestion needs (``faq`` → ``faqs``, ``fqa``; not ``rules``)."""

_READ_COLUMNS = """
    s.snippet_id, s.guild_id, s.content, s.author_id, s.uses, s.is_locked,
    s.created_at, s.updated_at, s.created_by, s.updated_by,
    own.name AS name,
    coalesce((SELECT array_agg(a.name ORDER BY lower(a.name)) FROM snippet_name AS a
              WHERE a.guild_id = s.guild_id AND a.snippet_id = s.snippet_id AND a.is_alias), '{}') AS aliases
"""
_GET_SQL = text(f"""
SELECT {_READ_COLUMNS}
FROM snippet_name AS hit
JOIN snippet AS s ON s.guild_id = hit.guild_id AND s.snippet_id = hit.snippet_id
JOIN snippet_name AS own ON own.guild_id = s.guild_id AND own.snippet_id = s.snippet_id AND NOT own.is_alias
WHERE hit.guild_id = :guild_id AND lower(hit.name) = lower(:name)
""")  # noqa: S608 - the columns are this module's constant
_USE_SQL = text(f"""
WITH used AS (
    UPDATE snippet AS u SET uses = u.uses + 1
    FROM snippet_name AS hit
    WHERE hit.guild_id = :guild_id AND lower(hit.name) = lower(:name)
      AND u.guild_id = hit.guild_id AND u.snippet_id = hit.snippet_id
    RETURNING u.*
)
SELECT {_READ_COLUMNS}
FROM used AS s
JOIN snippet_name AS own ON own.guild_id = s.guild_id AND own.snippet_id = s.snippet_id AND NOT own.is_alias
""")  # noqa: S608 - the columns are this module's constant
_LIST_SQL = text(f"""
SELECT {_READ_COLUMNS}
FROM snippet_name AS own
JOIN snippet AS s ON s.guild_id = own.guild_id AND s.snippet_id = own.snippet_id
WHERE own.guild_id = :guild_id AND NOT own.is_alias
  AND (CAST(:after AS text) IS NULL OR lower(own.name) > lower(CAST(:after AS text)))
ORDER BY lower(own.name) LIMIT :limit
""")  # noqa: S608 - the columns are this module's constant
_SUGGEST_SQL = text("""
SELECT name FROM snippet_name
WHERE guild_id = :guild_id AND similarity(lower(name), lower(:name)) >= :threshold
ORDER BY similarity(lower(name), lower(:name)) DESC, lower(name)
LIMIT :limit
""")


async def snippet_limit(db: UnitOfWork, guild_id: int) -> int:
    """How many snippets the guild may keep: ``GUILDBASE_SNIPPET_LIMIT``, raised by the guild's premium tier.

    The tier's ``max_snippets`` (``db.premium.limit``, cached in process) counts
    when it is higher; a tier never lowers the configured limit.
    """
    return max(db.settings.snippet_limit, await db.premium.limit(guild_id, PremiumLimit.MAX_SNIPPETS))


def _name(field: str, value: object) -> str:
    """A snippet or alias name argument, checked by the one rule (``models.snippets.check_name``)."""
    name = checked_text(field, value, max_length=NAME_MAX_LENGTH, min_length=1)
    try:
        return check_name(name)
    except ValueError as error:
        raise ValidationError.single(field, "name", str(error)) from None


def _content(value: object) -> str:
    return checked_text("content", value, max_length=CONTENT_MAX_LENGTH, min_length=1)


def _read(row: Any) -> SnippetRead:
    return SnippetRead.model_validate(dict(row._mapping))  # noqa: SLF001 - a Row's mapping is its public view


async def _find(session: AsyncSession, guild_id: int, name: str) -> SnippetRead | None:
    row = (await session.execute(_GET_SQL, {"guild_id": guild_id, "name": name})).one_or_none()
    return None if row is None else _read(row)


async def _snippet_banned(session: AsyncSession, guild_id: int, user_id: int) -> bool:
    on, off = PAIRS[Restriction.SNIPPET]
    latest = (await session.scalars(latest_pair_query(guild_id, user_id, [on, off]).limit(1))).first()
    return latest is not None and latest.type is on and latest.status is CaseStatus.ACTIVE


async def _audit(
    session: AsyncSession, action: AuditAction, snippet: SnippetRead, before: dict[str, Any], after: dict[str, Any]
) -> None:
    await record_audit(
        session, action, AuditEntity.SNIPPET, snippet.snippet_id, guild_id=snippet.guild_id, before=before, after=after
    )


class SnippetController(Controller):
    """A guild's snippets, by name or alias in any letter case."""

    @gated(Feature.SNIPPETS)
    async def create(self, guild_id: int, name: str, content: str, *, author_id: int) -> SnippetRead:
        """Save ``content`` as ``name``; refused when the name is taken (any kind, any case) or the guild is full."""
        checked = validate(
            SnippetCreate,
            {"guild_id": guild_id, "name": _name("name", name), "content": _content(content), "author_id": author_id},
        )
        limit = await snippet_limit(self._db, checked.guild_id)  # before the write: a cached read, no lock held
        async with self._write() as session:
            if await _snippet_banned(session, checked.guild_id, checked.author_id):
                raise PermissionDeniedError("author_id: snippet-banned members cannot create snippets")
            await lock_names(session, checked.guild_id)
            await refuse_taken(session, self._db, checked.guild_id, checked.name)
            count = await session.scalar(
                select(func.count()).select_from(Snippet).where(col(Snippet.guild_id) == checked.guild_id)
            )
            if int(count or 0) >= limit:
                raise ConflictError(f"name: this server already has {limit} snippets, the most it may keep")
            row = Snippet.model_validate(checked.model_dump(exclude={"name"}))
            session.add(row)
            await session.flush()
            assert row.snippet_id is not None  # noqa: S101 - flushed
            session.add(SnippetName(guild_id=checked.guild_id, snippet_id=row.snippet_id, name=checked.name))
            await session.flush()
            created = await _find(session, checked.guild_id, checked.name)
            assert created is not None  # noqa: S101 - just written
            await _audit(
                session,
                AuditAction.SNIPPET_CREATE,
                created,
                {},
                {"name": created.name, "content": created.content, "author_id": created.author_id},
            )
            return created

    async def get(self, guild_id: int, name: str) -> SnippetRead | None:
        """The snippet called ``name`` (its own name or an alias, any letter case), or None; one indexed query."""
        guild_id, name = snowflake("guild_id", guild_id), _lookup("name", name)
        async with self._write() as session:
            return await _find(session, guild_id, name)

    @gated(Feature.SNIPPETS)
    async def use(self, guild_id: int, name: str) -> SnippetRead | None:
        """Look a snippet up and count the use, in ONE statement; None on a miss (see ``suggest``)."""
        guild_id, name = snowflake("guild_id", guild_id), _lookup("name", name)
        async with self._write() as session:
            row = (await session.execute(_USE_SQL, {"guild_id": guild_id, "name": name})).one_or_none()
            return None if row is None else _read(row)

    async def suggest(self, guild_id: int, name: str, *, limit: int = 3) -> list[str]:
        """The guild's names (and aliases) most like ``name``, best first: the "did you mean" of a miss."""
        guild_id, name = snowflake("guild_id", guild_id), _lookup("name", name)
        limit = page_limit(limit, MAX_SUGGESTIONS)
        params = {"guild_id": guild_id, "name": name, "threshold": SIMILARITY, "limit": limit}
        async with self._write() as session:
            return [str(found) for found in (await session.scalars(_SUGGEST_SQL, params))]

    async def list_for_guild(self, guild_id: int, *, limit: int = 50, after: str | None = None) -> list[SnippetRead]:
        """The guild's snippets by name (case-insensitive order); pass the last name as ``after`` for the next page."""
        guild_id, limit = snowflake("guild_id", guild_id), page_limit(limit, MAX_LIST)
        cursor = optional_text("after", after, max_length=NAME_MAX_LENGTH)
        async with self._write() as session:
            rows = await session.execute(_LIST_SQL, {"guild_id": guild_id, "after": cursor, "limit": limit})
            return [_read(row) for row in rows]

    async def count(self, guild_id: int) -> int:
        """How many snippets the guild keeps (the number ``snippet_limit`` bounds)."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            found = await session.scalar(
                select(func.count()).select_from(Snippet).where(col(Snippet.guild_id) == guild_id)
            )
            return int(found or 0)

    async def edit(
        self, guild_id: int, name: str, content: str, *, editor_id: int, is_staff: bool = False
    ) -> SnippetRead:
        """Replace a snippet's content; a locked snippet only by its author or staff."""
        guild_id, name, content = snowflake("guild_id", guild_id), _lookup("name", name), _content(content)
        editor, staff = snowflake("editor_id", editor_id), flag("is_staff", is_staff)
        async with self._write() as session:
            snippet = await self._editable(session, guild_id, name, editor, staff)
            await self._update(session, snippet, content=content)
            after = await _find(session, guild_id, snippet.name)
            assert after is not None  # noqa: S101 - locked, so still there
            await _audit(session, AuditAction.SNIPPET_EDIT, after, {"content": snippet.content}, {"content": content})
            return after

    async def set_locked(self, guild_id: int, name: str, *, locked: bool) -> SnippetRead:
        """Lock (only author and staff may then edit) or unlock a snippet; a staff call."""
        guild_id, name, locked = snowflake("guild_id", guild_id), _lookup("name", name), flag("locked", locked)
        async with self._write() as session:
            snippet = await self._locked_row(session, guild_id, name)
            await self._update(session, snippet, is_locked=locked)
            after = await _find(session, guild_id, snippet.name)
            assert after is not None  # noqa: S101
            await _audit(
                session, AuditAction.SNIPPET_EDIT, after, {"is_locked": snippet.is_locked}, {"is_locked": locked}
            )
            return after

    async def add_alias(
        self, guild_id: int, name: str, alias: str, *, editor_id: int, is_staff: bool = False
    ) -> SnippetRead:
        """Let the snippet ``name`` also answer to ``alias``; the alias must be free in every kind and case."""
        guild_id, name, alias = snowflake("guild_id", guild_id), _lookup("name", name), _name("alias", alias)
        editor, staff = snowflake("editor_id", editor_id), flag("is_staff", is_staff)
        async with self._write() as session:
            await lock_names(session, guild_id)
            snippet = await self._editable(session, guild_id, name, editor, staff)
            await refuse_taken(session, self._db, guild_id, alias, field="alias")
            if len(snippet.aliases) >= MAX_ALIASES:
                raise ConflictError(f"alias: {snippet.name} already has {MAX_ALIASES} aliases, the most it may have")
            session.add(SnippetName(guild_id=guild_id, snippet_id=snippet.snippet_id, name=alias, is_alias=True))
            await session.flush()
            after = await _find(session, guild_id, snippet.name)
            assert after is not None  # noqa: S101
            await _audit(
                session, AuditAction.SNIPPET_ALIAS, after, {"aliases": snippet.aliases}, {"aliases": after.aliases}
            )
            return after

    async def remove_alias(self, guild_id: int, alias: str, *, editor_id: int, is_staff: bool = False) -> SnippetRead:
        """Stop a snippet answering to ``alias`` (its own name is not an alias: delete or keep the snippet)."""
        guild_id, alias = snowflake("guild_id", guild_id), _lookup("alias", alias)
        editor, staff = snowflake("editor_id", editor_id), flag("is_staff", is_staff)
        async with self._write() as session:
            snippet = await self._editable(session, guild_id, alias, editor, staff, field="alias")
            if snippet.name.lower() == alias.lower():
                raise ConflictError(f"alias: {alias!r} is the snippet's own name, not an alias")
            await session.execute(
                SnippetName.__table__.delete().where(  # type: ignore[attr-defined]
                    col(SnippetName.guild_id) == guild_id,
                    func.lower(col(SnippetName.name)) == alias.lower(),
                    col(SnippetName.is_alias),
                )
            )
            after = await _find(session, guild_id, snippet.name)
            assert after is not None  # noqa: S101
            await _audit(
                session, AuditAction.SNIPPET_ALIAS, after, {"aliases": snippet.aliases}, {"aliases": after.aliases}
            )
            return after

    async def delete(self, guild_id: int, name: str, *, editor_id: int, is_staff: bool = False) -> bool:
        """Delete a snippet and, by the foreign key's cascade, every alias of it; False when there is none."""
        guild_id, name = snowflake("guild_id", guild_id), _lookup("name", name)
        editor, staff = snowflake("editor_id", editor_id), flag("is_staff", is_staff)
        async with self._write() as session:
            try:
                snippet = await self._editable(session, guild_id, name, editor, staff)
            except NotFoundError:
                return False
            await session.execute(
                Snippet.__table__.delete().where(col(Snippet.snippet_id) == snippet.snippet_id)  # type: ignore[attr-defined]
            )
            before = {"name": snippet.name, "content": snippet.content, "aliases": snippet.aliases}
            await _audit(session, AuditAction.SNIPPET_DELETE, snippet, before, {})
            return True

    # -- helpers -------------------------------------------------------------------------------
    async def _locked_row(self, session: AsyncSession, guild_id: int, name: str, *, field: str = "name") -> SnippetRead:
        """The snippet called ``name``, its row locked for this transaction; NotFoundError naming ``field``."""
        snippet = await _find(session, guild_id, name)
        if snippet is None:
            raise NotFoundError(f"{field}: no snippet or alias {name!r} in this server")
        await session.execute(
            select(col(Snippet.snippet_id)).where(col(Snippet.snippet_id) == snippet.snippet_id).with_for_update()
        )
        fresh = await _find(session, guild_id, name)
        if fresh is None:
            raise NotFoundError(f"{field}: no snippet or alias {name!r} in this server")
        return fresh

    async def _editable(
        self, session: AsyncSession, guild_id: int, name: str, editor: int, staff: bool, *, field: str = "name"
    ) -> SnippetRead:
        """The locked row of a snippet ``editor`` may change: refused while snippet-banned or locked to them."""
        snippet = await self._locked_row(session, guild_id, name, field=field)
        if not staff and await _snippet_banned(session, guild_id, editor):
            raise PermissionDeniedError("editor_id: snippet-banned members cannot change snippets")
        if snippet.is_locked and not staff and editor != snippet.author_id:
            raise PermissionDeniedError(f"editor_id: {snippet.name} is locked; only its author or staff may change it")
        return snippet

    @staticmethod
    async def _update(session: AsyncSession, snippet: SnippetRead, **values: Any) -> None:
        await session.execute(
            Snippet.__table__.update()  # type: ignore[attr-defined]
            .where(col(Snippet.snippet_id) == snippet.snippet_id)
            .values(**values, updated_at=func.now(), **actor_columns(Snippet, "update"))
        )


def _lookup(field: str, value: object) -> str:
    """A name to look up: any stored name fits these bounds, so longer text is refused before the query."""
    return checked_text(field, value, max_length=NAME_MAX_LENGTH, min_length=1)
