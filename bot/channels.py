"""What the core asks of channel adapters: deliver a message, start and stop, serve webhooks.

An adapter builds nothing that needs the running event loop or a reachable provider when it is
constructed: sessions, clients and connections are made in ``start()``, inside the service's
loop, and closed in ``stop()``. ``start()`` raises :class:`ProviderUnreachable` when the
provider cannot be reached (network, 5xx, time-out): the service then starts with that channel
degraded and keeps trying. Any other exception from ``start()`` is a fault of configuration or
code, and the service refuses to start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bot.models import OutboxMessageRow


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"  # the recipient's device has it (console: recorded)
    SENT = "sent"  # handed to the provider; a status callback will say more
    TRANSIENT = "transient"  # network error, 5xx, rate limit: try again later
    PERMANENT = "permanent"  # blocked bot, invalid number…: fail over to another channel


@dataclass(frozen=True)
class DeliveryResult:
    outcome: DeliveryOutcome
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, when the provider said so
    # A permanent failure the desk manager must fix (invalid number, STOP…): told at once.
    desk_warning: str | None = None


class Channel(Protocol):
    name: str
    # True when delivering is a database write (console): done inside the claim transaction.
    local: bool

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult: ...


Route = tuple[str, Callable[..., Any], list[str]]


class Adapter(Protocol):
    """A channel with a life of its own: started with the service, its webhooks routed."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def routes(self) -> list[Route]: ...


class ProviderUnreachable(Exception):
    """The provider did not answer (network error, 5xx, time-out): try again later."""


class ChannelStartError(Exception):
    """A channel could not be started for a reason retrying will not fix."""

    def __init__(self, channel: str, cause: BaseException) -> None:
        super().__init__(f"{channel}: {cause}")
        self.channel, self.cause = channel, cause

    def render(self) -> str:
        cause = f"{type(self.cause).__name__}: {self.cause}"
        return (
            f"Impossible de démarrer le canal {self.channel} : {cause}\n"
            f"Cannot start the {self.channel} channel: {cause}\n"
            "Corrigez la configuration (vigie check-config --env) puis relancez. / "
            "Fix the configuration (vigie check-config --env) and start again."
        )
