from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.matrix_homeserver import Homeserver
from tests.support import pg_available, throwaway_database

_pg_state: dict[str, bool] = {}


async def _require_pg() -> None:
    if "ok" not in _pg_state:
        _pg_state["ok"] = await pg_available()
    if not _pg_state["ok"]:
        message = "PostgreSQL unreachable on 127.0.0.1:5432"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run the PostgreSQL half of the suite)")
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend."""
    if request.param == "postgresql":
        await _require_pg()
    async with throwaway_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def pg_url(tmp_path: Path) -> AsyncIterator[str]:
    """An empty PostgreSQL database, for tests that only make sense there (crash, HA)."""
    await _require_pg()
    async with throwaway_database("postgresql", tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    """A real Synapse for the whole session (SQLite, loopback, no federation)."""
    server = Homeserver(tmp_path_factory.mktemp("synapse"))
    server.start()
    yield server
    server.stop()
