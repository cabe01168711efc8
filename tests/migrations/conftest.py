"""A scratch database per migration test, migrated by the test itself to the revision it studies."""

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from guildbase.testing import create_database, drop_database


@pytest.fixture
def database(server_url: URL, request: pytest.FixtureRequest) -> Iterator[URL]:
    """An empty database named after the test module, dropped afterwards."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:40]
    url = create_database(server_url, prefix=f"guildbase_{name}")
    yield url
    drop_database(url)
