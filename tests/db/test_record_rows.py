"""``db.record_rows``: report rows that are asyncpg records behave like frozen read models."""

from datetime import date, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from raw_rows import fetch_records
from sqlalchemy.engine import URL

from guildbase import Database
from guildbase.db.record_rows import RecordRow, check_columns
from guildbase.db.types import utcnow
from guildbase.models.logs import CommandStat
from guildbase.testing import ids

BLOCK = ids.block()
GUILD = BLOCK + 1
USER = BLOCK + 101


class Usage(RecordRow):
    day: date
    command: str
    uses: int


class Page(BaseModel):
    rows: list[Usage]


async def usage(database_url: URL, sql: str) -> list[Usage]:
    return await fetch_records(database_url, sql, Usage)


async def test_a_row_reads_like_a_frozen_read_model(database_url: URL) -> None:
    rows = await usage(
        database_url,
        "SELECT current_date - n AS day, 'cmd' || n AS command, n::bigint AS uses FROM generate_series(1, 3) n",
    )
    check_columns(Usage, rows)
    today = utcnow().date()
    first = rows[0]
    assert (first.day, first.command, first.uses) == (today - timedelta(days=1), "cmd1", 1)
    assert first["uses"] == 1
    assert first.model_dump() == {"day": today - timedelta(days=1), "command": "cmd1", "uses": 1}
    assert first.model_dump(mode="json")["day"] == (today - timedelta(days=1)).isoformat()
    assert first.model_dump_json() == f'{{"day":"{(today - timedelta(days=1)).isoformat()}","command":"cmd1","uses":1}}'
    assert repr(first) == f"Usage(day={today - timedelta(days=1)!r}, command='cmd1', uses=1)"
    assert first == rows[0]
    assert first != rows[1]
    with pytest.raises(AttributeError):
        first.uses = 2  # type: ignore[misc]
    page = Page(rows=rows)
    assert page.model_dump(mode="json")["rows"][2] == {
        "day": (today - timedelta(days=3)).isoformat(),
        "command": "cmd3",
        "uses": 3,
    }
    schema = Page.model_json_schema()
    item = schema["properties"]["rows"]["items"]
    assert (item["title"], set(item["properties"]), item["properties"]["day"]["format"]) == (
        "Usage",
        {"day", "command", "uses"},
        "date",
    )


async def test_a_row_is_a_response_model_in_fastapi(database_url: URL) -> None:
    rows = await usage(database_url, "SELECT current_date AS day, 'ping' AS command, 7::bigint AS uses")
    app = FastAPI()

    @app.get("/usage")
    async def read() -> list[Usage]:
        return rows

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/usage")).json() == [
            {"day": utcnow().date().isoformat(), "command": "ping", "uses": 7}
        ]
        openapi = (await client.get("/openapi.json")).json()
        response = openapi["paths"]["/usage"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert response["items"]["required"] == ["day", "command", "uses"]


async def test_columns_that_are_not_the_fields_fail_loudly(database_url: URL) -> None:
    rows = await usage(database_url, "SELECT 'ping' AS command, current_date AS day, 1::bigint AS uses")
    with pytest.raises(TypeError, match="expects the columns"):
        check_columns(Usage, rows)
    check_columns(Usage, [])  # an empty report has nothing to check


def test_a_field_may_not_hide_a_record_method() -> None:
    with pytest.raises(TypeError, match="keys"):

        class Bad(RecordRow):
            keys: int


async def test_the_usage_report_rows_are_command_stats(db: Database) -> None:
    await db.guilds.join(GUILD, name="g")
    await db.logs.record_command(USER, "ping", guild_id=GUILD, duration_ms=10)
    await db.logs.record_command(USER, "ping", guild_id=GUILD, duration_ms=20, success=False)
    await db.logs.flush()
    today = utcnow().date()
    stats = await db.logs.command_stats(days=1, guild_id=GUILD, until=today + timedelta(days=1))
    assert len(stats) == 1
    assert isinstance(stats[0], CommandStat)
    assert stats[0].model_dump() == {
        "day": today,
        "command": "ping",
        "uses": 2,
        "failures": 1,
        "average_duration_ms": 15.0,
    }
