"""Telegram, with python-telegram-bot: pages with buttons, replies, commands, intake by chat.

Long polling by default (no public URL needed); webhook mode goes through Vigie's own ASGI app
(``POST /telegram/webhook``), where the secret-token header is checked here, in constant time,
since PTB only checks it in its own web server.
"""

from __future__ import annotations

import hmac
import html
import warnings
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels import (
    DeliveryOutcome,
    DeliveryResult,
    MessageDetails,
    PostedRef,
    ProviderUnreachable,
    RoomRef,
    SentPage,
)
from bot.config import TelegramConfig
from bot.diffusion.service import CHAT_CONFIRM, CHAT_DONE
from bot.domain import OriginChannel
from bot.drills.contacts import CHAT_CONTACT
from bot.inbound import Answer, RoomMessage
from bot.intake import Origin
from bot.models import OutboxMessageRow
from bot.settings import env_secret as secret
from bot.signals import find_reference
from handlers.http_common import HttpError, load_json, read_body

if TYPE_CHECKING:
    from bot.ports import Core

log = structlog.get_logger("vigie.telegram")

UNKNOWN_USER = (
    "Désolé, votre compte Telegram n'est pas enregistré dans l'annuaire Vigie : rien n'a été fait. "
    "Contactez le responsable du point focal pour être ajouté."
)
WEBHOOK_PATH = "/telegram/webhook"


def _seconds(exc: RetryAfter) -> float:
    # PTB 22 returns an int and warns that a future version returns a timedelta: accept both.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


