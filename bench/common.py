"""What the benchmark scripts share: percentiles, a free loopback port, waiting for a service."""

from __future__ import annotations

import asyncio
import socket

import httpx


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
