"""What the benchmark scripts share: percentiles, a free loopback port, waiting for a service."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx

_ADMIN = {"host": "127.0.0.1", "user": "postgres", "database": "test"}


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0.99: p99) by rank; NaN when there is nothing to measure."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_up(base: str, within: float = 20.0) -> None:
    """Until ``base``/healthz answers 200."""
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(int(within / 0.05)):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{base} did not come up")


async def new_store(backend: str, workdir: Path) -> tuple[str, str | None]:
    """A store for one run: a SQLite file in ``workdir``, or a PostgreSQL database of its own.
    Returns its URL and the database's name, for ``drop_store``."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'vigie.db'}", None
    name = f"vigie_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(**_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


async def drop_store(name: str | None) -> None:
    """Drop the PostgreSQL database ``new_store`` made (nothing for SQLite)."""
    if name is None:
        return
    admin = await asyncpg.connect(**_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def smtp_sink(port: int) -> asyncio.subprocess.Process:
    """An SMTP relay that accepts and drops, in a process of its own (terminate it when done)."""
    sink = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
        "-l", f"127.0.0.1:{port}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    await asyncio.sleep(1.0)
    return sink
