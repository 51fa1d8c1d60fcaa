"""Structured logs (JSON lines by default). Secrets are never passed to the logger."""

from __future__ import annotations

import logging
import sys
import time

import structlog


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        # Drop filtered-out calls before any processor runs: pages log one line each.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that narrate every request at INFO (httpx puts the Telegram token in the URL it
    # logs; twilio dumps headers): only their warnings, unless DEBUG is asked for.
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)


CHATTY = ("httpx", "twilio.http_client", "twilio.async_http_client", "alembic.runtime.plugins", "apscheduler")


SLOW_SECONDS = 1.0


def slow(logger: structlog.typing.FilteringBoundLogger, what: str, started: float, **details: object) -> None:
    """Warn when a unit of work held the store for long: the first clue when pages run late."""
    elapsed = time.perf_counter() - started
    if elapsed >= SLOW_SECONDS:
        logger.warning("slow_operation", operation=what, seconds=round(elapsed, 3), **details)
