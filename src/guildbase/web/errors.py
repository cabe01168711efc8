"""One table from error class to HTTP answer (walked along the exception's MRO, as Starlette does).

The API answers ``ErrorBody`` JSON naming the fields at fault; pages answer a
small HTML page. A refusal (``Denied``) carries no data of the guild asked for.
"""

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from guildbase.errors import (
    ConflictError,
    FieldError,
    GuildbaseError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from guildbase.web.access import Denied
from guildbase.web.context import TEMPLATES
from guildbase.web.oauth import OAuthFailedError
from guildbase.web.schemas import ErrorBody, FieldProblem

__all__ = ["ERROR_RESPONSES", "install_error_handlers"]

STATUS: dict[type[Exception], int] = {
    ValidationError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    PermissionDeniedError: 403,
    OAuthFailedError: 400,
    GuildbaseError: 400,
}
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Bad request"),
        (401, "Not logged in, session expired, or API key refused"),
        (403, "Not allowed in this guild, or CSRF token missing"),
        (404, "Not found"),
        (409, "Conflict"),
        (422, "A field broke a rule (named in fields)"),
        (429, "Rate limited"),
    )
}


def _status_of(error: Exception) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _answer(request: Request, body: ErrorBody, headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api"):
        return JSONResponse(body.model_dump(), status_code=body.status, headers=headers)
    page = TEMPLATES.get_template("error.html").render(request=request, error=body)
    return HTMLResponse(page, status_code=body.status, headers=headers)


def _fields(errors: list[FieldError]) -> list[FieldProblem]:
    return [FieldProblem(field=e.field, rule=e.rule, message=e.message) for e in errors]


async def _guildbase(request: Request, error: Exception) -> Response:
    status = _status_of(error)
    fields = _fields(error.errors) if isinstance(error, ValidationError) else []
    return _answer(request, ErrorBody(status=status, error=str(error), fields=fields))


async def _denied(request: Request, error: Exception) -> Response:
    assert isinstance(error, Denied)  # noqa: S101 - registered for Denied only
    headers = {"Retry-After": str(max(1, round(error.retry_after)))} if error.retry_after is not None else None
    return _answer(request, ErrorBody(status=error.status, error=error.reason), headers)


async def _request_validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)  # noqa: S101 - registered for it only
    fields = [
        FieldProblem(
            field=".".join(str(part) for part in problem["loc"] if part not in {"body", "query", "path"}) or "body",
            rule=str(problem["type"]),
            message=str(problem["msg"]),
        )
        for problem in error.errors()
    ]
    message = "; ".join(f"{f.field}: {f.message}" for f in fields)
    return _answer(request, ErrorBody(status=422, error=message, fields=fields))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    handlers: dict[type[Exception], Callable[..., object]] = {
        GuildbaseError: _guildbase,
        OAuthFailedError: _guildbase,
        Denied: _denied,
        RequestValidationError: _request_validation,
    }
    for cls, handler in handlers.items():
        app.add_exception_handler(cls, handler)  # type: ignore[arg-type]