class TelegramAdapter:
    name = "telegram"
    local = False

    def __init__(self, core: Core, cfg: TelegramConfig) -> None:
        self.core = core
        self.cfg = cfg
        self.token = secret(cfg.token_env, "Telegram activé mais sans jeton de bot")
        self.webhook_secret = (
            secret(cfg.webhook_secret_env, "Webhook Telegram sans secret") if cfg.mode == "webhook" else None
        )
        self._app: Application | None = None  # type: ignore[type-arg]

    @property
    def app(self) -> Application:  # type: ignore[type-arg]
        if self._app is None:
            raise RuntimeError("Telegram used before start()")
        return self._app

    def _build(self) -> Application:  # type: ignore[type-arg]
        builder = (
            ApplicationBuilder()
            .token(self.token)
            .base_url(self.cfg.base_url)
            # Telegram's limits: ~30 messages/s overall, 20/min per group. Over them, the
            # RetryAfter is handed back to the dispatcher, which waits and never drops.
            .rate_limiter(AIORateLimiter(max_retries=0))
        )
        if self.cfg.mode == "webhook":
            builder = builder.updater(None)
        app = builder.build()
        app.add_handler(CallbackQueryHandler(self._on_button))
        if self.cfg.crisis_chat_id is not None:
            # The crisis supergroup: every message of its topics goes to the main courante.
            group = filters.Chat(self.cfg.crisis_chat_id)
            app.add_handler(MessageHandler(group & filters.UpdateType.EDITED_MESSAGE, self._on_room_edit))
            app.add_handler(MessageHandler(group & filters.UpdateType.MESSAGE, self._on_room_message))
        app.add_handler(
            MessageHandler(
                filters.ChatType.PRIVATE & filters.TEXT & filters.UpdateType.MESSAGE, self._on_message
            )
        )
        app.add_error_handler(self._on_error)
        return app

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        # A fresh application each attempt: PTB's objects are not meant to be re-initialised.
        self._app = app = self._build()
        try:
            await app.initialize()  # getMe
            await app.start()
            if self.cfg.mode == "polling":
                assert app.updater is not None
                await app.bot.delete_webhook()
                await app.updater.start_polling(
                    poll_interval=0,
                    timeout=int(self.cfg.poll_timeout.total_seconds()),
                    allowed_updates=["message", "edited_message", "callback_query"],
                )
            else:
                public = self.core.config.desk.public_url
                await app.bot.set_webhook(
                    url=f"{public}{WEBHOOK_PATH}",
                    secret_token=self.webhook_secret,
                    allowed_updates=["message", "edited_message", "callback_query"],
                )
        except (NetworkError, RetryAfter) as exc:  # NetworkError covers time-outs and 5xx
            raise ProviderUnreachable(f"Telegram injoignable : {exc}") from exc
        except InvalidToken:
            # PTB's message quotes the token itself: never repeat it.
            raise RuntimeError(
                f"Telegram refuse le jeton du bot (variable {self.cfg.token_env}) / "
                "Telegram rejects the bot token"
            ) from None
        log.info("telegram_started", mode=self.cfg.mode)

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [(WEBHOOK_PATH, self.webhook, ["POST"])] if self.cfg.mode == "webhook" else []

    async def stop(self) -> None:
        app, self._app = self._app, None
        if app is None:
            return
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    async def webhook(self, request: Request) -> JSONResponse:
        presented = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not self.webhook_secret or not hmac.compare_digest(
            presented.encode(), self.webhook_secret.encode()
        ):
            log.warning("telegram_webhook_refused", client=request.client.host if request.client else None)
            return JSONResponse(
                {"error": "forbidden", "message": "Jeton secret Telegram invalide."}, status_code=403
            )
        if self._app is None:  # degraded: Telegram will deliver the update again later
            return JSONResponse(
                {"error": "unavailable", "message": "Canal Telegram en cours de reconnexion."},
                status_code=503,
            )
        try:
            data = load_json(await read_body(request))
            if not isinstance(data, dict):
                raise ValueError("not an object")
            update = Update.de_json(data, self.app.bot)
        except HttpError as exc:
            return exc.response()
        except (ValueError, TypeError, KeyError, AttributeError):
            return JSONResponse(
                {"error": "bad_request", "message": "Mise à jour Telegram illisible."}, status_code=400
            )
        # Answer Telegram at once; the update is handled by PTB's own queue.
        await self.app.update_queue.put(update)
        return JSONResponse({"ok": True})

    # --- outgoing -------------------------------------------------------------------

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult:
        if message.kind == "room_topic":
            return DeliveryResult(DeliveryOutcome.DELIVERED)  # no topic line on Telegram: see the brief
        if message.kind == "room_post":  # into a crisis topic: "<chat id>:<thread id>"
            return await self._deliver_in_room(message)
        chat_id = int(message.recipient_address or 0)
        details = MessageDetails.of(message)
        try:
            for page in details.page_refs:
                await self._mark_page(page, message.text)
            if details.edit_only:
                return DeliveryResult(DeliveryOutcome.DELIVERED)
            sent = await self.app.bot.send_message(
                chat_id=chat_id, text=message.text, reply_markup=self._buttons(details)
            )
        except RetryAfter as exc:
            return DeliveryResult(
                DeliveryOutcome.TRANSIENT, error=f"Telegram 429 : {exc}", retry_after=_seconds(exc)
            )
        except Forbidden as exc:  # blocked bot, deactivated account
            return DeliveryResult(DeliveryOutcome.PERMANENT, error=f"Telegram : {exc.message}")
        except BadRequest as exc:  # unknown chat, …
            return DeliveryResult(DeliveryOutcome.PERMANENT, error=f"Telegram : {exc.message}")
        except (TimedOut, NetworkError) as exc:  # includes 5xx answers
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Telegram injoignable : {exc}")
        except TelegramError as exc:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Telegram : {exc}")
        return DeliveryResult(DeliveryOutcome.DELIVERED, provider_id=f"{chat_id}:{sent.message_id}")

    async def _deliver_in_room(self, message: OutboxMessageRow) -> DeliveryResult:
        chat, _, thread = str(message.recipient_address).partition(":")
        text, mode = self._with_mentions(message.text, list((message.data or {}).get("mentions") or []))
        try:
            sent = await self.app.bot.send_message(
                chat_id=int(chat),
                text=text,
                message_thread_id=int(thread) if thread else None,
                parse_mode=mode,
            )
        except RetryAfter as exc:
            return DeliveryResult(
                DeliveryOutcome.TRANSIENT, error=f"Telegram 429 : {exc}", retry_after=_seconds(exc)
            )
        except (Forbidden, BadRequest) as exc:  # removed from the group, topic gone: retried, officers told
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Telegram : {exc.message}")
        except TelegramError as exc:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Telegram injoignable : {exc}")
        return DeliveryResult(DeliveryOutcome.DELIVERED, provider_id=f"{chat}:{sent.message_id}")

    def _with_mentions(self, text: str, people: list[str]) -> tuple[str, str | None]:
        """The names of the people to notify (pilotage, secrétariat…) become Telegram mentions."""
        if not people:
            return text, None
        marked = html.escape(text, quote=False)
        for person_id in people:
            person = self.core.config.person(person_id)
            if person is None or person.contacts.telegram_id is None:
                continue
            name = html.escape(person.name, quote=False)
            link = f'<a href="tg://user?id={int(person.contacts.telegram_id)}">{name}</a>'
            marked = marked.replace(name, link, 1)
        return marked, "HTML"

    # --- crisis rooms (bot.channels.RoomChannel): topics of the crisis supergroup --------

    def _group(self) -> int:
        if self.cfg.crisis_chat_id is None:
            raise RuntimeError("Telegram : channels.telegram.crisis_chat_id n'est pas configuré")
        return self.cfg.crisis_chat_id

    async def create_room(self, name: str, *, topic: str, private: bool) -> RoomRef:
        # Telegram bots cannot create groups: a topic in the configured forum supergroup. Topics
        # have no description: the topic line goes into the pinned brief.
        made = await self.app.bot.create_forum_topic(chat_id=self._group(), name=name[:128])
        return RoomRef("telegram", f"{self._group()}:{made.message_thread_id}", made.name)

    async def invite(self, room: RoomRef, addresses: list[str], *, banner: str = "") -> list[str]:
        # One cannot invite into a topic: members of the supergroup are mentioned, so notified.
        mentions = []
        for address in addresses:
            person = self.core.inbound.person_for("telegram", address)
            name = html.escape(self.core.inbound.name(person) if person else address)
            mentions.append(f'<a href="tg://user?id={int(address)}">{name}</a>')
        if mentions:
            chat, _, thread = room.room_id.partition(":")
            await self.app.bot.send_message(
                chat_id=int(chat),
                message_thread_id=int(thread),
                text=f"{banner}Cellule de crise : " + ", ".join(mentions),
                parse_mode="HTML",
            )
        return []

    async def post(self, room: RoomRef, text: str) -> PostedRef:
        chat, _, thread = room.room_id.partition(":")
        sent = await self.app.bot.send_message(chat_id=int(chat), message_thread_id=int(thread), text=text)
        return PostedRef(room, str(sent.message_id))

    async def edit(self, posted: PostedRef, text: str) -> None:
        chat, _, _ = posted.room.room_id.partition(":")
        await self.app.bot.edit_message_text(chat_id=int(chat), message_id=int(posted.message_id), text=text)

    async def set_topic(self, room: RoomRef, topic: str) -> None:
        return None  # no topic line on Telegram: it is in the pinned brief

    async def pin(self, posted: PostedRef) -> None:
        chat, _, _ = posted.room.room_id.partition(":")
        await self.app.bot.pin_chat_message(chat_id=int(chat), message_id=int(posted.message_id))

    async def react(self, posted: PostedRef, emoji: str) -> None:
        chat, _, _ = posted.room.room_id.partition(":")
        await self.app.bot.set_message_reaction(
            chat_id=int(chat), message_id=int(posted.message_id), reaction=emoji
        )

    async def set_power(self, room: RoomRef, address: str, level: str) -> None:
        return None  # rights are the supergroup's, given by its administrators

    async def archive(self, room: RoomRef) -> None:
        chat, _, thread = room.room_id.partition(":")
        await self.app.bot.close_forum_topic(chat_id=int(chat), message_thread_id=int(thread))

    def _buttons(self, details: MessageDetails) -> InlineKeyboardMarkup | None:
        if not details.reference or not details.actions:
            return None
        # callback_data is at most 64 bytes: "ack:PFR-2026-000042" fits easily.
        row = [
            InlineKeyboardButton(a.label, callback_data=f"{a.id}:{details.reference}")
            for a in details.actions
        ]
        return InlineKeyboardMarkup([row])

    async def _mark_page(self, page: SentPage, notice: str) -> None:
        chat_id, _, message_id = page.provider_id.partition(":")
        try:
            await self.app.bot.edit_message_text(
                chat_id=int(chat_id), message_id=int(message_id), text=f"{page.text}\n\n✅ {notice}"
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.warning("telegram_edit_failed", error=exc.message)

    # --- incoming -------------------------------------------------------------------

    def _person(self, update: Update) -> str | None:
        user = update.effective_user
        person = self.core.inbound.person_for("telegram", user.id) if user else None
        if person is None:
            log.warning("telegram_unknown_user", user_id=user.id if user else None)
        return person

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        action, _, reference = (query.data or "").partition(":")
        if action == CHAT_CONTACT and reference[1:].isdigit():  # a test de joignabilité of this account
            user = update.effective_user
            chat = query.message.chat.id if query.message is not None else None
            said = await self.core.inbound.contact_confirmed(
                int(reference[1:]), "telegram", {str(a) for a in (chat, user.id if user else None) if a}
            )
            await query.answer(said.text[:200], show_alert=True)
            return
        if action in (CHAT_CONFIRM, CHAT_DONE):  # a partner's button: no person of the directory
            user = update.effective_user
            chat = query.message.chat.id if query.message is not None else None
            said = await self.core.inbound.diffusion_chat(
                reference,
                "telegram",
                {str(a) for a in (chat, user.id if user else None) if a is not None},
                by=f"Telegram {user.full_name} ({user.id})" if user else "Telegram",
                done=action == CHAT_DONE,
            )
            await query.answer(said.text[:200], show_alert=True)
            return
        person = self._person(update)
        if person is None:
            await query.answer(UNKNOWN_USER, show_alert=True)
            return
        if action not in set(Answer):
            await query.answer("Action inconnue.")
            return
        reply = await self.core.inbound.respond(person, reference, Answer(action), "telegram")
        await query.answer(reply.text[:200], show_alert=not reply.ok)

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.chat is not None
        person = self._person(update)
        if person is None:
            await message.reply_text(UNKNOWN_USER)
            return
        origin = Origin(OriginChannel.TELEGRAM, address=str(message.chat.id), person_id=person)
        replied = message.reply_to_message
        answered = find_reference(replied.text or "") if replied is not None else None
        reply = await self.core.inbound.handle_message(
            person, message.text or "", origin, answered, replied_text=replied.text if replied else None
        )
        await message.reply_text(reply.text, reply_parameters=ReplyParameters(message_id=message.message_id))

    def _room_message(self, message: Message, key: str) -> RoomMessage | None:
        if not message.message_thread_id or message.chat is None:
            return None  # the supergroup's general topic is not a crisis room
        user = message.from_user
        person = self.core.inbound.person_for("telegram", user.id) if user else None
        label = f"Telegram {user.username or user.full_name} ({user.id})" if user else "Telegram ?"
        files = [
            {
                "name": getattr(item, "file_name", None) or kind,
                "type": getattr(item, "mime_type", None) or kind,
            }
            for kind, item in (
                ("document", message.document),
                ("photo", message.photo[-1] if message.photo else None),
            )
            if item is not None
        ]
        return RoomMessage(
            platform="telegram",
            room_id=f"{message.chat.id}:{message.message_thread_id}",
            key=key,
            text=message.text or message.caption or "",
            person_id=person,
            author_label=label,
            attachments=tuple(files),
        )

    async def _on_room_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or (message.from_user is not None and message.from_user.is_bot):
            return
        room = self._room_message(message, f"telegram:{message.chat.id}:{message.message_id}")
        if room is None:
            return
        # Telegram may deliver an update twice: the message id is the entry's key.
        reply = await self.core.inbound.room_message(room)
        if reply is not None and reply.text:
            await message.reply_text(
                reply.text, reply_parameters=ReplyParameters(message_id=message.message_id)
            )

    async def _on_room_edit(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.edited_message
        if message is None or (message.from_user is not None and message.from_user.is_bot):
            return
        stamp = int(message.edit_date.timestamp()) if message.edit_date else 0
        original = f"telegram:{message.chat.id}:{message.message_id}"
        room = self._room_message(message, f"{original}:edit:{stamp}")
        if room is not None:
            await self.core.inbound.room_change(room, original)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram_handler_failed", error=repr(context.error))
