import pytest
from cryptography.fernet import Fernet

from guildbase import ConfigurationError, Settings


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUILDBASE_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url is None
    assert settings.pool_size == 10


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("GUILDBASE_POOL_SIZE", "lots", "GUILDBASE_POOL_SIZE: must be an integer, got 'lots'"),
        ("GUILDBASE_POOL_SIZE", "0", "GUILDBASE_POOL_SIZE: must be at least 1, got '0'"),
        ("GUILDBASE_DATABASE_URL", "mysql://x/y", "GUILDBASE_DATABASE_URL: expected a postgresql:// URL"),
        ("GUILDBASE_DATABASE_URL", "not a url", "GUILDBASE_DATABASE_URL: expected a PostgreSQL URL"),
        ("GUILDBASE_REDIS_URL", "localhost:6379", "GUILDBASE_REDIS_URL: expected redis://"),
        ("GUILDBASE_LOG_LEVEL", "LOUD", "GUILDBASE_LOG_LEVEL: must be"),
        ("GUILDBASE_CACHE_TTL_SECONDS", "604800", "GUILDBASE_CACHE_TTL_SECONDS: must be at most"),
        ("GUILDBASE_ENCRYPTION_KEYS", "short", "GUILDBASE_ENCRYPTION_KEYS: key #1 is not a Fernet key"),
        ("GUILDBASE_REPLICA_URLS", "postgresql://a/b,redis://c", "GUILDBASE_REPLICA_URLS: expected a postgresql://"),
    ],
)
def test_malformed_variable_fails_naming_it_and_the_expectation(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert expected in str(raised.value)


def test_encryption_keys_are_never_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUILDBASE_ENCRYPTION_KEYS", "secret-but-wrong")
    with pytest.raises(ConfigurationError) as raised:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "secret-but-wrong" not in str(raised.value)


def test_list_variables_accept_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [Fernet.generate_key().decode() for _ in range(2)]
    monkeypatch.setenv("GUILDBASE_ENCRYPTION_KEYS", ",".join(keys))
    monkeypatch.setenv("GUILDBASE_REPLICA_URLS", '["postgresql://r1/db", "postgresql://r2/db"]')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [key.get_secret_value() for key in settings.encryption_keys] == keys
    assert settings.replica_urls == ["postgresql://r1/db", "postgresql://r2/db"]
