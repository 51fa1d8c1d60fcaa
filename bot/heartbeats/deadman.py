"""Vigie's own heartbeat, sent out: a POST to ``watchdog.url`` every ``watchdog.every``, so that a
second Vigie (its heartbeat monitor) or a healthchecks-style service notices when this one stops.
A failed ping is logged and tried again next time: the other side's silence alarm is the point."""

from __future__ import annotations

import httpx
import structlog

from bot.config import Watchdog
from bot.settings import optional_env

log = structlog.get_logger("vigie.watchdog")


class DeadMansSwitch:
    def __init__(self, cfg: Watchdog, desk: str) -> None:
        self.cfg, self.desk = cfg, desk
        token = optional_env(cfg.token_env)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.sent = 0  # pings the other side accepted (for /healthz and the tests)

    async def ping(self) -> int:
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.post(self.cfg.url, headers=self._headers, json={"desk": self.desk})
            answer.raise_for_status()
        except httpx.HTTPError as exc:  # never the token: only where and why
            log.warning("watchdog_ping_failed", url=self.cfg.url, error=type(exc).__name__)
            return 0
        self.sent += 1
        return 0  # nothing queued for delivery
