"""Every end-to-end test runs on both engines: on a SQLite file (id `sqlite`) and on a fresh
PostgreSQL database in the throwaway cluster (id `postgres`). A test that only makes sense on
one, or that manages the engines itself, says so with `@pytest.mark.engines("sqlite")`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import pytest

from testkit.harness import ENGINE
from tests.conftest import fresh_database

ENGINES: Final = ("sqlite", "postgres")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("engines")
        metafunc.parametrize("engine", marker.args if marker else ENGINES, indirect=True)


@pytest.fixture(autouse=True)
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The engine of this run of the test (autouse: runs before the bot is made)."""
    name = str(request.param)
    if name == "postgres":
        ENGINE.url = await fresh_database(request.getfixturevalue("postgres_cluster"))
    try:
        yield name
    finally:
        ENGINE.url = None
