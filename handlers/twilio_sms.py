"""SMS through Twilio: pages with a reply code, replies that take or escalate, the desk's number
as an entry point, and delivery status callbacks. Every webhook is checked with X-Twilio-Signature
(computed over the public URL Twilio called, rebuilt from desk.public_url behind a proxy)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Request
from fastapi.responses import Response

from bot.channels import DeliveryOutcome, DeliveryResult, MessageDetails
from bot.domain import OriginChannel
from bot.inbound import Answer
from bot.intake import Origin, SignalDraft
from bot.models import OutboxMessageRow
from handlers.twilio_account import TWILIO_ERRORS, TwilioAccount, failure

if TYPE_CHECKING:
    from bot.ports import Core

log = structlog.get_logger("vigie.twilio")

SMS_PATH, STATUS_PATH = "/twilio/sms", "/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# « 42 », « 42 ok », « ok 42 », « 42E », « 42 esc » — spaces and case ignored.
REPLY = re.compile(
    r"^\s*(?:ok\s*)?(\d{1,6})\s*(e|esc|escalade|escalader)?\s*(?:ok)?\s*[.!]?\s*$", re.IGNORECASE
)
MAX_SMS = 480


# « D7 », « d 7 ok », « OK D7 », « D7 FAIT » (the action asked is done).
DIFFUSION_REPLY = re.compile(r"^\s*(?:ok\s+)?d\s?(\d{1,6})\s*(fait|done)?\s*(?:ok|re[cç]u)?\s*$", re.I)


# « T12 », « t 12 ok »: the answer to a test de joignabilité of this number.
CONTACT_REPLY = re.compile(r"^\s*(?:ok\s+)?t\s?(\d{1,9})\s*(?:ok|re[cç]u)?\s*[.!]?\s*$", re.I)


def sms_text(message: OutboxMessageRow, lang: str = "fr") -> str:
    """Pages are short on SMS: reference, title and the reply codes."""
    details = MessageDetails.of(message)
    if not details.is_page:
        return message.text[:MAX_SMS]
    code = details.code
    return (
        f"{details.banner(lang)}Vigie {details.reference} : {details.title[:120]}. "
        f"Répondez {code} pour prendre en charge, {code}E pour escalader."
    )[:MAX_SMS]


class TwilioSmsChannel:
    name = "sms"
    local = False

    def __init__(self, core: Core, account: TwilioAccount) -> None:
        self.core, self.account, self.cfg = core, account, account.cfg
        self.public = account.public

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
                body=sms_text(message, self.core.config.desk.language),
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
        inbound = self.core.inbound
        sender, body = form.get("From", ""), form.get("Body", "").strip()
        person = inbound.person_for("sms", sender)
        testing = CONTACT_REPLY.match(body)
        if testing is not None:  # « T12 »: this number answers its test de joignabilité
            said = await inbound.contact_code(sender, int(testing[1]))
            text = said.text if said is not None else "code de test inconnu pour ce numéro."
            await inbound.send_reply("sms", sender, f"Vigie : {text}", person)
            return Response(EMPTY_TWIML, media_type="text/xml")
        confirming = DIFFUSION_REPLY.match(body)
        if confirming is not None:  # « D7 » from a partner's on-call phone: a diffusion received
            said = await inbound.diffusion_code(sender, int(confirming[1]), done=bool(confirming[2]))
            await inbound.send_reply("sms", sender, f"Vigie : {said.text}", person)
            return Response(EMPTY_TWIML, media_type="text/xml")
        if person is not None:
            # « CRISE-2026-0003 … » or « MC … » from a member: into that crisis's main courante.
            sid = form.get("MessageSid") or None
            logged = await inbound.main_courante_message(
                person, body, "sms", key=f"sms:{sid}" if sid else None
            )
            if logged is not None:
                await inbound.send_reply("sms", sender, f"Vigie : {logged.text}", person)
                return Response(EMPTY_TWIML, media_type="text/xml")
        match = REPLY.match(body)
        if match is None:
            # Not a reply code: a new signal from whoever wrote, known or not.
            # An unknown number writing again and again joins its first signal (one page, one
            # receipt per window): Vigie must not be a way to flood the desk or spam a number.
            flood = person is None
            await inbound.raise_signal(
                SignalDraft(
                    title=(body.splitlines() or ["SMS sans texte"])[0][:120] or "SMS sans texte",
                    body=body or None,
                    source="sms",
                    reporter=inbound.name(person) if person else sender,
                    origin=Origin(OriginChannel.SMS, address=sender, person_id=person, reply_channel="sms"),
                    dedup_key=f"flood:sms:{sender}" if flood else None,
                    dedup_window=self.core.config.intake.floods.window if flood else None,
                )
            )
        elif person is None:
            log.warning("twilio_unknown_number", number=sender)
            await inbound.send_reply(
                "sms",
                sender,
                "Vigie : ce numéro n'est pas dans l'annuaire, la réponse n'a pas été prise en compte. "
                "Pour signaler, envoyez un message en toutes lettres.",
            )
        else:
            response = Answer.ESCALATE if match.group(2) else Answer.ACK
            reply = await inbound.respond_to_code(person, int(match.group(1)), response, "sms")
            await inbound.send_reply("sms", sender, f"Vigie : {reply.text}", person)
        # Answer Twilio at once; replies go out through the outbox.
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def status_webhook(self, request: Request) -> Response:
        form = await self.account.verified(request)
        if form is None:
            return Response("Signature Twilio invalide.", status_code=403)
        known = await self.core.inbound.delivery_report(
            "sms", form.get("MessageSid", ""), form.get("MessageStatus", ""), form.get("ErrorCode")
        )
        if not known:
            log.warning("twilio_status_unknown_message", sid=form.get("MessageSid"))
        return Response(status_code=204)
