"""Starting and stopping the channel adapters, and keeping the service up when a provider is not.

A channel whose provider cannot be reached at start (network error, 5xx, time-out) does not stop
the desk: the service starts with that channel *degraded*, pages fail over to people's other
channels, the duty officers are told once, and the channel is started again in the background with
exponential back-off until it answers. A channel that fails for any other reason (bad token, port
in use, a bug) stops the start, with the channel named.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from bot.channel_health import ChannelHealth
from bot.channels import Adapter, ChannelStartError, ProviderUnreachable
from bot.clock import Clock

log = structlog.get_logger("vigie.channels")

# Notice hook: (channel, back, outage start, error) -> awaitable.
Notice = Callable[[str, bool, datetime, str | None], Awaitable[object]]


class AdapterSupervisor:
    def __init__(
        self,
        health: ChannelHealth,
        clock: Clock,
        *,
        on_change: Notice | None = None,
        on_up: Callable[[], None] | None = None,
        start_timeout: timedelta = timedelta(seconds=15),
        reconnect_max: timedelta = timedelta(seconds=60),
    ) -> None:
        self.health = health
        self.clock = clock
        self.on_change = on_change
        self.on_up = on_up
        self.start_timeout = start_timeout.total_seconds()
        self.reconnect_max = reconnect_max.total_seconds()
        self.adapters: list[Adapter] = []
        self._started: list[Adapter] = []
        self._retrying: dict[str, asyncio.Task[None]] = {}

    async def _try_start(self, adapter: Adapter) -> None:
        try:
            await asyncio.wait_for(adapter.start(), self.start_timeout)
        except BaseException as exc:
            # Whatever was half-built (sessions, clients) is closed before anything else.
            with contextlib.suppress(Exception):
                await adapter.stop()
            if isinstance(exc, TimeoutError):
                raise ProviderUnreachable(f"pas de réponse en {self.start_timeout:g} s") from exc
            raise

    async def start(self) -> None:
        for adapter in self.adapters:
            try:
                await self._try_start(adapter)
            except ProviderUnreachable as exc:
                await self._degraded(adapter, str(exc))
                continue
            except Exception as exc:
                log.error("channel_start_failed", channel=adapter.name, error=f"{type(exc).__name__}: {exc}")
                raise ChannelStartError(adapter.name, exc) from exc
            self._started.append(adapter)
            self.health.up(adapter.name, self.clock.now())

    async def _degraded(self, adapter: Adapter, error: str) -> None:
        now = self.clock.now()
        log.warning("channel_degraded", channel=adapter.name, error=error)
        if self.health.degraded(adapter.name, now, error) and self.on_change is not None:
            await self._notice(adapter.name, False, now, error)
        self._retrying[adapter.name] = asyncio.create_task(
            self._reconnect(adapter), name=f"reconnect-{adapter.name}"
        )

    async def _notice(self, channel: str, back: bool, since: datetime, error: str | None) -> None:
        assert self.on_change is not None
        try:
            await self.on_change(channel, back, since, error)
        except Exception:  # the store may be down too: the channel matters more than the notice
            log.exception("channel_notice_failed", channel=channel)

    async def _reconnect(self, adapter: Adapter) -> None:
        def still_down(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if exc is not None:
                self.health.degraded(adapter.name, self.clock.now(), str(exc))
            log.warning(
                "channel_still_unreachable",
                channel=adapter.name,
                attempt=state.attempt_number,
                retry_in=round(state.next_action.sleep, 1) if state.next_action else None,
                error=str(exc),
            )

        # Real time on purpose: a provider comes back on the wall clock, not a test's clock.
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(ProviderUnreachable),
            wait=wait_random_exponential(multiplier=1, max=self.reconnect_max),
            before_sleep=still_down,
            sleep=asyncio.sleep,
            reraise=True,
        )
        await asyncio.sleep(1)
        try:
            await retrying(self._try_start, adapter)
        except Exception:
            log.exception("channel_restart_failed", channel=adapter.name)
            return
        status = self.health.status(adapter.name)
        since = status.since if status is not None else self.clock.now()
        self._started.append(adapter)
        self.health.up(adapter.name, self.clock.now())
        log.info("channel_recovered", channel=adapter.name)
        if self.on_up is not None:
            self.on_up()
        if self.on_change is not None:
            await self._notice(adapter.name, True, since, None)

    async def report(self, channel: str, *, up: bool, error: str | None = None) -> None:
        """A running channel found its provider gone (or back): pages fail over meanwhile, and
        the duty officers are told once of each change."""
        now = self.clock.now()
        status = self.health.status(channel)
        since = status.since if status is not None else now
        changed = self.health.up(channel, now) if up else self.health.degraded(channel, now, error or "?")
        if changed and self.on_change is not None:
            await self._notice(channel, up, since, error)
        if changed and up and self.on_up is not None:
            self.on_up()

    async def stop(self) -> None:
        for task in self._retrying.values():
            task.cancel()
        for task in self._retrying.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._retrying.clear()
        for adapter in reversed(self._started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("adapter_stop_failed", channel=adapter.name)
        self._started.clear()
