"""``guildbase privacy …``: export or erase one user's data with a progress bar, and write docs/privacy.md.

``export`` streams the JSON to a file (or stdout with ``-o -``); ``erase``
asks first unless ``--yes``, then shows one step per table. The progress bar
and messages go to stderr, so stdout stays clean for a pipe. Both are
recorded in ``privacy_request`` and audited with source ``cli``.
``--requested-by`` says who asked (default: the user themselves).
"""

import asyncio
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from guildbase.cli_support import load_settings, reported
from guildbase.config import Settings
from guildbase.controllers.privacy import plan_size
from guildbase.database import Database
from guildbase.db.validation import snowflake
from guildbase.models.privacy import PrivacyRequestRead, PrivacyRequestStatus

privacy_app = typer.Typer(help="GDPR: export or erase one user's data; the privacy page.", no_args_is_help=True)
progress_console = Console(stderr=True)

UserID = Annotated[int, typer.Argument(help="The user's Discord ID.")]
RequestedBy = Annotated[
    int | None, typer.Option("--requested-by", help="Discord ID of who asked (default: the user themselves).")
]


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=progress_console)


def _open(output: Path) -> "nullcontext[TextIO] | TextIO":
    if str(output) == "-":
        return nullcontext(sys.stdout)
    return output.open("w", encoding="utf-8")


async def _export(settings: Settings, user: int, by: int, output: Path) -> int:
    rows = 0
    async with Database(settings) as db:
        with _progress() as progress, _open(output) as out:
            task = progress.add_task(f"export {user} → {output}", total=plan_size())
            async for chunk in db.privacy.export(user, requested_by=by):
                out.write(chunk.text)
                rows += chunk.rows
                if chunk.done:
                    progress.advance(task)
    return rows


async def _erase(settings: Settings, user: int, by: int) -> PrivacyRequestRead:
    request: PrivacyRequestRead | None = None
    async with Database(settings) as db:
        with _progress() as progress:
            task = progress.add_task(f"erase {user}", total=plan_size())
            async for step in db.privacy.erase_steps(user, requested_by=by):
                progress.update(task, advance=1, description=f"erase {user}: {step.table}")
                request = step.request or request
    assert request is not None  # noqa: S101 - the last step carries it
    return request


@privacy_app.command("export")
def export_user(
    user_id: UserID,
    *,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write; - for stdout.")] = Path("-"),
    requested_by: RequestedBy = None,
) -> None:
    """Write every row about the user, in every table, and what Redis holds, as one JSON document."""
    settings = load_settings()
    with reported("privacy export", settings):
        user = snowflake("user_id", user_id)
        by = snowflake("requested_by", requested_by if requested_by is not None else user)
        rows = asyncio.run(_export(settings, user, by, output))
        progress_console.print(f"{rows} rows about user {user} written to {output}")


@privacy_app.command("erase")
def erase_user(
    user_id: UserID,
    *,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    requested_by: RequestedBy = None,
) -> None:
    """Erase the user by every table's policy (docs/privacy.md): one transaction, then Redis."""
    settings = load_settings()
    with reported("privacy erase", settings):
        user = snowflake("user_id", user_id)
        by = snowflake("requested_by", requested_by if requested_by is not None else user)
        if not yes:
            typer.confirm(
                f"Erase user {user}? Their rows are deleted or anonymised as docs/privacy.md says; "
                "this cannot be undone.",
                abort=True,
                err=True,
            )
        request = asyncio.run(_erase(settings, user, by))
        tables = len([name for name in request.counts if name != "redis"])
        if request.status is PrivacyRequestStatus.DONE:
            progress_console.print(
                f"erased user {user}: {request.total} rows in {tables} tables, Redis cleaned "
                f"(request {request.request_id})"
            )
            return
        progress_console.print(
            f"[yellow]erased user {user} from the database ({request.total} rows in {tables} tables), but Redis "
            f"could not be cleaned: run the erase again (request {request.request_id})[/yellow]"
        )
        raise typer.Exit(1)


@privacy_app.command("docs")
def privacy_docs(
    output: Annotated[Path, typer.Option(help="Where to write the Markdown.")] = Path("docs/privacy.md"),
) -> None:
    """Write docs/privacy.md from the erase policies declared next to the models."""
    from guildbase.privacy.docs import render  # noqa: PLC0415 - imports every model

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render())
    progress_console.print(f"wrote {output}")
