"""Tchap, or any Matrix homeserver, with matrix-nio: pages in direct rooms, intake, crisis rooms.

Matrix has no buttons: a page is answered by a reply (« ok », « 1 » to take it, « 2 » to
escalate) or by a ✅ reaction, and is edited (``m.replace``) once someone took it. Only one
instance talks to the homeserver at a time — the holder of the Matrix lease — since a bot's
device (its encryption keys) cannot be shared by two processes; the others answer « not here »
to the dispatcher, which hands the message to the holder. The sync token is stored after each
batch is handled, and each event is marked handled, so a restart resumes where it stopped and a
replayed batch handles nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    Event,
    MatrixRoom,
    MegolmEvent,
    ReactionEvent,
    RedactionEvent,
    RoomCreateError,
    RoomMemberEvent,
    RoomMessage,
    RoomMessageMedia,
    RoomSendResponse,
    SyncError,
    SyncResponse,
    WhoamiError,
)
from nio.crypto import ENCRYPTION_ENABLED
from nio.exceptions import EncryptionError, LocalProtocolError

from bot.channel_state import ChannelState
from bot.channels import (
    DeliveryOutcome,
    DeliveryResult,
    MessageDetails,
    PostedRef,
    ProviderUnreachable,
    RoomRef,
)
from bot.config import MatrixConfig
from bot.db import UNAVAILABLE_ERRORS
from bot.domain import OriginChannel
from bot.drills.contacts import KIND as CONTACT_KIND
from bot.inbound import Answer
from bot.inbound import RoomMessage as InboundRoomMessage
from bot.intake import Origin
from bot.models import OutboxMessageRow
from bot.outbox import find_by_provider_id, latest_page_in
from bot.settings import env_secret as secret

if TYPE_CHECKING:
    from bot.ports import Core, Lease

log = structlog.get_logger("vigie.matrix")

UNKNOWN_USER = (
    "Désolé, votre compte Matrix n'est pas enregistré dans l'annuaire Vigie : rien n'a été fait. "
    "Contactez le responsable du point focal pour être ajouté."
)
UNREADABLE = "message chiffré illisible par Vigie"
PAGE_HELP = "Répondez « ok » ou « 1 » (ou réagissez ✅) pour prendre, « 2 » pour escalader."
ACK_REACTIONS = ("✅", "✔", "☑", "👍")
# Errors a retry will not fix: fail over to the person's next channel.
PERMANENT_ERRORS = {"M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_TOKEN", "M_USER_DEACTIVATED", "M_INVALID_PARAM"}
# A message the bot cannot decrypt yet (its key may come a moment later) is retried this long.
DECRYPT_WAIT = 20.0
PRUNE_EVERY = 3600.0  # seconds
NOT_LEADER = "Matrix : une autre instance de Vigie tient la connexion"
POWER = {"moderator": 50, "admin": 100}

HealthReport = Callable[..., Awaitable[None]]


class MatrixDown(Exception):
    """The homeserver did not answer, or answered with an error a retry may fix."""


@dataclass
class _Waiting:
    room_id: str
    event: MegolmEvent
    since: float
    token: str | None  # the sync token before the batch it came in


def provider_id(room_id: str, event_id: str) -> str:
    return f"{room_id}|{event_id}"


def _content(event: Event) -> dict[str, Any]:
    content = event.source.get("content") if isinstance(event.source, dict) else None
    return content if isinstance(content, dict) else {}


def _relation(event: Event) -> dict[str, Any]:
    relates = _content(event).get("m.relates_to")
    return relates if isinstance(relates, dict) else {}


class MatrixAdapter:
    name = "matrix"
    local = False
    decrypt_wait = DECRYPT_WAIT

    def __init__(
        self, core: Core, cfg: MatrixConfig, *, lease: Lease, on_health: HealthReport | None = None
    ) -> None:
        self.core, self.cfg, self.lease, self.on_health = core, cfg, lease, on_health
        self.token = secret(cfg.token_env, "Matrix activé mais sans jeton d'accès du bot")
        assert cfg.user_id is not None  # the configuration requires it when enabled
        self.user_id: str = cfg.user_id
        self.state = ChannelState(core.db, "matrix")
        self.encrypted = cfg.encryption and ENCRYPTION_ENABLED
        self._client: AsyncClient | None = None
        self._device_id = ""
        self._sync: asyncio.Task[None] | None = None
        self._leading = False  # this instance holds the lease and its client is synced
        self._ready = False  # synced at least once since it took the lease
        self._tick = asyncio.Condition()  # notified after each sync
        self._waiting: dict[str, _Waiting] = {}
        self._dm: dict[str, str] = {}
        self._dm_locks: dict[str, asyncio.Lock] = {}
        self._down = False
        self._first = True
        self._pruned = 0.0

    @property
    def serving(self) -> bool:
        """This instance holds the Matrix lease and has synced: it delivers, and its dispatcher
        claims the Matrix messages (bot.channels)."""
        return self._leading and self._ready

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("Matrix used before start()")
        return self._client

    # --- lifecycle ------------------------------------------------------------------

    def _new_client(self) -> AsyncClient:
        store = Path(self.cfg.store_dir)
        if self.encrypted:
            store.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(
            # Errors come back at once: the dispatcher and the sync loop do their own retrying.
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=30,
            encryption_enabled=self.encrypted,
            store_sync_tokens=False,  # the token is in Vigie's store, shared by the instances
        )
        return AsyncClient(
            self.cfg.homeserver, self.user_id, store_path=str(store) if self.encrypted else "", config=config
        )

    async def start(self) -> None:
        client = self._new_client()
        client.access_token = self.token
        try:
            who = await client.whoami()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await client.close()
            raise ProviderUnreachable(f"Matrix injoignable : {type(exc).__name__}: {exc}") from exc
        if isinstance(who, WhoamiError):
            await client.close()
            if who.status_code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_FORBIDDEN"):
                raise RuntimeError(
                    f"Le serveur Matrix refuse le jeton du bot (variable {self.cfg.token_env}) / "
                    "the homeserver rejects the bot's access token"
                )
            raise ProviderUnreachable(f"Matrix : {who.message}")
        if who.user_id != self.user_id:
            await client.close()
            raise RuntimeError(
                f"Le jeton Matrix est celui de {who.user_id}, pas de {self.user_id} (channels.matrix.user_id)"
            )
        self._device_id = who.device_id or ""
        client.user_id, client.device_id = self.user_id, self._device_id
        self._client = client
        self._sync = asyncio.create_task(self._sync_forever(), name="matrix-sync")
        log.info("matrix_started", user=self.user_id, device=self._device_id, encryption=self.encrypted)

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return []  # the bot syncs: no webhook, no public URL

    async def stop(self) -> None:
        task, self._sync = self._sync, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._leading = self._ready = False
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        with contextlib.suppress(Exception):
            await self.lease.release()

    async def _report(self, up: bool, error: str | None = None) -> None:
        if up == (not self._down):
            return
        self._down = not up
        log.warning("matrix_unreachable", error=error) if not up else log.info("matrix_back")
        if self.on_health is not None:
            await self.on_health(self.name, up=up, error=error)

    # --- sync -----------------------------------------------------------------------

    async def _take_lease(self) -> bool:
        if not await self.lease.try_acquire():
            if self._leading:  # lost it (store outage): the next holder syncs from the token
                self._leading = self._ready = False
            return False
        if not self._leading:
            if self.encrypted:  # the device's keys: loaded by the holder only
                self.client.restore_login(self.user_id, self._device_id, self.token)
                if self.client.should_upload_keys:
                    await self._checked(self.client.keys_upload())
            self._leading = True
            self._first = True
        return True

    async def _sync_forever(self) -> None:
        delay = 1.0
        while True:
            try:
                if not await self._take_lease():
                    await asyncio.sleep(5)
                    continue
                await self._sync_once()
                await self._report(True)
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError, MatrixDown) as exc:
                await self._report(False, f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.core.config.channels.reconnect_max.total_seconds())
            except Exception:
                log.exception("matrix_sync_failed")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _sync_once(self) -> None:
        client = self.client
        since = await self.state.get("sync_token")
        first, self._first = self._first, False
        timeout = 0 if first else int(self.cfg.sync_timeout.total_seconds() * 1000)
        # The first sync of a process asks for the rooms' whole state (members, encryption).
        response = await client.sync(timeout=timeout, since=since, full_state=first or None)
        if isinstance(response, SyncError):
            raise MatrixDown(f"{response.status_code or ''} {response.message}".strip())
        assert isinstance(response, SyncResponse)
        if since is not None:  # a bot's very first sync does not replay the rooms' history
            await self._handle(response, since)
        await self._invitations(response)
        await self._retry_waiting()
        held = min((w for w in self._waiting.values()), key=lambda w: w.since, default=None)
        # Not past a message still waiting for its key: a restart reads it again.
        token = held.token if held is not None and held.token else response.next_batch
        now = self.core.clock.now()
        await self.state.put("sync_token", token, now)
        if time.monotonic() - self._pruned > PRUNE_EVERY:  # handled-event marks older than a week
            self._pruned = time.monotonic()
            await self.state.prune(now)
        await self._keys()
        self._ready = True
        async with self._tick:
            self._tick.notify_all()

    async def _keys(self) -> None:
        client = self.client
        if not self.encrypted:
            return
        await self._checked(client.send_to_device_messages())
        if client.should_upload_keys:
            await self._checked(client.keys_upload())
        if client.should_query_keys:
            await self._checked(client.keys_query())
        if client.should_claim_keys:
            await self._checked(client.keys_claim(client.get_users_for_key_claiming()))

    async def _checked(self, call: Awaitable[Any]) -> Any:
        answer = await call
        if isinstance(answer, ErrorResponse):
            log.warning("matrix_keys_failed", error=str(answer))
        return answer

    async def _invitations(self, response: SyncResponse) -> None:
        """Join the rooms people invite the bot to; a stranger is told politely and left."""
        for room_id, info in response.rooms.invite.items():
            inviter = next(
                (
                    e.sender
                    for e in info.invite_state
                    if getattr(e, "state_key", None) == self.user_id
                    and getattr(e, "membership", "") == "invite"
                ),
                None,
            )
            joined = await self.client.join(room_id)
            if isinstance(joined, ErrorResponse):
                log.warning("matrix_join_failed", room=room_id, error=str(joined))
                continue
            person = self.core.inbound.person_for("matrix", inviter)
            if person is None:
                log.warning("matrix_unknown_user", user=inviter)
                await self._say(room_id, UNKNOWN_USER)
                await self.client.room_leave(room_id)
                continue
            if inviter and await self.state.get(f"dm:{inviter}") is None:
                await self.state.put(f"dm:{inviter}", room_id, self.core.clock.now())
                self._dm[inviter] = room_id

    async def _handle(self, response: SyncResponse, since: str) -> None:
        now = self.core.clock.now()
        for room_id, info in response.rooms.join.items():
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            events = [e for e in info.timeline.events if isinstance(e, Event)]
            done = await self.state.handled([e.event_id for e in events])
            for event in events:
                if event.event_id in done or event.sender == self.user_id:
                    continue
                if isinstance(event, MegolmEvent):  # its key may come in a moment
                    self._waiting.setdefault(
                        event.event_id, _Waiting(room_id, event, time.monotonic(), since)
                    )
                    with contextlib.suppress(Exception):
                        await self.client.request_room_key(event)
                    continue
                await self._handle_one(room, event)
                await self.state.mark(event.event_id, now)

    async def _handle_one(self, room: MatrixRoom, event: Event) -> None:
        """One event; a store outage stops the batch (it is synced again), any other fault is
        logged and the event set aside, so that one odd event never blocks the sync."""
        try:
            await self._event(room, event)
        except UNAVAILABLE_ERRORS:
            raise
        except Exception:
            log.exception("matrix_event_failed", room=room.room_id, event_id=event.event_id)

    async def _retry_waiting(self) -> None:
        """Messages that could not be decrypted: read now if their key came, else after a while
        logged as unreadable, with their sender and time — never dropped in silence."""
        now = self.core.clock.now()
        for event_id, waiting in list(self._waiting.items()):
            room = self.client.rooms.get(waiting.room_id)
            event: Event | None = None
            with contextlib.suppress(EncryptionError, LocalProtocolError):
                waiting.event.room_id = waiting.room_id
                event = self.client.decrypt_event(waiting.event)
            if room is None:
                del self._waiting[event_id]
                continue
            if isinstance(event, Event) and not isinstance(event, MegolmEvent):
                await self._handle_one(room, event)
            elif time.monotonic() - waiting.since < self.decrypt_wait:
                continue
            else:
                await self._unreadable(room, waiting.event)
            await self.state.mark(event_id, now)
            del self._waiting[event_id]

    async def _unreadable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        log.warning("matrix_undecryptable", room=room.room_id, sender=event.sender, event_id=event.event_id)
        crisis = await self._crisis_room(room.room_id)
        if crisis:
            at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
            local = at.astimezone(self.core.config.desk.zone)
            text = f"[{UNREADABLE} — envoyé par {event.sender} le {local:%d/%m/%Y %H:%M:%S}]"
            await self.core.inbound.room_message(self._room_message(room.room_id, event, text))
        else:
            await self._say(
                room.room_id, f"Vigie n'a pas pu lire votre message chiffré ({UNREADABLE}) : renvoyez-le."
            )

    async def _crisis_room(self, room_id: str) -> bool:
        return await self.core.inbound.is_crisis_room(("matrix", room_id))

    # --- incoming -------------------------------------------------------------------

    async def _event(self, room: MatrixRoom, event: Event) -> None:
        if await self._crisis_room(room.room_id):
            await self._room_event(room, event)
            return
        if room.member_count > 2 and self._dm.get(event.sender) != room.room_id:
            return  # a group room that is not a crisis room: not for Vigie
        if isinstance(event, ReactionEvent):
            await self._on_reaction(room, event)
        elif isinstance(event, RoomMessage) and _relation(event).get("rel_type") != "m.replace":
            await self._on_direct(room, event)

    def _person(self, sender: str) -> str | None:
        person = self.core.inbound.person_for("matrix", sender)
        if person is None:
            log.warning("matrix_unknown_user", user=sender)
        return person

    async def _on_direct(self, room: MatrixRoom, event: RoomMessage) -> None:
        """A message to the bot: an answer to a page, a command (``/`` or ``!``), or a signal."""
        person = self._person(event.sender)
        if person is None:
            await self._say(room.room_id, UNKNOWN_USER, reply_to=event.event_id)
            return
        text = _command(_text(event).strip())
        replied = (_relation(event).get("m.in_reply_to") or {}).get("event_id")
        page = (
            await find_by_provider_id(self.core.db, "matrix", provider_id(room.room_id, str(replied)))
            if replied
            else None
        )
        if page is None and not text.startswith("/"):
            page = await latest_page_in(self.core.db, "matrix", f"{room.room_id}|")
        reference = MessageDetails.of(page).reference if page is not None else None
        inbound = self.core.inbound
        probe = re.fullmatch(r"[Tt](\d+)", text)
        if probe is not None:  # a test de joignabilité of this account, answered
            said = await inbound.contact_confirmed(int(probe[1]), "matrix", {event.sender})
            await self._say(room.room_id, said.text, reply_to=event.event_id)
            return
        if reference and text in ("1", "2"):
            answer = Answer.ACK if text == "1" else Answer.ESCALATE
            reply = await inbound.respond(person, reference, answer, "matrix")
        else:
            origin = Origin(OriginChannel.MATRIX, address=room.room_id, person_id=person)
            reply = await inbound.handle_message(
                person, _with_body(text, event), origin, reference, replied_text=page.text if page else None
            )
        await self._say(room.room_id, reply.text, reply_to=event.event_id)

    async def _on_reaction(self, room: MatrixRoom, event: ReactionEvent) -> None:
        if not event.key.startswith(ACK_REACTIONS):
            return
        page = await find_by_provider_id(self.core.db, "matrix", provider_id(room.room_id, event.reacts_to))
        probe = (page.data or {}).get("probe") if page is not None and page.kind == CONTACT_KIND else None
        if probe is not None:  # ✅ on a test de joignabilité: this account is confirmed
            said = await self.core.inbound.contact_confirmed(int(probe), "matrix", {event.sender})
            await self._say(room.room_id, said.text, reply_to=event.reacts_to)
            return
        reference = MessageDetails.of(page).reference if page is not None else None
        if reference is None:
            return
        person = self._person(event.sender)
        if person is None:
            await self._say(room.room_id, UNKNOWN_USER)
            return
        reply = await self.core.inbound.respond(person, reference, Answer.ACK, "matrix")
        await self._say(room.room_id, reply.text, reply_to=event.reacts_to)

    def _room_message(
        self, room_id: str, event: Event, text: str, key: str | None = None
    ) -> InboundRoomMessage:
        files = (
            ({"name": str(getattr(event, "body", "?")), "type": str(_content(event).get("msgtype", ""))},)
            if isinstance(event, RoomMessageMedia)
            else ()
        )
        return InboundRoomMessage(
            platform="matrix",
            room_id=room_id,
            key=key or f"matrix:{room_id}:{event.event_id}",
            text=text,
            person_id=self.core.inbound.person_for("matrix", event.sender),
            author_label=f"Matrix {event.sender}",
            attachments=files,
        )

    async def _room_event(self, room: MatrixRoom, event: Event) -> None:
        """An event of a crisis room: one main-courante entry each (its event id is the key)."""
        inbound = self.core.inbound
        room_id = room.room_id
        if isinstance(event, RoomMemberEvent):
            person = self.core.inbound.person_for("matrix", event.state_key)
            if event.membership == "join" and event.prev_membership != "join" and person is not None:
                reference = await inbound.crisis_of_room(("matrix", room_id))
                if reference is not None:
                    await inbound.respond(person, reference, Answer.JOIN, "matrix")
            return
        if isinstance(event, RedactionEvent):
            original = f"matrix:{room_id}:{event.redacts}"
            await inbound.room_change(
                self._room_message(room_id, event, "", key=f"{original}:deleted"), original, deleted=True
            )
            return
        if not isinstance(event, RoomMessage):
            return
        relation = _relation(event)
        if relation.get("rel_type") == "m.replace":
            new = _content(event).get("m.new_content") or {}
            original = f"matrix:{room_id}:{relation.get('event_id')}"
            await inbound.room_change(
                self._room_message(
                    room_id, event, str(new.get("body", "")), key=f"{original}:edit:{event.event_id}"
                ),
                original,
            )
            return
        text = _command(_text(event))
        reply = await inbound.room_message(self._room_message(room_id, event, text))
        if reply is not None and reply.text:
            await self._say(room_id, reply.text, reply_to=event.event_id)

    # --- outgoing -------------------------------------------------------------------

    async def _send(self, room_id: str, content: dict[str, Any], kind: str = "m.room.message") -> str:
        """Send one event; its id. Raises MatrixDown for what a retry may fix."""
        client = self.client
        if self.encrypted:
            await self._await_members(room_id)  # a room just made: until the sync brings it
            await self._members_keys(room_id)
        try:
            sent = await client.room_send(
                room_id, kind, content, tx_id=str(uuid.uuid4()), ignore_unverified_devices=True
            )
        except LocalProtocolError as exc:  # a room this client has not synced yet
            raise MatrixDown(str(exc)) from exc
        if isinstance(sent, RoomSendResponse):
            return sent.event_id
        assert isinstance(sent, ErrorResponse)
        raise _Refused(sent)

    async def _members_keys(self, room_id: str, wait: float = 10.0) -> None:
        """The members' devices must be known before the room key is shared with them: a query
        the sync loop has in flight is waited for, else a member would get a message without
        its key (unreadable for good)."""
        client = self.client
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if client.should_query_keys:
                await self._checked(client.keys_query())
            room = client.rooms.get(room_id)
            if room is None or set(room.users) <= client.olm.tracked_users | {self.user_id}:
                return
            await asyncio.sleep(0.05)

    async def _await_members(self, room_id: str, users: Sequence[str] = (), wait: float = 10.0) -> None:
        """Until the sync shows the room, and these people in it (invited or joined): the room
        key of an encrypted room is only shared with the members this client knows of."""
        if not self.encrypted:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            room = self.client.rooms.get(room_id)
            if room is not None and set(users) <= set(room.users):
                return
            await self._next_sync(deadline)
        log.warning("matrix_members_not_synced", room=room_id, users=users)

    async def _next_sync(self, deadline: float) -> None:
        async with self._tick:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick.wait(), max(0.1, deadline - time.monotonic()))

    async def _say(self, room_id: str, text: str, reply_to: str | None = None) -> None:
        """An answer to someone, at once (a notice: clients do not ring for it)."""
        if not text:
            return
        content: dict[str, Any] = {"msgtype": "m.notice", "body": text}
        if reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        try:
            await self._send(room_id, content)
        except (MatrixDown, _Refused, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("matrix_answer_failed", room=room_id, error=str(exc))

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult:
        if not self.serving:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=NOT_LEADER, retry_after=2)
        details = MessageDetails.of(message)
        try:
            if message.kind == "room_topic":  # the functions changed: the topic, and who moderates
                room = RoomRef("matrix", str(message.recipient_address), "")
                await self.set_topic(room, message.text)
                for person_id in (message.data or {}).get("moderators") or []:
                    person = self.core.config.person(person_id)
                    if person is not None and person.contacts.matrix_id:
                        await self.set_power(room, person.contacts.matrix_id, "moderator")
                return DeliveryResult(DeliveryOutcome.DELIVERED)
            if message.kind == "room_post":
                room_id = str(message.recipient_address)
                content = self._mentions(message.text, list((message.data or {}).get("mentions") or []))
                event_id = await self._send(room_id, content)
                return DeliveryResult(DeliveryOutcome.DELIVERED, provider_id=provider_id(room_id, event_id))
            for page in details.page_refs:
                room_id, _, event_id = page.provider_id.partition("|")
                await self._replace(room_id, event_id, f"{page.text}\n\n✅ {message.text}")
            if details.edit_only:
                return DeliveryResult(DeliveryOutcome.DELIVERED)
            room_id = await self._direct_room(str(message.recipient_address))
            text = message.text
            if details.is_page and details.actions:
                text = f"{text}\n\n{PAGE_HELP}"
            event_id = await self._send(room_id, {"msgtype": "m.text", "body": text})
        except _Refused as exc:
            error = exc.error
            if error.status_code == "M_LIMIT_EXCEEDED":
                retry = (error.retry_after_ms or 1000) / 1000
                return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Matrix : {error}", retry_after=retry)
            if error.status_code in PERMANENT_ERRORS:
                return DeliveryResult(
                    DeliveryOutcome.PERMANENT, error=f"Matrix : {error.status_code} {error.message}"
                )
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Matrix : {error}")
        except (MatrixDown, aiohttp.ClientError, TimeoutError, OSError) as exc:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Matrix injoignable : {exc}")
        return DeliveryResult(DeliveryOutcome.DELIVERED, provider_id=provider_id(room_id, event_id))

    def _mentions(self, text: str, people: list[str]) -> dict[str, Any]:
        """The names of the people to notify become Matrix mentions (pills)."""
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        users = []
        marked = html.escape(text, quote=False)
        for person_id in people:
            person = self.core.config.person(person_id)
            mxid = person.contacts.matrix_id if person is not None else None
            if person is None or not mxid:
                continue
            users.append(mxid)
            name = html.escape(person.name, quote=False)
            marked = marked.replace(name, f'<a href="https://matrix.to/#/{mxid}">{name}</a>', 1)
        if users:
            content |= {"format": "org.matrix.custom.html", "formatted_body": marked.replace("\n", "<br>")}
            content["m.mentions"] = {"user_ids": users}
        return content

    async def _replace(self, room_id: str, event_id: str, text: str) -> None:
        new = {"msgtype": "m.text", "body": text}
        await self._send(
            room_id,
            {
                "msgtype": "m.text",
                "body": f"* {text}",
                "m.new_content": new,
                "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
            },
        )

    async def _state(self, room_id: str, kind: str, content: dict[str, Any]) -> None:
        answer = await self.client.room_put_state(room_id, kind, content)
        if isinstance(answer, ErrorResponse):
            raise _Refused(answer)

    async def _get_state(self, room_id: str, kind: str) -> dict[str, Any]:
        answer = await self.client.room_get_state_event(room_id, kind)
        if isinstance(answer, ErrorResponse):
            if answer.status_code == "M_NOT_FOUND":
                return {}
            raise _Refused(answer)
        return dict(answer.content)

    async def _direct_room(self, mxid: str) -> str:
        """The direct room with this person, created on first use and remembered."""
        if mxid in self._dm:
            return self._dm[mxid]
        async with self._dm_locks.setdefault(mxid, asyncio.Lock()):
            known = await self.state.get(f"dm:{mxid}")
            if known is None:
                made = await self.client.room_create(
                    is_direct=True,
                    invite=[mxid],
                    preset=_preset("trusted_private_chat"),
                    initial_state=self._encryption_state(),
                    federate=True,
                )
                if isinstance(made, RoomCreateError):
                    raise _Refused(made)
                known = made.room_id
                await self.state.put(f"dm:{mxid}", known, self.core.clock.now())
                log.info("matrix_direct_room", user=mxid, room=known)
                await self._await_members(known, [mxid])
            self._dm[mxid] = known
            return known

    def _encryption_state(self) -> list[dict[str, Any]]:
        if not self.encrypted:
            return []
        return [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        ]

    # --- crisis rooms (bot.channels.RoomChannel) -------------------------------------

    async def create_room(self, name: str, *, topic: str, private: bool) -> RoomRef:
        server = self.user_id.split(":", 1)[1]
        for attempt in range(1, 20):
            alias = name if attempt == 1 else f"{name[:80]}-{attempt}"
            made = await self.client.room_create(
                alias=alias,
                name=alias,
                topic=topic,
                preset=_preset("private_chat"),
                initial_state=self._encryption_state(),
            )
            if isinstance(made, RoomCreateError):
                if made.status_code == "M_ROOM_IN_USE":
                    continue
                raise RuntimeError(f"Matrix : {made.status_code} {made.message}")
            room = RoomRef("matrix", made.room_id, alias, url=f"https://matrix.to/#/%23{alias}:{server}")
            if not self.encrypted:
                await self.post(
                    room,
                    "⚠ Salon non chiffré : Vigie n'a pas le chiffrement de bout en bout ici. "
                    "N'y écrivez pas de données de santé nominatives.",
                )
            return room
        raise RuntimeError(f"Matrix : aucun alias libre pour {name}")

    async def invite(self, room: RoomRef, addresses: list[str], *, banner: str = "") -> list[str]:
        failed: list[str] = []
        for mxid in addresses:  # one by one: one unknown account must not block the others
            answer = await self.client.room_invite(room.room_id, mxid)
            if isinstance(answer, ErrorResponse) and "already" not in (answer.message or "").lower():
                log.warning("matrix_invite_failed", user=mxid, error=str(answer))
                failed.append(mxid)
        await self._await_members(room.room_id, [a for a in addresses if a not in failed])
        return failed

    async def post(self, room: RoomRef, text: str) -> PostedRef:
        event_id = await self._send(room.room_id, {"msgtype": "m.text", "body": text})
        return PostedRef(room, event_id)

    async def edit(self, posted: PostedRef, text: str) -> None:
        await self._replace(posted.room.room_id, posted.message_id, text)

    async def set_topic(self, room: RoomRef, topic: str) -> None:
        await self._state(room.room_id, "m.room.topic", {"topic": topic})

    async def pin(self, posted: PostedRef) -> None:
        pinned = (await self._get_state(posted.room.room_id, "m.room.pinned_events")).get("pinned") or []
        if posted.message_id not in pinned:
            await self._state(
                posted.room.room_id, "m.room.pinned_events", {"pinned": [*pinned, posted.message_id]}
            )

    async def react(self, posted: PostedRef, emoji: str) -> None:
        key = {"white_check_mark": "✅"}.get(emoji, emoji)
        await self._send(
            posted.room.room_id,
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": posted.message_id, "key": key}},
            kind="m.reaction",
        )

    async def set_power(self, room: RoomRef, address: str, level: str) -> None:
        levels = await self._get_state(room.room_id, "m.room.power_levels")
        users = dict(levels.get("users") or {})
        wanted = POWER.get(level, 50)
        if users.get(address, 0) >= wanted:
            return
        users[address] = wanted
        await self._state(room.room_id, "m.room.power_levels", {**levels, "users": users})

    async def archive(self, room: RoomRef) -> None:
        """The nearest Matrix has to archiving: the room becomes read-only, its name says so."""
        levels = await self._get_state(room.room_id, "m.room.power_levels")
        await self._state(room.room_id, "m.room.power_levels", {**levels, "events_default": 100})
        named = (await self._get_state(room.room_id, "m.room.name")).get("name") or room.name
        if not str(named).startswith("[clôturée]"):
            await self._state(room.room_id, "m.room.name", {"name": f"[clôturée] {named}"})


class _Refused(Exception):
    def __init__(self, error: ErrorResponse) -> None:
        super().__init__(str(error))
        self.error = error


def _preset(name: str) -> Any:
    from nio.api import RoomPreset

    return RoomPreset(name)


def _text(event: RoomMessage) -> str:
    body = getattr(event, "body", None)
    return str(body) if body is not None else str(_content(event).get("body", ""))


def _command(text: str) -> str:
    """``!signal …`` is ``/signal …``: Matrix clients swallow the slash commands they do not know."""
    return "/" + text[1:] if text.startswith("!") else text


def _with_body(text: str, event: RoomMessage) -> str:
    return text if not isinstance(event, RoomMessageMedia) else f"{text} (pièce jointe)"
