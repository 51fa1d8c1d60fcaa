"""A worker's loop on every instance: run what is due, tell delivery when something was queued,
sleep until poked or the interval passes. The rows it works on are claimed (skip-locked on
PostgreSQL), so running it on every instance does each thing once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("vigie.rounds")


class RoundWorker:
    def __init__(
        self,
        name: str,
        run_due: Callable[[], Awaitable[int]],
        poke_delivery: Callable[[], None],
        *,
        interval: float = 5.0,
        drain: bool = False,
    ) -> None:
        self.name, self._run_due, self._poke_delivery = name, run_due, poke_delivery
        self.interval = interval
        self.drain = drain  # more may be due at once (a big diffusion goes out in batches)
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            try:
                if await self._run_due():
                    self._poke_delivery()
                    if self.drain:
                        continue
            except Exception:  # a store outage: the next round tries again
                log.exception("round_failed", worker=self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
