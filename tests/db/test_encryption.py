"""``EncryptedText`` (R10.1): Fernet tokens at rest, any configured key reads, no key ever shown."""

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Column, Integer, MetaData, Table, Text, text
from sqlalchemy.schema import CreateTable

from guildbase import Database, Settings
from guildbase.db.encryption import EncryptedText, EncryptionKeyError, encrypted_columns, keyring, keys_in_use
from guildbase.errors import ConfigurationError
from guildbase.models import metadata
from guildbase.testing import ids, shifted_now

BLOCK = ids.block()
USER = BLOCK + 1
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
VERSIONS = Path(__file__).parents[2] / "src" / "guildbase" / "migrations" / "versions"


ACCESS, REFRESH, FRESH = "access-secret", "refresh-secret", "fresh"


async def _store(db: Database) -> None:
    await db.oauth_tokens.store(
        USER, access_token=ACCESS, refresh_token=REFRESH, scopes=["identify"], expires_at=_later()
    )


def _later() -> datetime:
    return shifted_now() + timedelta(days=7)


async def _raw(db: Database) -> tuple[str, str]:
    async with db.session() as session:
        row = (
            await session.execute(
                text("SELECT access_token, refresh_token FROM oauth_token WHERE user_id = :u"), {"u": USER}
            )
        ).one()
    return row.access_token, row.refresh_token


async def test_the_stored_value_is_a_fernet_token_that_only_the_keys_open(db: Database) -> None:
    with keys_in_use([NEW]):
        await _store(db)
        access, refresh = await _raw(db)
        assert "access-secret" not in access
        assert "refresh-secret" not in refresh
        assert Fernet(NEW.encode()).decrypt(access.encode()) == b"access-secret"
        token = await db.oauth_tokens.get(USER)
        assert token is not None
        assert token.access_token.get_secret_value() == "access-secret"
        assert "access-secret" not in repr(token)
        assert "access-secret" not in str(token)


async def test_an_old_key_behind_the_new_one_still_reads_and_new_writes_use_the_new_key(db: Database) -> None:
    with keys_in_use([OLD]):
        await _store(db)
    with keys_in_use([NEW, OLD]):
        token = await db.oauth_tokens.get(USER)
        assert token is not None
        assert token.refresh_token is not None
        assert token.refresh_token.get_secret_value() == "refresh-secret"
        await db.oauth_tokens.refresh(USER, access_token=FRESH, refresh_token=None, expires_at=_later())
        access, _ = await _raw(db)
        assert Fernet(NEW.encode()).decrypt(access.encode()) == b"fresh"


async def test_a_missing_key_names_the_column_and_writes_nothing(db: Database) -> None:
    with keys_in_use([]), pytest.raises(EncryptionKeyError, match=r"^oauth_token\.access_token: no encryption key"):
        await _store(db)
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM oauth_token WHERE user_id = :u"), {"u": USER}) == 0


async def test_a_wrong_key_names_the_column_and_leaves_the_stored_value_alone(db: Database) -> None:
    with keys_in_use([OLD]):
        await _store(db)
    before = await _raw(db)
    with keys_in_use([NEW]), pytest.raises(EncryptionKeyError) as raised:
        await db.oauth_tokens.get(USER)
    assert raised.value.column in {"oauth_token.access_token", "oauth_token.refresh_token"}
    assert "none of the 1 configured keys opens the stored value" in str(raised.value)
    assert await _raw(db) == before


def test_no_key_is_ever_shown_by_the_type_the_keyring_or_a_settings_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), keys_in_use([NEW, OLD]) as ring:
        column = metadata.tables["oauth_token"].c.access_token
        shown = [repr(column.type), repr(ring), repr(keyring()), str(CreateTable(metadata.tables["oauth_token"]))]
        with pytest.raises(ConfigurationError) as raised:
            Settings(encryption_keys=f"{NEW},not-a-key")
        shown.append(str(raised.value))
    shown.append(caplog.text)
    for text_shown in shown:
        assert NEW not in text_shown
        assert OLD not in text_shown
    assert repr(column.type) == "EncryptedText()"
    assert "key #2 is not a Fernet key" in str(raised.value)


def test_no_migration_holds_a_key_and_encrypted_columns_are_plain_text_there() -> None:
    migration = (VERSIONS / "0014_security.py").read_text()
    assert "EncryptedText" not in migration
    assert 'sa.Column("access_token", sa.Text(), nullable=False)' in migration
    for path in VERSIONS.glob("*.py"):
        source = path.read_text()
        assert "gAAAAA" not in source  # the start of every Fernet token
        assert "Fernet(" not in source


def test_encrypted_columns_are_found_from_the_metadata_with_their_names() -> None:
    found = {table.name: [c.type.column for c in columns] for table, columns in encrypted_columns(metadata).items()}
    assert found["oauth_token"] == ["oauth_token.access_token", "oauth_token.refresh_token"]
    throwaway = MetaData()
    Table(
        "vault", throwaway, Column("id", Integer, primary_key=True), Column("secret", EncryptedText), Column("x", Text)
    )
    assert [(t.name, [c.name for c in cs]) for t, cs in encrypted_columns(throwaway).items()] == [("vault", ["secret"])]


def test_a_database_installs_the_keys_of_its_settings() -> None:
    with keys_in_use([]):
        Database(Settings(encryption_keys=f"{NEW},{OLD}"))
        assert keyring().size == 2
        assert keyring().is_current(Fernet(NEW.encode()).encrypt(b"x").decode())
        assert not keyring().is_current(Fernet(OLD.encode()).encrypt(b"x").decode())
