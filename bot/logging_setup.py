"""Structured logs (JSON lines by default), tracebacks included, secrets scrubbed.

Vigie never passes a secret to the logger, but libraries do (httpx logs the Bot API URL, which
holds the Telegram token). Every line, ours or a library's, at every level, goes through one
``Redactor`` that replaces each configured secret and any ``bot<digits>:<token>`` path segment.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

# Environment variables whose value is a secret (VIGIE_TELEGRAM_TOKEN, VIGIE_SLACK_SIGNING_SECRET…).
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|_SID$|_KEY$", re.IGNORECASE)
# The Bot API puts the token in the URL path: /bot123456:AA…/sendMessage.
_BOT_TOKEN = re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{10,}")
MASK = "[secret]"  # ASCII: JSON lines escape anything else


class Redactor:
    """A structlog processor that scrubs secrets from every string of an event."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, values: Iterable[str | None]) -> None:
        known = set(self._secrets)
        for value in values:
            # Very short values would mask ordinary words; secrets are long.
            if value and len(value) >= 6 and value not in known:
                known.add(value)
        self._secrets = sorted(known, key=len, reverse=True)

    def add_from_environment(self, environ: MutableMapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        values: list[str] = []
        for name, value in environ.items():
            if name.startswith("VIGIE_") and _SECRET_NAME.search(name):
                # VIGIE_API_TOKENS is "name:secret,name:secret".
                parts = (
                    [p.partition(":")[2] or p for p in value.split(",")] if name == "VIGIE_API_TOKENS" else []
                )
                values += [value.strip(), *(p.strip() for p in parts)]
        self.add(values)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _BOT_TOKEN.sub("bot" + MASK, text)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._clean(v) for v in value)
        return value

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            if not key.startswith("_"):
                event[key] = self._clean(value)
        return event


REDACTOR = Redactor()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    REDACTOR.add_from_environment()
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
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Tracebacks as text in the line (JSON has no other way to carry them), then
                # scrubbed like everything else.
                structlog.processors.format_exc_info,
                REDACTOR,
                renderer,
            ],
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
