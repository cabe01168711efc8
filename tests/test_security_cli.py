"""``guildbase api-keys …``: create prints the token once, list never shows a secret, revoke ends the key; audited."""

from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from guildbase import Settings
from guildbase.cli import app
from guildbase.testing import ids, libpq, truncate_all

BLOCK = ids.block()
GUILD = BLOCK + 1
ADMIN = BLOCK + 101


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI pointed at the test database; everything it committed is emptied afterwards."""
    assert settings.database_url is not None
    monkeypatch.setenv("GUILDBASE_DATABASE_URL", settings.database_url)
    if settings.redis_url:
        monkeypatch.setenv("GUILDBASE_REDIS_URL", settings.redis_url)
    try:
        yield settings.database_url
    finally:
        truncate_all(settings.database_url)


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq(url)) as connection:
        return connection.execute(sql).fetchall()


def test_api_keys_create_list_revoke_from_the_command_line(cli_env: str) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app, ["api-keys", "create", "ci bot", "--guild", str(GUILD), "--action", "cases:read", "--as", str(ADMIN)]
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    _, prefix, secret = token.split("_", 2)
    [(key_id, stored_prefix)] = _query(cli_env, "SELECT key_id, prefix FROM api_key")
    assert stored_prefix == prefix
    listed = runner.invoke(app, ["api-keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert secret not in listed.output
    revoked = runner.invoke(app, ["api-keys", "revoke", str(key_id), "--as", str(ADMIN)])
    assert revoked.exit_code == 0, revoked.output
    assert _query(cli_env, "SELECT revoked_by FROM api_key") == [(ADMIN,)]
    audit = _query(cli_env, "SELECT action::text, source::text, actor_id, guild_id FROM audit_log ORDER BY audit_id")
    assert audit == [("api_key_create", "cli", ADMIN, GUILD), ("api_key_revoke", "cli", ADMIN, GUILD)]
    missing = runner.invoke(app, ["api-keys", "revoke", str(key_id + 1000)])
    assert missing.exit_code == 1
    assert "no API key" in missing.output
