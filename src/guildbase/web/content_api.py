"""The content API (admins): snippets, autoresponders and message filters.

They go through ``db.snippets``, ``db.autoresponders`` and ``db.filters``.
Every write is the controller's own audited write inside ``acting(access)``,
which also drops the guild's compiled matchers from the cache, so the bot
matches the new rules on its next message. The dashboard acts as staff for
snippets (a locked snippet may be edited here). API keys are refused (no
scope covers these yet). A snippet is addressed by name in the path, so a
name holding ``/`` or starting with ``.`` is managed from the chat only.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from guildbase.controllers.filters import FilterController
from guildbase.errors import NotFoundError, ValidationError
from guildbase.matching.filters import FilterKind
from guildbase.models.autoresponders import AutoresponderRead
from guildbase.models.filters import MessageFilterRead
from guildbase.models.snippets import NAME_MAX_LENGTH
from guildbase.web.access import Access, Area, acting, actor_id
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import guild_access
from guildbase.web.domain_schemas import (
    AutoresponderCreate,
    AutoresponderPublic,
    AutoresponderUpdate,
    FilterCreate,
    FilterPublic,
    FilterUpdate,
    SnippetCreate,
    SnippetPublic,
    SnippetUpdate,
)
from guildbase.web.errors import ERROR_RESPONSES

__all__ = ["add_filter", "change_autoresponder", "create_autoresponder", "router"]

router = APIRouter(prefix="/api/guilds/{guild_id}", tags=["content"], responses=ERROR_RESPONSES)
Ctx = Annotated[WebContext, Depends(get_context)]
Reader = Annotated[Access, Depends(guild_access(Area.CONTENT))]
Writer = Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))]
Name = Annotated[str, Path(min_length=1, max_length=NAME_MAX_LENGTH, pattern=r"^[^/.][^/]*$")]
RuleId = Annotated[int, Path(ge=1, le=2**63 - 1)]


# -- snippets ------------------------------------------------------------------------------
@router.get("/snippets")
async def snippets(ctx: Ctx, access: Reader) -> list[SnippetPublic]:
    """The guild's snippets by name (the first 100)."""
    return [SnippetPublic.of(row) for row in await ctx.db.snippets.list_for_guild(access.guild_id, limit=100)]


@router.post("/snippets", status_code=201)
async def create_snippet(ctx: Ctx, snippet: SnippetCreate, access: Writer) -> SnippetPublic:
    """Save a snippet (409 when the name is taken; 400 when snippets are off)."""
    with acting(access):
        row = await ctx.db.snippets.create(access.guild_id, snippet.name, snippet.content, author_id=actor_id(access))
    return SnippetPublic.of(row)


@router.patch("/snippets/{name}")
async def edit_snippet(ctx: Ctx, name: Name, change: SnippetUpdate, access: Writer) -> SnippetPublic:
    """Replace a snippet's content."""
    with acting(access):
        editor = actor_id(access)
        row = await ctx.db.snippets.edit(access.guild_id, name, change.content, editor_id=editor, is_staff=True)
    return SnippetPublic.of(row)


@router.delete("/snippets/{name}", status_code=204)
async def delete_snippet(ctx: Ctx, name: Name, access: Writer) -> None:
    """Delete a snippet and its aliases (404 when there is none)."""
    with acting(access):
        deleted = await ctx.db.snippets.delete(access.guild_id, name, editor_id=actor_id(access), is_staff=True)
    if not deleted:
        msg = f"no snippet named {name!r}"
        raise NotFoundError(msg)


# -- autoresponders ------------------------------------------------------------------------
@router.get("/autoresponders")
async def autoresponders(ctx: Ctx, access: Reader) -> list[AutoresponderPublic]:
    """Every trigger, oldest first, with its hit count."""
    return [AutoresponderPublic.of(row) for row in await ctx.db.autoresponders.list_for(access.guild_id)]


async def create_autoresponder(ctx: WebContext, access: Access, rule: AutoresponderCreate) -> AutoresponderRead:
    """Add a trigger (shared by the API and the page)."""
    with acting(access):
        return await ctx.db.autoresponders.create(
            access.guild_id, rule.pattern, rule.responses, match_type=rule.match_type,
            is_case_sensitive=rule.is_case_sensitive, cooldown=timedelta(seconds=rule.cooldown_seconds),
        )  # fmt: skip


