"""Test helpers: throw-away databases, a live uvicorn server, configuration builders."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
import yaml

from bot.app import Vigie, build
from bot.clock import Clock
from bot.config import VigieConfig, parse_config
from bot.service import HttpService
from bot.settings import Settings

PG_HOST = os.environ.get("VIGIE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("VIGIE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("VIGIE_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("VIGIE_TEST_PG_DB", "test")

TOKEN = "test-token-secret"
OTHER_TOKEN = "samu-token-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parent.parent


def pg_url(dbname: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


async def pg_available() -> bool:
    try:
        conn = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB, timeout=3
        )
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=PG_ADMIN_DB)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@asynccontextmanager
async def throwaway_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'vigie-test.db'}"
        return
    name = f"vigie_t_{uuid.uuid4().hex[:12]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BASE_CONFIG: dict[str, Any] = {
    "version": 1,
    "desk": {"name": "PFR test", "timezone": "Europe/Paris", "reference_prefix": "PFR"},
    "people": [
        {
            "id": "alice",
            "name": "Alice Martin",
            "functions": ["referent", "pilotage"],
            "contacts": {"phone": "06 12 34 56 78", "email": "alice@example.org"},
        },
        {
            "id": "bruno",
            "name": "Bruno Petit",
            "functions": ["referent"],
            "contacts": {"phone": "+33698765432"},
        },
    ],
    "channels": {"console": {"enabled": True}},
}


def config_yaml(**overrides: Any) -> str:
    """The test configuration as a file would hold it (for the CLI and real processes)."""
    data = yaml.safe_load(yaml.safe_dump(BASE_CONFIG, sort_keys=False))
    for key, value in overrides.items():
        data[key] = value
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def make_config(**overrides: Any) -> VigieConfig:
    return parse_config(config_yaml(**overrides), Path("test.yaml"))


def make_settings(database_url: str, tokens: str = f"test:{TOKEN},samu:{OTHER_TOKEN}") -> Settings:
    return Settings(database_url=database_url, api_tokens=tokens)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The service on a free loopback port, in the test's event loop, started and stopped by
    the same ``HttpService`` as ``vigie serve`` (signals aside: they belong to pytest here)."""

    def __init__(self, vigie: Vigie, *, background: bool = True, port: int | None = None) -> None:
        self.vigie = vigie
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.service = HttpService(vigie, "127.0.0.1", self.port, background=background)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveServer:
        self._task = asyncio.create_task(self.service.run())
        for _ in range(1500):
            if self.service.started:
                return self
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        raise RuntimeError("the service did not start")

    async def __aexit__(self, *exc: object) -> None:
        self.service.request_stop()
        if self._task is not None:
            await self._task

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, **kwargs)


@asynccontextmanager
async def running_vigie(
    database_url: str,
    config: VigieConfig | None = None,
    clock: Clock | None = None,
    background: bool = True,
    port: int | None = None,
) -> AsyncIterator[LiveServer]:
    vigie = build(make_settings(database_url), config or make_config(), clock)
    async with LiveServer(vigie, background=background, port=port) as server:
        yield server


class AsgiServer:
    """Any ASGI app (a fake provider) on a free loopback port, in the test's event loop."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="off"
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AsgiServer:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task


async def eventually(predicate: Any, within: float = 5.0) -> Any:
    """Wait (real time, briefly) for something another task or process does."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
