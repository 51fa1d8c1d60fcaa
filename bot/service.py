"""Running the service: start Vigie inside the event loop, serve HTTP, stop cleanly on SIGTERM.

The CLI's ``vigie serve`` and the tests' live servers go through this one path, so what the
tests start is what a user starts: everything is built and started inside the running loop.
Stopping (SIGTERM or SIGINT) stops accepting requests, lets the message being sent finish, gives
the rest back to the queue, closes every client, and returns normally (exit status 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Iterator

import structlog
import uvicorn

from bot.app import Vigie
from bot.web import create_app

log = structlog.get_logger("vigie")

# Requests still open after this are cut at shutdown (webhooks answer in milliseconds).
HTTP_GRACE_SECONDS = 3


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal once it has served, which kills the process before Vigie
        # has stopped its workers: signals are handled by HttpService around the whole run.
        yield


class HttpService:
    def __init__(self, vigie: Vigie, host: str, port: int, *, background: bool = True) -> None:
        self.vigie = vigie
        self.background = background
        self.server = _Server(
            uvicorn.Config(
                create_app(vigie),
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=HTTP_GRACE_SECONDS,
                timeout_keep_alive=int(vigie.config.http.keep_alive.total_seconds()),
            )
        )
        self._stop_requested = False

    @property
    def started(self) -> bool:
        return self.server.started

    def request_stop(self) -> None:
        if self._stop_requested:
            self.server.force_exit = True
        self._stop_requested = True
        self.server.should_exit = True

    async def run(self, *, handle_signals: bool = False) -> None:
        """Start, serve until asked to stop, stop. Raises ChannelStartError (after stopping
        whatever had started) when a channel cannot start."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            try:
                await self.vigie.start(background=self.background)
                # What start-up built (modules, SQLAlchemy's mappers, the clients) lives as long
                # as the process: out of the collector's sight, a full collection no longer walks
                # it, which had pauses of a tenth of a second land on pages and confirmations.
                gc.collect()
                gc.freeze()
                gc.enable()  # `vigie` held it off while loading (bot.launch)
                if not self._stop_requested:
                    await self.server.serve()
            finally:
                await self.vigie.stop()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("vigie_stopping", signal=sig.name)
        self.request_stop()
