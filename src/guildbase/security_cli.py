"""``guildbase keys rotate`` and ``guildbase api-keys …``: key rotation with a progress bar, API key management.

``keys rotate`` re-encrypts every encrypted column with the newest key of
``GUILDBASE_ENCRYPTION_KEYS`` (``db.encryption.rotate``), one batch per
transaction, with a Rich progress bar per table and the counts per table at the
end. Killed half-way, it is resumed by running it again.

``api-keys create`` prints the token once (it is not stored); ``list`` and
``revoke`` never show a secret. Every write is audited with source ``cli``;
``--as`` names the person acting.
"""

import asyncio
from datetime import timedelta
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from guildbase.cli_support import console, load_settings, reported
from guildbase.config import Settings
from guildbase.controllers.key_rotation import RotationReport
from guildbase.database import Database
from guildbase.db.context import acting_as
from guildbase.db.types import utcnow
from guildbase.models.security import ApiAction, ApiKeyCreated, ApiKeyRead

__all__ = ["api_keys_app", "rotate_keys"]

api_keys_app = typer.Typer(
    help="API keys for the dashboard API and scripts (scoped per guild and action).", no_args_is_help=True
)


async def _rotate(settings: Settings, batch_size: int) -> RotationReport:
    async with Database(settings) as db:
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=console) as progress:
            tasks: dict[str, TaskID] = {}

            def moved(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = progress.add_task(table, total=total)
                progress.update(tasks[table], completed=done, total=total)

            return await db.encryption.rotate(batch_size=batch_size, on_batch=moved)


def rotate_keys(
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
) -> None:
    """Re-encrypt every encrypted column with the newest key; rerun it to resume after a kill."""
    settings = load_settings()
    with reported("keys rotate", settings):
        report = asyncio.run(_rotate(settings, batch_size))
    table = Table("table", "rows", "rotated", "already current")
    for name, counts in report.tables.items():
        table.add_row(name, str(counts.rows), str(counts.rotated), str(counts.current))
    console.print(table)
    console.print("[green]every encrypted value is under the newest key: older keys can be removed[/green]")


def _show(keys: list[ApiKeyRead]) -> None:
    table = Table("id", "prefix", "name", "guilds", "actions", "expires", "revoked", "last used")
    for key in keys:
        table.add_row(
            str(key.key_id),
            key.prefix,
            key.name,
            ", ".join(str(g) for g in key.guild_ids),
            ", ".join(a.value for a in key.actions),
            "-" if key.expires_at is None else key.expires_at.isoformat(timespec="seconds"),
            "-" if key.revoked_at is None else key.revoked_at.isoformat(timespec="seconds"),
            "-" if key.last_used_at is None else key.last_used_at.isoformat(timespec="seconds"),
        )
    console.print(table)


async def _create(  # noqa: PLR0917 - the command's options, passed on once
    settings: Settings, name: str, guilds: list[int], actions: list[ApiAction], days: int | None, actor: int | None
) -> ApiKeyCreated:
    expires = None if days is None else utcnow() + timedelta(days=days)
    async with Database(settings) as db:
        with acting_as(actor):
            return await db.api_keys.create(name, guild_ids=guilds, actions=actions, expires_at=expires)


@api_keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="What the key is for (shown in listings).")],
    guild: Annotated[list[int], typer.Option("--guild", "-g", help="A guild the key may act in (repeat).")],
    action: Annotated[list[ApiAction], typer.Option("--action", "-a", help="An action the key may perform (repeat).")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")] = None,
    actor: Annotated[int | None, typer.Option("--as", help="Your Discord user ID, for the audit trail.")] = None,
) -> None:
    """Create a key; its token is printed once and cannot be shown again."""
    settings = load_settings()
    with reported("api-keys create", settings):
        created = asyncio.run(_create(settings, name, guild, action, expires_in_days, actor))
    _show([created.key])
    console.print("token (shown once, store it now):")
    typer.echo(created.token.get_secret_value())


async def _list(settings: Settings, guild: int | None, *, include_revoked: bool) -> list[ApiKeyRead]:
    async with Database(settings) as db:
        return await db.api_keys.list(guild_id=guild, include_revoked=include_revoked, limit=500)


@api_keys_app.command("list")
def list_keys(
    guild: Annotated[int | None, typer.Option(help="Only keys whose scope holds this guild.")] = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Show revoked keys too.")] = False,
) -> None:
    """List keys (never their secrets), newest first."""
    settings = load_settings()
    with reported("api-keys list", settings):
        _show(asyncio.run(_list(settings, guild, include_revoked=include_revoked)))


async def _revoke(settings: Settings, key_id: int, actor: int | None) -> ApiKeyRead:
    async with Database(settings) as db:
        with acting_as(actor):
            return await db.api_keys.revoke(key_id)


@api_keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[int, typer.Argument(help="The key's id (from `guildbase api-keys list`).")],
    actor: Annotated[int | None, typer.Option("--as", help="Your Discord user ID, for the audit trail.")] = None,
) -> None:
    """Revoke a key for good; any later use is refused and recorded."""
    settings = load_settings()
    with reported("api-keys revoke", settings):
        _show([asyncio.run(_revoke(settings, key_id, actor))])
