"""The snippets, autoresponders and filters page (admins): the ``content_api`` data as HTML forms.

Each form posts its CSRF token and is admitted by ``guild_access(Area.CONTENT,
write=True)`` (the manage check asked again); the write is the controller's,
audited, and drops the compiled matchers the bot uses. Lists in a form
(responses, words) are one item per line.
"""

from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from guildbase.errors import NotFoundError, ValidationError
from guildbase.matching.filters import FilterAction, FilterKind
from guildbase.matching.triggers import MatchType
from guildbase.models.snippets import CONTENT_MAX_LENGTH, NAME_MAX_LENGTH
from guildbase.web.access import Access, Area, acting, actor_id
from guildbase.web.content_api import add_filter, change_autoresponder, create_autoresponder
from guildbase.web.context import WebContext, get_context
from guildbase.web.deps import guild_access
from guildbase.web.domain_schemas import (
    AutoresponderCreate,
    AutoresponderPublic,
    AutoresponderUpdate,
    FilterCreate,
    FilterPublic,
    SnippetPublic,
)
from guildbase.web.pages import redirect, render, session_of

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Ctx = Annotated[WebContext, Depends(get_context)]
Name = Annotated[str, Path(min_length=1, max_length=NAME_MAX_LENGTH, pattern=r"^[^/.][^/]*$")]
RuleId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Toggle = Annotated[str, Form(pattern="^(on|off)$")]
M = TypeVar("M", bound=BaseModel)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _checked(model: type[M], **values: object) -> M:
    """The form's values as the API's input model; a broken rule is a 422 naming the field, as in the API."""
    try:
        return model.model_validate(values)
    except PydanticValidationError as error:
        raise ValidationError.from_pydantic(error) from None


def _back(access: Access) -> Response:
    return redirect(f"/guilds/{access.guild_id}/content")


@router.get("/guilds/{guild_id}/content")
async def content_page(
    request: Request, ctx: Ctx, access: Annotated[Access, Depends(guild_access(Area.CONTENT))]
) -> Response:
    """Every snippet, autoresponder and filter rule, with forms to add, change and delete them."""
    snippets = [SnippetPublic.of(row) for row in await ctx.db.snippets.list_for_guild(access.guild_id, limit=100)]
    responders = [AutoresponderPublic.of(row) for row in await ctx.db.autoresponders.list_for(access.guild_id)]
    rules = [FilterPublic.of(row) for row in await ctx.db.filters.list_for(access.guild_id)]
    session = await session_of(request, ctx)
    return render(
        request, "content.html", session=session, guild_id=str(access.guild_id), snippets=snippets,
        autoresponders=responders, filters=rules, match_types=list(MatchType), filter_kinds=list(FilterKind),
        filter_actions=list(FilterAction),
    )  # fmt: skip


@router.post("/guilds/{guild_id}/snippets")
async def create_snippet(
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))],
    name: Annotated[str, Form(min_length=1, max_length=NAME_MAX_LENGTH)],
    content: Annotated[str, Form(min_length=1, max_length=CONTENT_MAX_LENGTH)],
) -> Response:
    """Save a new snippet."""
    with acting(access):
        await ctx.db.snippets.create(access.guild_id, name, content, author_id=actor_id(access))
    return _back(access)


@router.post("/guilds/{guild_id}/snippets/{name}")
async def edit_snippet(
    ctx: Ctx,
    name: Name,
    access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))],
    content: Annotated[str, Form(min_length=1, max_length=CONTENT_MAX_LENGTH)],
) -> Response:
    """Replace a snippet's content."""
    with acting(access):
        await ctx.db.snippets.edit(access.guild_id, name, content, editor_id=actor_id(access), is_staff=True)
    return _back(access)


@router.post("/guilds/{guild_id}/snippets/{name}/delete")
async def delete_snippet(
    ctx: Ctx, name: Name, access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))]
) -> Response:
    """Delete a snippet and its aliases."""
    with acting(access):
        await ctx.db.snippets.delete(access.guild_id, name, editor_id=actor_id(access), is_staff=True)
    return _back(access)


@router.post("/guilds/{guild_id}/autoresponders")
async def add_autoresponder(
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))],
    pattern: Annotated[str, Form(min_length=1, max_length=2000)],
    responses: Annotated[str, Form(min_length=1, max_length=25_000)],
    match_type: Annotated[MatchType, Form()] = MatchType.CONTAINS,
) -> Response:
    """Add a trigger answering with one of the responses (one per line)."""
    rule = _checked(AutoresponderCreate, pattern=pattern, responses=_lines(responses), match_type=match_type)
    await create_autoresponder(ctx, access, rule)
    return _back(access)


@router.post("/guilds/{guild_id}/autoresponders/{autoresponder_id}")
async def toggle_autoresponder(
    ctx: Ctx,
    autoresponder_id: RuleId,
    access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))],
    enabled: Toggle,
) -> Response:
    """Turn a trigger on or off."""
    await change_autoresponder(ctx, access, autoresponder_id, AutoresponderUpdate(is_enabled=enabled == "on"))
    return _back(access)


@router.post("/guilds/{guild_id}/autoresponders/{autoresponder_id}/delete")
async def delete_autoresponder(
    ctx: Ctx, autoresponder_id: RuleId, access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))]
) -> Response:
    """Remove a trigger."""
    with acting(access):
        if not await ctx.db.autoresponders.delete(access.guild_id, autoresponder_id):
            msg = f"no autoresponder #{autoresponder_id}"
            raise NotFoundError(msg)
    return _back(access)


@router.post("/guilds/{guild_id}/filters")
async def create_filter(
    *,
    ctx: Ctx,
    access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))],
    kind: Annotated[FilterKind, Form()],
    action: Annotated[FilterAction, Form()],
    words: Annotated[str, Form(max_length=50_000)] = "",
    pattern: Annotated[str, Form(max_length=2000)] = "",
    threshold: Annotated[int | None, Form(ge=1, le=100)] = None,
) -> Response:
    """Add a filter rule; the field its kind needs (words one per line, pattern, threshold) is required."""
    rule = _checked(
        FilterCreate, kind=kind, action=action, words=_lines(words), pattern=pattern or None, threshold=threshold
    )
    await add_filter(ctx, access, rule)
    return _back(access)


@router.post("/guilds/{guild_id}/filters/{filter_id}")
async def toggle_filter(
    ctx: Ctx,
    filter_id: RuleId,
    access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))],
    enabled: Toggle,
) -> Response:
    """Turn a rule on or off."""
    with acting(access):
        await ctx.db.filters.update(access.guild_id, filter_id, is_enabled=enabled == "on")
    return _back(access)


@router.post("/guilds/{guild_id}/filters/{filter_id}/delete")
async def delete_filter(
    ctx: Ctx, filter_id: RuleId, access: Annotated[Access, Depends(guild_access(Area.CONTENT, write=True))]
) -> Response:
    """Remove a rule."""
    with acting(access):
        if not await ctx.db.filters.delete(access.guild_id, filter_id):
            msg = f"no filter #{filter_id}"
            raise NotFoundError(msg)
    return _back(access)
