"""``guildbase privacy export|erase USER_ID``: a progress bar, a confirmation, and the same record as the API."""

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from guildbase import Database, Settings
from guildbase.cli import app
from guildbase.models.privacy import PrivacyRequestKind, PrivacyRequestStatus
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
MOD = BLOCK + 201


async def test_export_then_erase_asks_first_and_erases_only_when_confirmed(
    pooled_db: Database, settings: Settings, tmp_path: Path
) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.members.ensure(GUILD, USER)
    await pooled_db.notes.create(GUILD, USER, MOD, "watch them")
    assert settings.database_url is not None
    env = {"GUILDBASE_DATABASE_URL": settings.database_url, "GUILDBASE_REDIS_URL": settings.redis_url or ""}
    runner = CliRunner()
    target = tmp_path / "user.json"

    exported = await asyncio.to_thread(runner.invoke, app, ["privacy", "export", str(USER), "-o", str(target)], env=env)
    assert exported.exit_code == 0, exported.output
    document = json.loads(target.read_text(encoding="utf-8"))
    assert [row["content"] for row in document["tables"]["note"]] == ["watch them"]

    refused = await asyncio.to_thread(runner.invoke, app, ["privacy", "erase", str(USER)], env=env, input="n\n")
    assert refused.exit_code == 1
    assert "Erase user" in refused.output
    assert (await pooled_db.privacy.locate(USER)).remaining.get("member.user_id") == 1

    args = ["privacy", "erase", str(USER), "--requested-by", str(MOD)]
    erased = await asyncio.to_thread(runner.invoke, app, args, env=env, input="y\n")
    assert erased.exit_code == 0, erased.output
    assert f"erased user {USER}" in erased.output
    assert (await pooled_db.privacy.locate(USER)).remaining == {}
    again = await asyncio.to_thread(runner.invoke, app, [*args, "--yes"], env=env)
    assert again.exit_code == 0, again.output
    assert "0 rows" in again.output
    requests = await pooled_db.privacy.requests(USER)
    assert [(r.kind, r.status, r.requested_by) for r in requests] == [
        (PrivacyRequestKind.EXPORT, PrivacyRequestStatus.DONE, USER),
        (PrivacyRequestKind.ERASE, PrivacyRequestStatus.DONE, MOD),
        (PrivacyRequestKind.ERASE, PrivacyRequestStatus.DONE, MOD),
    ]


def test_a_bad_user_id_is_refused_before_connecting() -> None:
    env = {"GUILDBASE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = CliRunner().invoke(app, ["privacy", "erase", "0", "--yes"], env=env)
    assert result.exit_code == 1
    assert "user_id: must be a Discord snowflake" in result.output


def test_privacy_docs_writes_the_generated_page(tmp_path: Path) -> None:
    from guildbase.privacy.docs import render  # noqa: PLC0415 - imports every model

    target = tmp_path / "privacy.md"
    result = CliRunner().invoke(app, ["privacy", "docs", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == render()
