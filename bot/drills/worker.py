"""The loop that plans, starts, follows and reports the drills (bot.drills.service), on every
instance: rows claimed one way (skip-locked on PostgreSQL) run once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

from bot.drills.service import Drills

log = structlog.get_logger("vigie.drills")


class DrillWorker:
    def __init__(self, drills: Drills, poke: Callable[[], None]) -> None:
        self.drills, self._poke = drills, poke
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run_forever(self, interval: float = 5.0) -> None:
        while True:
            try:
                if await self.drills.run_due():
                    self._poke()  # a drill's signal or report is queued
            except Exception:  # a store outage: the next round tries again
                log.exception("drill_round_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
