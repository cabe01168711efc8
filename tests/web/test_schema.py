"""The OpenAPI document holds (R21.5): schemathesis generates requests for every API operation, as a
logged-in admin with the CSRF token, and no answer is a 500 or breaks the documented schema.

The cases are drawn with hypothesis (a few per operation: bounded time) and
sent through the test's own client, so they run on the savepoint database in
this event loop; schemathesis then checks each response against the schema.
"""

from typing import Any

import httpx
import schemathesis
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from web_harness import DASHBOARD, log_in

from guildbase import Database

EXAMPLES = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _draw(strategy: Any) -> list[Any]:
    drawn: list[Any] = []

    @settings(max_examples=EXAMPLES, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Any) -> None:
        drawn.append(case)

    collect()
    return drawn


async def test_generated_requests_get_no_500_and_answers_match_the_schema(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    await db.cases.create(guild_id, user.user_id + 1, user.user_id, "warn", reason="seed")
    csrf = await log_in(client, fake_discord, user)
    schema = schemathesis.openapi.from_dict(app.openapi())
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err would raise here, failing the test
        for case in _draw(operation.as_strategy()):
            if "guild_id" in (case.path_parameters or {}) and sent % 2 == 0:
                case.path_parameters["guild_id"] = str(guild_id)  # half the cases hit the admin's own guild
            request = case.as_transport_kwargs(base_url=DASHBOARD, headers={"X-CSRF-Token": csrf})
            request.pop("cookies", None)
            response = await client.request(**request)
            case.validate_response(response, checks=CHECKS)
            sent += 1
    assert sent >= EXAMPLES * 5
