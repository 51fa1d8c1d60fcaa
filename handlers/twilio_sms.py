"""SMS through Twilio: pages with a reply code, replies that take or escalate, the desk's number
as an entry point, and delivery status callbacks. Every webhook is checked with X-Twilio-Signature
(computed over the public URL Twilio called, rebuilt from desk.public_url behind a proxy)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Request
from fastapi.responses import Response

from bot.channels import DeliveryOutcome, DeliveryResult
from bot.domain import OriginChannel
from bot.intake import Origin, SignalDraft
from bot.models import OutboxMessageRow
from bot.outbox import send_reply
from escalation.actions import ActionError, signal_for_code
from handlers.twilio_account import TWILIO_ERRORS, TwilioAccount, failure

if TYPE_CHECKING:
    from bot.app import Vigie

log = structlog.get_logger("vigie.twilio")

SMS_PATH, STATUS_PATH = "/twilio/sms", "/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# « 42 », « 42 ok », « ok 42 », « 42E », « 42 esc » — spaces and case ignored.
REPLY = re.compile(
    r"^\s*(?:ok\s*)?(\d{1,6})\s*(e|esc|escalade|escalader)?\s*(?:ok)?\s*[.!]?\s*$", re.IGNORECASE
)
MAX_SMS = 480


def sms_text(message: OutboxMessageRow) -> str:
    """Pages are short on SMS: reference, title and the reply codes."""
    data = message.data
    if message.kind != "page" or not data.get("reference"):
        return message.text[:MAX_SMS]
    prefix = "EXERCICE EXERCICE EXERCICE " if data.get("exercise") else ""
    code = data.get("code")
    return (
        f"{prefix}Vigie {data['reference']} : {str(data.get('title', ''))[:120]}. "
        f"Répondez {code} pour prendre en charge, {code}E pour escalader."
    )[:MAX_SMS]


class TwilioSmsChannel:
    name = "sms"
    local = False

    def __init__(self, vigie: Vigie, account: TwilioAccount) -> None:
        self.vigie, self.account, self.cfg = vigie, account, account.cfg
        self.public = account.public
        self.people = {p.contacts.phone: p.id for p in vigie.config.people if p.contacts.phone}

    async def start(self) -> None:
        await self.account.start()
        log.info("twilio_sms_ready", number=self.cfg.sms_from)

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [(SMS_PATH, self.sms_webhook, ["POST"]), (STATUS_PATH, self.status_webhook, ["POST"])]

    async def stop(self) -> None:
        await self.account.stop()

    # --- outgoing -------------------------------------------------------------------

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult:
        try:
            sent = await self.account.client.messages.create_async(
                to=message.recipient_address or "",
                from_=self.cfg.sms_from,
                body=sms_text(message),
                status_callback=f"{self.public}{STATUS_PATH}",
            )
        except TWILIO_ERRORS as exc:
            return failure(exc, message.recipient_address)
        # Handed to Twilio; the status callback says whether it reached the phone.
        return DeliveryResult(DeliveryOutcome.SENT, provider_id=sent.sid)

    # --- webhooks -------------------------------------------------------------------

    async def sms_webhook(self, request: Request) -> Response:
        form = await self.account.verified(request)
        if form is None:
            return Response("Signature Twilio invalide.", status_code=403)
        sender, body = form.get("From", ""), form.get("Body", "").strip()
        person = self.people.get(sender)
        now = self.vigie.clock.now()
        match = REPLY.match(body)
        if match:
            await self._reply_code(sender, person, int(match.group(1)), bool(match.group(2)), now)
        else:
            name = self.vigie.engine.ctx.name(person) if person else None
            receipt = await self.vigie.intake.accept(
                SignalDraft(
                    title=(body.splitlines() or ["SMS sans texte"])[0][:120] or "SMS sans texte",
                    body=body or None,
                    source="sms",
                    reporter=name or sender,
                    origin=Origin(OriginChannel.SMS, address=sender, person_id=person, reply_channel="sms"),
                )
            )
            self.vigie.after_intake(receipt)
        self.vigie.poke()
        # Answer at once; replies go out through the outbox.
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def _reply_code(self, sender: str, person: str | None, code: int, escalate: bool, now) -> None:  # type: ignore[no-untyped-def]
        async def answer(text: str) -> None:
            await send_reply(self.vigie.db, now, "sms", sender, text, person)

        if person is None:
            log.warning("twilio_unknown_number", number=sender)
            await answer(
                "Vigie : ce numéro n'est pas dans l'annuaire, la réponse n'a pas été prise en compte. "
                "Pour signaler, envoyez un message en toutes lettres."
            )
            return
        reference, paged = await signal_for_code(self.vigie.db, self.vigie.engine.ctx, code, person)
        if reference is None or not paged:
            await answer(
                f"Vigie : le code {code} ne correspond à aucune alerte qui vous a été envoyée. "
                "Rien n'a été fait."
            )
            return
        try:
            if escalate:
                result = await self.vigie.actions.escalate(reference, person)
            else:
                result = await self.vigie.actions.acknowledge(reference, person, channel="sms")
        except ActionError as exc:
            await answer(f"Vigie : {exc.message}")
            return
        self.vigie.after_action(result)
        await answer(f"Vigie : {result.message}")

    async def status_webhook(self, request: Request) -> Response:
        form = await self.account.verified(request)
        if form is None:
            return Response("Signature Twilio invalide.", status_code=403)
        known = await self.vigie.dispatcher.provider_status(
            "sms", form.get("MessageSid", ""), form.get("MessageStatus", ""), form.get("ErrorCode")
        )
        if not known:
            log.warning("twilio_status_unknown_message", sid=form.get("MessageSid"))
        return Response(status_code=204)