async def change_autoresponder(
    ctx: WebContext, access: Access, autoresponder_id: int, change: AutoresponderUpdate
) -> AutoresponderRead:
    """Apply what ``change`` gives (on/off, cooldown, responses); 404 when the guild has no such trigger."""
    guild_id, row = access.guild_id, None
    with acting(access):
        if change.is_enabled is not None or change.cooldown_seconds is not None:
            cooldown = None if change.cooldown_seconds is None else timedelta(seconds=change.cooldown_seconds)
            row = await ctx.db.autoresponders.update(
                guild_id, autoresponder_id, is_enabled=change.is_enabled, cooldown=cooldown
            )
        if change.responses is not None:
            row = await ctx.db.autoresponders.set_responses(guild_id, autoresponder_id, change.responses)
    if row is None:  # nothing to change: answer the trigger as it is
        row = await ctx.db.autoresponders.get(guild_id, autoresponder_id)
    if row is None:
        msg = f"no autoresponder #{autoresponder_id}"
        raise NotFoundError(msg)
    return row


@router.post("/autoresponders", status_code=201)
async def add_autoresponder(ctx: Ctx, rule: AutoresponderCreate, access: Writer) -> AutoresponderPublic:
    """Add a trigger (a bad regex is a 422 naming ``pattern``)."""
    return AutoresponderPublic.of(await create_autoresponder(ctx, access, rule))


@router.patch("/autoresponders/{autoresponder_id}")
async def edit_autoresponder(
    ctx: Ctx, autoresponder_id: RuleId, change: AutoresponderUpdate, access: Writer
) -> AutoresponderPublic:
    """Turn a trigger on or off, or change its cooldown or responses."""
    return AutoresponderPublic.of(await change_autoresponder(ctx, access, autoresponder_id, change))


@router.delete("/autoresponders/{autoresponder_id}", status_code=204)
async def delete_autoresponder(ctx: Ctx, autoresponder_id: RuleId, access: Writer) -> None:
    """Remove a trigger (404 when there is none)."""
    with acting(access):
        deleted = await ctx.db.autoresponders.delete(access.guild_id, autoresponder_id)
    if not deleted:
        msg = f"no autoresponder #{autoresponder_id}"
        raise NotFoundError(msg)


# -- filters -------------------------------------------------------------------------------
@router.get("/filters")
async def filters(ctx: Ctx, access: Reader) -> list[FilterPublic]:
    """Every filter rule, oldest first, with its hit count."""
    return [FilterPublic.of(row) for row in await ctx.db.filters.list_for(access.guild_id)]


def _required(field: str, kind: FilterKind) -> ValidationError:
    return ValidationError.single(field, "required", f"a {kind.value} filter needs {field}")


async def _create_filter(controller: FilterController, guild_id: int, rule: FilterCreate) -> MessageFilterRead:
    kind = rule.kind
    if kind in {FilterKind.WORDS, FilterKind.DOMAINS}:
        if not rule.words:
            raise _required("words", kind)
        add = controller.add_words if kind is FilterKind.WORDS else controller.add_domains
        return await add(guild_id, rule.words, rule.action)
    if kind is FilterKind.REGEX:
        if rule.pattern is None:
            raise _required("pattern", kind)
        return await controller.add_regex(guild_id, rule.pattern, rule.action)
    if kind is FilterKind.INVITES:
        return await controller.add_invites(guild_id, rule.action)
    if rule.threshold is None:
        raise _required("threshold", kind)
    add_counted = controller.add_mentions if kind is FilterKind.MENTIONS else controller.add_caps
    return await add_counted(guild_id, rule.threshold, rule.action)


async def add_filter(ctx: WebContext, access: Access, rule: FilterCreate) -> MessageFilterRead:
    """Add a rule of ``rule.kind`` with the field that kind needs (shared by the API and the page)."""
    with acting(access):
        return await _create_filter(ctx.db.filters, access.guild_id, rule)


@router.post("/filters", status_code=201)
async def create_filter(ctx: Ctx, rule: FilterCreate, access: Writer) -> FilterPublic:
    """Add a rule; the field the kind needs is required (422 naming it)."""
    return FilterPublic.of(await add_filter(ctx, access, rule))


@router.patch("/filters/{filter_id}")
async def edit_filter(ctx: Ctx, filter_id: RuleId, change: FilterUpdate, access: Writer) -> FilterPublic:
    """Change a rule's action, or turn it on or off (an empty change answers the rule as it is)."""
    if change.action is None and change.is_enabled is None:
        found = [row for row in await ctx.db.filters.list_for(access.guild_id) if row.filter_id == filter_id]
        if not found:
            msg = f"no filter #{filter_id}"
            raise NotFoundError(msg)
        return FilterPublic.of(found[0])
    with acting(access):
        row = await ctx.db.filters.update(
            access.guild_id, filter_id, action=change.action, is_enabled=change.is_enabled
        )
    return FilterPublic.of(row)


@router.delete("/filters/{filter_id}", status_code=204)
async def delete_filter(ctx: Ctx, filter_id: RuleId, access: Writer) -> None:
    """Remove a rule (404 when there is none)."""
    with acting(access):
        deleted = await ctx.db.filters.delete(access.guild_id, filter_id)
    if not deleted:
        msg = f"no filter #{filter_id}"
        raise NotFoundError(msg)
