"""Slack, with slack-bolt: pages as direct messages with buttons, slash commands, intake by DM.

HTTP mode goes through Vigie's ASGI app (``POST /slack/events``): bolt checks the signing
secret and refuses requests older than five minutes. Every command, button and event is
acknowledged at once (Slack wants an answer within 3 seconds) and the work is done after.
Socket Mode is available with ``socket_mode: true`` (an app-level token, no public URL).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from fastapi import Request
from fastapi.responses import Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels import (
    DeliveryOutcome,
    DeliveryResult,
    MessageDetails,
    PageAction,
    PostedRef,
    ProviderUnreachable,
    RoomRef,
)
from bot.config import SlackConfig
from bot.diffusion.service import CHAT_CONFIRM, CHAT_DONE
from bot.domain import OriginChannel
from bot.drills.contacts import CHAT_CONTACT
from bot.grammar import COMMANDS
from bot.inbound import Answer, RoomMessage
from bot.intake import Origin
from bot.models import OutboxMessageRow
from bot.outbox import find_by_provider_id
from bot.settings import env_secret as secret
from handlers.http_common import HttpError, bounded

if TYPE_CHECKING:
    from bot.ports import Core

log = structlog.get_logger("vigie.slack")

EVENTS_PATH = "/slack/events"
UNKNOWN_USER = (
    "Désolé, votre compte Slack n'est pas enregistré dans l'annuaire Vigie : rien n'a été fait. "
    "Contactez le responsable du point focal pour être ajouté."
)
# Slack errors that will not go away by retrying: fail over to the person's next channel.
PERMANENT_ERRORS = {
    "user_not_found",
    "user_disabled",
    "account_inactive",
    "channel_not_found",
    "is_archived",
    "cannot_dm_bot",
    "not_in_channel",
    "invalid_auth",
    "not_authed",
    "missing_scope",
    "msg_too_long",
}
SLASH_COMMANDS = re.compile(r"^/(" + "|".join(a for aliases in COMMANDS.values() for a in aliases) + r")$")


def _blocks(text: str, reference: str | None, actions: tuple[PageAction, ...]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": "text", "text": {"type": "plain_text", "text": text[:2900]}}
    ]
    if reference and actions:
        blocks.append(
            {
                "type": "actions",
                "block_id": "page",
                "elements": [
                    {
                        "type": "button",
                        "action_id": a.id,
                        "value": reference,
                        "text": {"type": "plain_text", "text": a.label},
                        **({"style": "primary"} if a.id == "ack" else {}),
                    }
                    for a in actions
                ],
            }
        )
    return blocks


class SlackAdapter:
    name = "slack"
    local = False

    def __init__(self, core: Core, cfg: SlackConfig) -> None:
        self.core = core
        self.cfg = cfg
        token = secret(cfg.token_env, "Slack activé mais sans jeton de bot (xoxb-…)")
        signing = secret(cfg.signing_secret_env, "Slack activé mais sans signing secret")
        self.app_token = (
            secret(cfg.app_token_env, "Socket Mode sans jeton d'application (xapp-…)")
            if cfg.socket_mode
            else None
        )
        self.token, self.signing = token, signing
        self._socket: Any = None
        self._client: AsyncWebClient | None = None
        self.handler: AsyncSlackRequestHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> AsyncWebClient:
        if self._client is None:
            raise RuntimeError("Slack used before start()")
        return self._client

    def _build(self) -> AsyncApp:
        self._client = AsyncWebClient(token=self.token, base_url=self.cfg.base_url)
        app = AsyncApp(client=self._client, signing_secret=self.signing, process_before_response=False)
        app.command(SLASH_COMMANDS)(self._on_command)
        app.action(re.compile(r"^(ack|escalate|join)$"))(self._on_button)
        app.action(re.compile(rf"^({CHAT_CONFIRM}|{CHAT_DONE})$"))(self._on_partner_button)
        app.action(CHAT_CONTACT)(self._on_contact_button)
        app.event("message")(self._on_message)
        return app

    async def start(self) -> None:
        app = self._build()
        try:
            identity = await self.client.auth_test()
            if self.app_token:
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                self._socket = AsyncSocketModeHandler(app, self.app_token)
                await self._socket.connect_async()
        except SlackApiError as exc:
            status = exc.response.status_code
            if status >= 500 or status == 429:
                raise ProviderUnreachable(f"Slack {status}") from exc
            raise RuntimeError(f"Slack refuse le jeton ({exc.response.get('error', status)})") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderUnreachable(f"Slack injoignable : {type(exc).__name__}: {exc}") from exc
        self.handler = AsyncSlackRequestHandler(app)
        log.info("slack_started", socket_mode=bool(self.app_token), team=identity.get("team_id"))

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [(EVENTS_PATH, self.events, ["POST"])]

    async def stop(self) -> None:
        if self._tasks:  # room events being logged: let them land
            await asyncio.wait(list(self._tasks), timeout=5)
        socket, self._socket, self.handler = self._socket, None, None
        if socket is not None:
            await socket.close_async()

    async def events(self, request: Request) -> Response:
        if self.handler is None:  # degraded: Slack retries events it could not deliver
            return Response("Canal Slack en cours de reconnexion.", status_code=503)
        try:
            request = await bounded(request)  # before bolt hashes it for the signature
            body = await self._readable(request)
        except HttpError as exc:
            return exc.response()
        fast = await self._channel_event(request, body)
        if fast is not None:
            return fast
        return await self.handler.handle(request)

    async def _channel_event(self, request: Request, body: dict[str, Any]) -> Response | None:
        """The main courante's hot path: a signed ``message`` event of a channel is answered at
        once and logged in the background, without bolt's dispatch (which doubled its cost).
        Everything else — commands, buttons, direct messages, URL verification — goes to bolt."""
        raw = await request.body()
        if not raw.lstrip().startswith(b"{"):
            return None  # a slash command or a button: a form, bolt's
        event = body.get("event") if body.get("type") == "event_callback" else None
        if not isinstance(event, dict) or event.get("type") != "message" or event.get("channel_type") == "im":
            return None
        headers = request.headers
        timestamp = headers.get("x-slack-request-timestamp", "")
        signature = headers.get("x-slack-signature", "")
        if not (timestamp.isdigit() and SignatureVerifier(self.signing).is_valid(raw, timestamp, signature)):
            return None  # bolt answers 401
        channel = str(event.get("channel") or "")

        async def say(text: str, thread_ts: str | None = None) -> None:
            await self.client.chat_postMessage(channel=channel, text=text, thread_ts=thread_ts)

        task = asyncio.create_task(self._logged(self._room_event(event, say)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Response(status_code=200)

    async def _logged(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:  # the entry could not be stored: Slack is not told (it was answered)
            log.exception("slack_room_event_failed")

    async def _readable(self, request: Request) -> dict[str, Any]:
        """The body as bolt reads it. One bolt would choke on (``{``, ``payload=garbage``, not
        UTF-8, not an object, fields of the wrong type) is a 400 when it is signed, rather than an
        exception inside bolt, and a 401 when it is not. The signature is only computed here for
        such a body: bolt checks every other one itself."""
        raw = await request.body()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpError(400, "malformed_body", "Requête Slack illisible : UTF-8 attendu.") from None
        headers = request.headers
        try:
            parsed = parse_body(text, headers.get("content-type"))  # bolt's own parsing
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict) and not _misshapen(parsed):
            return parsed  # parsed once: the hot path reads it too
        timestamp = headers.get("x-slack-request-timestamp", "")
        signed = timestamp.isdigit() and SignatureVerifier(self.signing).is_valid(
            body=text, timestamp=timestamp, signature=headers.get("x-slack-signature", "")
        )
        if signed:
            raise HttpError(400, "malformed_body", "Requête Slack illisible : JSON ou formulaire attendu.")
        raise HttpError(401, "invalid_signature", "Signature Slack invalide.")

    # --- outgoing -------------------------------------------------------------------

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult:
        details = MessageDetails.of(message)
        try:
            if message.kind == "room_topic":  # the crisis channel's topic line
                await self.client.conversations_setTopic(
                    channel=str(message.recipient_address), topic=message.text
                )
                return DeliveryResult(DeliveryOutcome.DELIVERED)
            if message.kind == "room_post":  # into a crisis channel, not a DM
                text = message.text
                for person_id in (message.data or {}).get("mentions") or []:
                    person = self.core.config.person(person_id)
                    if person is not None and person.contacts.slack_id:  # the name notifies them
                        text = text.replace(person.name, f"<@{person.contacts.slack_id}>", 1)
                posted = await self.client.chat_postMessage(channel=str(message.recipient_address), text=text)
                return DeliveryResult(
                    DeliveryOutcome.DELIVERED, provider_id=f"{posted['channel']}:{posted['ts']}"
                )
            for page in details.page_refs:
                channel, _, ts = page.provider_id.partition(":")
                text = f"{page.text}\n\n✅ {message.text}"
                await self.client.chat_update(
                    channel=channel, ts=ts, text=text, blocks=_blocks(text, None, ())
                )
            if details.edit_only:
                return DeliveryResult(DeliveryOutcome.DELIVERED)
            if str(message.recipient_address).startswith(("C", "G")):  # a partner's channel
                channel = str(message.recipient_address)
            else:
                opened = await self.client.conversations_open(users=message.recipient_address)
                channel = opened["channel"]["id"]
            blocks = _blocks(message.text, details.reference, details.actions)
            sent = await self.client.chat_postMessage(channel=channel, text=message.text, blocks=blocks)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            status = exc.response.status_code
            if error == "ratelimited" or status == 429:
                headers = {k.lower(): v for k, v in (exc.response.headers or {}).items()}
                retry = float(headers.get("retry-after", 1))
                return DeliveryResult(
                    DeliveryOutcome.TRANSIENT, error="Slack : ratelimited", retry_after=retry
                )
            if error in PERMANENT_ERRORS or 400 <= status < 500:
                return DeliveryResult(DeliveryOutcome.PERMANENT, error=f"Slack : {error or status}")
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Slack : {error or status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Slack injoignable : {exc}")
        return DeliveryResult(DeliveryOutcome.DELIVERED, provider_id=f"{channel}:{sent['ts']}")

    # --- incoming -------------------------------------------------------------------

    def _person(self, user_id: str | None) -> str | None:
        person = self.core.inbound.person_for("slack", user_id)
        if person is None:
            log.warning("slack_unknown_user", user_id=user_id)
        return person

    def _origin(self, user_id: str, channel: str | None, person: str) -> Origin:
        return Origin(OriginChannel.SLACK, address=channel or user_id, person_id=person)

    async def _on_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack()
        person = self._person(command.get("user_id"))
        if person is None:
            await respond(UNKNOWN_USER)
            return
        channel = command.get("channel_id")
        origin = self._origin(command["user_id"], channel, person)
        text = f"{command['command']} {command.get('text', '')}"
        # A slash command is seen by nobody else: in a crisis channel, the answer is for all.
        room = ("slack", str(channel)) if channel and not str(channel).startswith("D") else None
        reply = await self.core.inbound.handle_message(person, text, origin, room=room)
        if reply.room:
            await respond(text=reply.text, response_type="in_channel")
        else:
            await respond(reply.text)

    async def _on_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        person = self._person(body.get("user", {}).get("id"))
        if person is None:
            await respond(text=UNKNOWN_USER, replace_original=False, response_type="ephemeral")
            return
        response = Answer(action["action_id"])  # the listener only matches ack|escalate|join
        reply = await self.core.inbound.respond(person, action.get("value", ""), response, "slack")
        await respond(text=reply.text, replace_original=False, response_type="ephemeral")

    async def _on_partner_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        """A partner confirms a diffusion: its Slack user, or the channel it was posted in."""
        await ack()
        user = body.get("user", {})
        addresses = {str(a) for a in (user.get("id"), body.get("channel", {}).get("id")) if a}
        said = await self.core.inbound.diffusion_chat(
            action.get("value", ""),
            "slack",
            addresses,
            by=f"Slack {user.get('username') or user.get('name') or ''} ({user.get('id')})".replace(
                "  ", " "
            ),
            done=action["action_id"] == CHAT_DONE,
        )
        await respond(text=said.text, replace_original=False, response_type="ephemeral")

    async def _on_contact_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        """A test de joignabilité: confirmed by the Slack user it was sent to."""
        await ack()
        code = str(action.get("value", ""))
        user = str(body.get("user", {}).get("id") or "")
        if not code[1:].isdigit():
            await respond(text="Test inconnu.", replace_original=False, response_type="ephemeral")
            return
        said = await self.core.inbound.contact_confirmed(int(code[1:]), "slack", {user})
        await respond(text=said.text, replace_original=False, response_type="ephemeral")

    async def _on_message(self, event: dict[str, Any], say: Any) -> None:
        if event.get("bot_id"):
            return  # Vigie's own posts are already in the main courante
        if event.get("channel_type") != "im":
            await self._room_event(event, say)
            return
        if event.get("subtype"):
            return  # only people writing to the bot directly
        person = self._person(event.get("user"))
        if person is None:
            await say(UNKNOWN_USER)
            return
        origin = self._origin(event["user"], event.get("channel"), person)
        thread = event.get("thread_ts")
        page = (
            await find_by_provider_id(self.core.db, "slack", f"{event.get('channel')}:{thread}")
            if thread
            else None
        )
        answered = MessageDetails.of(page).reference if page is not None else None
        reply = await self.core.inbound.handle_message(
            person, event.get("text") or "", origin, answered, replied_text=page.text if page else None
        )
        await say(text=reply.text, thread_ts=thread or event.get("ts"))

    async def _room_event(self, event: dict[str, Any], say: Any) -> None:
        """A message in a channel: into the main courante when it is a crisis channel. Slack
        retries an event it thinks lost, and each instance may get it: the message's ts is the
        entry's key, so it gives one entry."""
        channel = str(event.get("channel") or "")
        subtype = event.get("subtype")
        inbound = self.core.inbound
        if subtype == "message_changed":
            edited = event.get("message") or {}
            if edited.get("bot_id"):
                return
            stamp = (edited.get("edited") or {}).get("ts") or event.get("ts")
            await inbound.room_change(
                self._room_message(channel, f"{edited.get('ts')}:edit:{stamp}", edited),
                f"slack:{channel}:{edited.get('ts')}",
            )
            return
        if subtype == "message_deleted":
            gone = event.get("previous_message") or {}
            if gone.get("bot_id"):
                return
            deleted = str(event.get("deleted_ts") or gone.get("ts") or "")
            await inbound.room_change(
                self._room_message(channel, f"{deleted}:deleted", gone),
                f"slack:{channel}:{deleted}",
                deleted=True,
            )
            return
        if subtype not in (None, "file_share", "thread_broadcast", "me_message"):
            return  # joins, topic changes…: Vigie logs its own account of those
        reply = await inbound.room_message(self._room_message(channel, str(event.get("ts")), event))
        if reply is not None and reply.text:
            await say(text=reply.text, thread_ts=event.get("thread_ts") or event.get("ts"))

    def _room_message(self, channel: str, ts: str, event: dict[str, Any]) -> RoomMessage:
        user = str(event.get("user") or "")
        files: list[Any] = event["files"] if isinstance(event.get("files"), list) else []
        return RoomMessage(
            platform="slack",
            room_id=channel,
            key=f"slack:{channel}:{ts}",
            text=str(event.get("text") or ""),
            person_id=self.core.inbound.person_for("slack", user) if user else None,
            author_label=f"Slack {user or '?'}",
            attachments=tuple(
                {"name": str(f.get("name", "?")), "type": str(f.get("filetype") or f.get("mimetype") or "")}
                for f in files
                if isinstance(f, dict)
            ),
        )

    # --- crisis rooms (bot.channels.RoomChannel) -------------------------------------

    async def create_room(self, name: str, *, topic: str, private: bool) -> RoomRef:
        for attempt in range(1, 20):
            candidate = name if attempt == 1 else f"{name[: 80 - len(str(attempt)) - 1]}-{attempt}"
            try:
                made = await self.client.conversations_create(name=candidate, is_private=private)
            except SlackApiError as exc:
                if exc.response.get("error") == "name_taken":
                    continue
                raise
            channel = made["channel"]["id"]
            await self.client.conversations_setTopic(channel=channel, topic=topic)
            return RoomRef("slack", channel, candidate)
        raise RuntimeError(f"Slack : aucun nom libre pour {name}")

    async def invite(self, room: RoomRef, addresses: list[str], *, banner: str = "") -> list[str]:
        failed: list[str] = []
        for user in addresses:  # one by one: one unknown member must not block the others
            try:
                await self.client.conversations_invite(channel=room.room_id, users=user)
            except SlackApiError as exc:
                if exc.response.get("error") != "already_in_channel":
                    failed.append(user)
        return failed

    async def post(self, room: RoomRef, text: str) -> PostedRef:
        posted = await self.client.chat_postMessage(channel=room.room_id, text=text)
        return PostedRef(room, str(posted["ts"]))

    async def edit(self, posted: PostedRef, text: str) -> None:
        await self.client.chat_update(channel=posted.room.room_id, ts=posted.message_id, text=text)

    async def set_topic(self, room: RoomRef, topic: str) -> None:
        await self.client.conversations_setTopic(channel=room.room_id, topic=topic)

    async def pin(self, posted: PostedRef) -> None:
        await self.client.pins_add(channel=posted.room.room_id, timestamp=posted.message_id)

    async def react(self, posted: PostedRef, emoji: str) -> None:
        await self.client.reactions_add(channel=posted.room.room_id, timestamp=posted.message_id, name=emoji)

    async def set_power(self, room: RoomRef, address: str, level: str) -> None:
        return None  # channel managers are set by workspace admins, not by bots

    async def archive(self, room: RoomRef) -> None:
        await self.client.conversations_archive(channel=room.room_id)


# The types Slack gives the fields bolt reads before any listener: a signed body of another
# shape would be a 500 inside bolt's middleware, and is a 400 here.
_TEXT = (str,)
_SHAPES: dict[str, tuple[type, ...]] = {
    "type": _TEXT,
    "token": _TEXT,
    "team_id": _TEXT,
    "enterprise_id": _TEXT,
    "api_app_id": _TEXT,
    "user_id": _TEXT,
    "channel_id": _TEXT,
    "command": _TEXT,
    "text": _TEXT,
    "challenge": _TEXT,
    "event": (dict,),
    "message": (dict,),
    "container": (dict,),
    "view": (dict,),
    "actions": (list,),
    "authorizations": (list,),
    "user": (dict, str),
    "channel": (dict, str),
    "team": (dict, str, type(None)),
    "enterprise": (dict, str, type(None)),
    "is_enterprise_install": (bool, str),
}
_EVENT_TEXT = ("type", "subtype", "user", "channel", "text", "bot_id", "ts", "thread_ts", "channel_type")


def _misshapen(body: dict[str, Any]) -> bool:
    for key, kinds in _SHAPES.items():
        if key in body and not isinstance(body[key], kinds):
            return True
    for key in ("actions", "authorizations"):
        if any(not isinstance(item, dict) for item in body.get(key) or []):
            return True
    for key in ("user", "channel", "team", "enterprise"):
        nested = body.get(key)
        if isinstance(nested, dict) and not isinstance(nested.get("id", ""), str):
            return True
    event = body.get("event") or {}
    return any(key in event and not isinstance(event[key], str) for key in _EVENT_TEXT)
