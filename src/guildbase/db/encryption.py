"""Encrypted columns (R10.1): ``EncryptedText`` over ``cryptography``'s MultiFernet, and the process keyring.

Design decisions:

- The keys come from ``GUILDBASE_ENCRYPTION_KEYS`` (newest first). ``Database``
  installs its settings' keys in one process-wide ``Keyring`` when it is built:
  a column type is declared once at import and sees no session, so the keys
  cannot travel with the statement. ``keys_in_use`` swaps them for a block.
- The newest key encrypts; every key decrypts (MultiFernet), so a new key can be
  put first while old values are still readable, ``guildbase keys rotate``
  re-encrypts every value with it, and the old key can then be dropped.
- The type holds no key and its ``repr`` is plain ``EncryptedText()``: a
  migration, a log line or an error never shows a key. The stored value is the
  Fernet token (url-safe base64 text with its own timestamp and HMAC).
- A value that no configured key opens, or a write with no key configured,
  raises ``EncryptionKeyError`` naming the column (``table.column``); nothing
  is written, and the stored value is never replaced by anything.
- Every encrypted column is found from the metadata (``encrypted_columns``),
  never from a hand-kept list, so a new one is rotated with no edit anywhere.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy import Column, Dialect, MetaData, Table, Text, event
from sqlalchemy.types import TypeDecorator

from guildbase.errors import GuildbaseError

__all__ = [
    "EncryptedText",
    "EncryptionKeyError",
    "Keyring",
    "encrypted_columns",
    "install_keys",
    "keyring",
    "keys_in_use",
]

_UNNAMED = "<unattached column>"


class EncryptionKeyError(GuildbaseError):
    """No key is configured, or none of the configured keys opens a stored value; ``column`` says which."""

    def __init__(self, column: str, message: str) -> None:
        self.column = column
        self.reason = message
        super().__init__(f"{column}: {message}")


class Keyring:
    """The process's Fernet keys, newest first; never printed (its ``repr`` only counts them)."""

    def __init__(self, keys: Sequence[str | bytes | SecretStr] = ()) -> None:
        raw = [key.get_secret_value() if isinstance(key, SecretStr) else key for key in keys]
        self._fernets = [Fernet(key) for key in raw]
        self._multi = MultiFernet(self._fernets) if self._fernets else None

    def __repr__(self) -> str:
        return f"Keyring({len(self._fernets)} keys)"

    @property
    def size(self) -> int:
        """How many keys are configured."""
        return len(self._fernets)

    def _require(self, column: str) -> MultiFernet:
        if self._multi is None:
            raise EncryptionKeyError(
                column,
                "no encryption key is configured: set GUILDBASE_ENCRYPTION_KEYS (make one with `guildbase keys new`)",
            )
        return self._multi

    def encrypt(self, column: str, plaintext: str) -> str:
        """The Fernet token of ``plaintext`` under the newest key."""
        return self._require(column).encrypt(plaintext.encode()).decode()

    def decrypt(self, column: str, token: str) -> str:
        """The plaintext of a stored token, opened by any configured key."""
        try:
            return self._require(column).decrypt(token.encode()).decode()
        except InvalidToken:
            raise EncryptionKeyError(
                column,
                f"none of the {self.size} configured keys opens the stored value: the key that encrypted it "
                "is missing from GUILDBASE_ENCRYPTION_KEYS (or the value was altered)",
            ) from None

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is already encrypted with the newest key (rotation skips it)."""
        if not self._fernets:
            return False
        try:
            self._fernets[0].decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, column: str, token: str) -> str:
        """``token`` re-encrypted with the newest key (its plaintext unchanged)."""
        try:
            return self._require(column).rotate(token.encode()).decode()
        except InvalidToken:
            self.decrypt(column, token)  # raises the error naming the column
            raise  # pragma: no cover - decrypt failed above


_current = {"keyring": Keyring()}


def keyring() -> Keyring:
    """The keys this process encrypts and decrypts with."""
    return _current["keyring"]


def install_keys(keys: Sequence[str | bytes | SecretStr]) -> Keyring:
    """Make ``keys`` (newest first) the process's keys; ``Database`` calls it with its settings."""
    _current["keyring"] = Keyring(keys)
    return _current["keyring"]


@contextmanager
def keys_in_use(keys: Sequence[str | bytes | SecretStr]) -> Iterator[Keyring]:
    """Use ``keys`` inside the block, then the previous keys again (tests, one-off scripts)."""
    previous = _current["keyring"]
    try:
        yield install_keys(keys)
    finally:
        _current["keyring"] = previous


class EncryptedText(TypeDecorator[str]):
    """TEXT holding a Fernet token; Python sees the plaintext ``str``.

    ``column`` is filled in when the type's column joins a table, so errors say
    ``oauth_token.access_token``; it holds no key, and renders as
    ``EncryptedText()`` in a migration.
    """

    impl = Text
    cache_ok = True

    def __init__(self, column: str = _UNNAMED) -> None:
        super().__init__()
        self.column = column

    def __repr__(self) -> str:
        return "EncryptedText()"

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:  # noqa: ARG002 - SQLAlchemy's signature
        """Encrypt on the way in."""
        return None if value is None else keyring().encrypt(self.column, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:  # noqa: ARG002 - SQLAlchemy's signature
        """Decrypt on the way out."""
        return None if value is None else keyring().decrypt(self.column, value)

    @property
    def python_type(self) -> type[str]:
        """Plaintext is text."""
        return str


@event.listens_for(Column, "after_parent_attach")
def _name_encrypted_column(column: Column[Any], table: Any) -> None:
    """Give each encrypted column's type its ``table.column`` name, for errors (a copy per column)."""
    if isinstance(table, Table) and isinstance(column.type, EncryptedText):
        column.type = EncryptedText(f"{table.name}.{column.name}")


def encrypted_columns(metadata: MetaData) -> dict[Table, list[Column[Any]]]:
    """Every table of ``metadata`` with encrypted columns, and those columns (tables in dependency order)."""
    found: dict[Table, list[Column[Any]]] = {}
    for table in metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, EncryptedText)]
        if columns:
            found[table] = columns
    return found
