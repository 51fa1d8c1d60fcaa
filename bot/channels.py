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
from typing import Any, Protocol, runtime_checkable

from bot.models import OutboxMessageRow
from bot.texts import t


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


@dataclass(frozen=True)
class PageAction:
    """A choice offered with a page (« Je prends », « Escalader »): a button, a code, a key."""

    id: str  # ack, escalate
    label: str


@dataclass(frozen=True)
class SentPage:
    """A page already on someone's screen, to edit once the signal is taken."""

    provider_id: str  # as the channel recorded it (chat:message, channel:ts)
    text: str


@dataclass(frozen=True)
class MessageDetails:
    """What an adapter needs to render an outbox message, typed (the row keeps it as JSON)."""

    is_page: bool
    reference: str | None
    title: str
    code: int | None  # the signal's number in its year: what an SMS reply quotes
    exercise: bool
    actions: tuple[PageAction, ...]
    page_refs: tuple[SentPage, ...]
    edit_only: bool  # only edit the pages already sent; send nothing new

    @classmethod
    def of(cls, message: OutboxMessageRow) -> MessageDetails:
        data = message.data or {}
        code = data.get("code")
        return cls(
            is_page=message.kind == "page" and bool(data.get("reference")),
            reference=data.get("reference"),
            title=str(data.get("title") or ""),
            code=int(code) if code is not None else None,
            exercise=bool(data.get("exercise")),
            actions=tuple(PageAction(str(a["id"]), str(a["label"])) for a in data.get("actions") or []),
            page_refs=tuple(
                SentPage(str(r["provider_id"]), str(r.get("text", ""))) for r in data.get("page_refs") or []
            ),
            edit_only=bool(data.get("edit_only")),
        )

    def banner(self, lang: str, *, spoken: bool = False) -> str:
        """« EXERCICE EXERCICE EXERCICE » before an exercise's text, written or spoken; else ""."""
        if not self.exercise:
            return ""
        return t("exercise.spoken" if spoken else "exercise.banner", lang)


class Channel(Protocol):
    """A channel may also have a ``serving`` property: False while another instance serves it
    (Matrix, whose device only one instance holds); this instance then claims none of its
    messages."""

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


@runtime_checkable
class ChannelAdapter(Adapter, Channel, Protocol):
    """An adapter that also delivers on its channel (all but the alerte mailbox)."""


@dataclass(frozen=True)
class RoomRef:
    """A crisis room on one platform: a Slack channel, a Telegram forum topic, a Matrix room."""

    platform: str
    room_id: str  # C0123… ; "<chat_id>:<message_thread_id>" ; !room:server
    name: str
    url: str | None = None


@dataclass(frozen=True)
class PostedRef:
    """A message the bot posted in a room, to edit, pin or react to later."""

    room: RoomRef
    message_id: str


@runtime_checkable
class RoomChannel(Protocol):
    """Everything the crisis flows call on a platform that has rooms. Slack channels, Telegram
    forum topics (in a pre-configured supergroup: bots cannot create groups) and Matrix/Tchap
    rooms all fit it; a platform that lacks an operation does the nearest thing and says so
    (e.g. Telegram has no room topic: the topic line is kept in the pinned brief)."""

    name: str

    async def create_room(self, name: str, *, topic: str, private: bool) -> RoomRef:
        """Create the room; a name already taken gets a suffix."""
        ...

    async def invite(self, room: RoomRef, addresses: list[str], *, banner: str = "") -> list[str]:
        """Invite (or mention, where one cannot invite) these people; returns those it failed for.
        ``banner`` (« EXERCICE EXERCICE EXERCICE ») goes before any text it posts."""
        ...

    async def post(self, room: RoomRef, text: str) -> PostedRef: ...

    async def edit(self, posted: PostedRef, text: str) -> None: ...

    async def set_topic(self, room: RoomRef, topic: str) -> None: ...

    async def pin(self, posted: PostedRef) -> None: ...

    async def react(self, posted: PostedRef, emoji: str) -> None:
        """Acknowledge a message in the room (✅ once logged in the main courante)."""
        ...

    async def set_power(self, room: RoomRef, address: str, level: str) -> None:
        """Give someone moderation rights (Matrix power levels, Slack channel manager); a no-op
        where the platform has no such notion."""
        ...

    async def archive(self, room: RoomRef) -> None:
        """Close the room at the end of the crisis (archive the channel, close the topic)."""
        ...


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
