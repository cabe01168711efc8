"""Version detection from the catalog, refusal of a database that is not legacy, and a source left unwritten."""

import asyncpg
import pytest

from guildbase.errors import ValidationError
from guildbase.legacy import run_import
from guildbase.legacy.detect import detect
from guildbase.legacy.runner import _dsn

_CHECKSUM = """
SELECT c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT md5(string_agg(t::text, '','' ORDER BY t::text))
       AS n FROM %s t', c.oid::regclass), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE s.nspname = 'public' AND c.relkind = 'r' ORDER BY 1
"""


async def _on(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(_dsn(url))


async def test_the_version_follows_the_tables_and_columns_found(legacy_url: str) -> None:
    connection = await _on(legacy_url)
    try:
        source = await detect(connection)
    finally:
        await connection.close()
    assert len(source.tables) == 10
    if source.tables["Case"] == '"Case"':
        assert source.version == "prisma"
        assert source.has("Case", "case_tempban_expired")
    else:
        assert source.tables["Case"] == '"cases"'
        assert source.version == "sqlmodel"
        assert source.has("Case", "case_mod_log_message_id")
        assert source.has("Case", "case_metadata")


async def test_a_database_without_the_legacy_tables_is_refused_naming_the_option(target_url: str) -> None:
    connection = await _on(target_url)  # guildbase's own schema has a guild table, but no Case table
    try:
        with pytest.raises(ValidationError) as caught:
            await detect(connection)
    finally:
        await connection.close()
    assert caught.value.errors[0].field == "from"


async def test_the_source_is_never_written(legacy_url: str, target_url: str) -> None:
    connection = await _on(legacy_url)
    try:
        before = await connection.fetch(_CHECKSUM)
        await run_import(legacy_url, target_url, batch_size=2)
        after = await connection.fetch(_CHECKSUM)
    finally:
        await connection.close()
    assert len(before) == 10
    assert after == before
