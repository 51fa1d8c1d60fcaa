"""The loop that walks the diffusions' targets (bot.diffusion.service) on every instance."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from bot.diffusion.service import Diffusions

log = structlog.get_logger("vigie.diffusion")


class DiffusionWorker:
    def __init__(self, diffusions: Diffusions, poke_delivery: Callable[[], None]) -> None:
        self.diffusions, self._poke_delivery = diffusions, poke_delivery
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run_forever(self, interval: float = 2.0) -> None:
        while True:
            try:
                if await self.diffusions.run_due():
                    self._poke_delivery()
                    continue  # more may be due: a big diffusion goes out in batches
            except Exception:  # a store outage: the next round tries again
                log.exception("diffusion_round_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
