"""Which channels can deliver right now: up, or degraded while their provider is unreachable.

Read by delivery (a page on a degraded channel fails over at once, other messages wait for it),
by notices (they pick a channel that is up) and by ``/healthz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.metrics import Metrics


class ChannelState(StrEnum):
    UP = "up"
    DEGRADED = "degraded"


@dataclass
class ChannelStatus:
    state: ChannelState
    since: datetime
    error: str | None = None


class ChannelHealth:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self._status: dict[str, ChannelStatus] = {}
        self._metrics = metrics

    def up(self, channel: str, now: datetime) -> bool:
        """Mark the channel up; True when it was degraded before."""
        was = self._status.get(channel)
        self._status[channel] = ChannelStatus(ChannelState.UP, now)
        if self._metrics is not None:
            self._metrics.channel_up.labels(channel).set(1)
        return was is not None and was.state is ChannelState.DEGRADED

    def degraded(self, channel: str, now: datetime, error: str) -> bool:
        """Mark the channel degraded; True when this starts an outage."""
        was = self._status.get(channel)
        if was is not None and was.state is ChannelState.DEGRADED:
            was.error = error
            return False
        self._status[channel] = ChannelStatus(ChannelState.DEGRADED, now, error)
        if self._metrics is not None:
            self._metrics.channel_up.labels(channel).set(0)
            self._metrics.channel_outages.labels(channel).inc()
        return True

    def status(self, channel: str) -> ChannelStatus | None:
        return self._status.get(channel)

    def available(self, channel: str) -> bool:
        status = self._status.get(channel)
        return status is None or status.state is ChannelState.UP

    def unavailable(self) -> set[str]:
        return {c for c, s in self._status.items() if s.state is ChannelState.DEGRADED}

    def report(self) -> dict[str, dict[str, str]]:
        return {
            channel: {"state": s.state.value, "since": s.since.isoformat()}
            | ({"error": s.error} if s.error else {})
            for channel, s in sorted(self._status.items())
        }
