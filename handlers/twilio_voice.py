"""Voice pages through Twilio: the page read in French, one key to take it (1), escalate (2) or
hear it again (9). An answering machine, no answer, busy or a failed call fails over at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Request
from fastapi.responses import Response
from twilio.twiml.voice_response import Gather, VoiceResponse

from bot.channels import DeliveryOutcome, DeliveryResult, MessageDetails
from bot.inbound import Answer
from bot.models import OutboxMessageRow
from handlers.twilio_account import TWILIO_ERRORS, TwilioAccount, failure

if TYPE_CHECKING:
    from bot.ports import Core

log = structlog.get_logger("vigie.twilio.voice")

VOICE_PATH = "/twilio/voice/{message_id}"
CALL_STATUS_PATH = "/twilio/call-status"
FR = "fr-FR"
MENU = "Appuyez sur 1 pour prendre en charge, sur 2 pour escalader, sur 9 pour réécouter."
CRISIS_MENU = "Appuyez sur 1 pour rejoindre la cellule de crise, sur 9 pour réécouter."
DIFFUSION_MENU = "Appuyez sur 1 pour confirmer la réception, sur 9 pour réécouter."
CONTACT_MENU = "Appuyez sur 1 pour confirmer ce numéro, sur 9 pour réécouter."


def spoken(message: OutboxMessageRow, lang: str = "fr") -> str:
    details = MessageDetails.of(message)
    if not details.is_page:
        return message.text
    return f"{details.banner(lang, spoken=True)}Alerte Vigie, signal numéro {details.code} : {details.title}."


def twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="text/xml")


class TwilioVoiceChannel:
    name = "voice"
    local = False

    def __init__(self, core: Core, account: TwilioAccount) -> None:
        self.core, self.account, self.cfg = core, account, account.cfg

    async def start(self) -> None:
        await self.account.start()

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [
            (VOICE_PATH, self.answer, ["POST"]),
            (VOICE_PATH + "/gather", self.gather, ["POST"]),
            (CALL_STATUS_PATH, self.call_status, ["POST"]),
        ]

    async def stop(self) -> None:
        await self.account.stop()

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult:
        public = self.account.public
        try:
            call = await self.account.client.calls.create_async(
                to=message.recipient_address or "",
                from_=self.cfg.voice_from or self.cfg.sms_from,
                url=f"{public}{VOICE_PATH.format(message_id=message.id)}",
                status_callback=f"{public}{CALL_STATUS_PATH}",
                status_callback_event=["completed"],
                machine_detection="Enable",
                timeout=30,
            )
        except TWILIO_ERRORS as exc:
            return failure(exc, message.recipient_address)
        return DeliveryResult(DeliveryOutcome.SENT, provider_id=call.sid)

    async def _message(self, raw_id: str) -> OutboxMessageRow | None:
        # The id is ours, in a URL Twilio calls back: anything else (letters, 40 digits) is unknown.
        if not raw_id.isdigit() or len(raw_id) > 18:
            return None
        message_id = int(raw_id)
        async with self.core.db.read_session() as session:
            return await session.get(OutboxMessageRow, message_id)

    def _menu(self, message: OutboxMessageRow, intro: str) -> VoiceResponse:
        response = VoiceResponse()
        gather = Gather(
            num_digits=1,
            action=f"{VOICE_PATH.format(message_id=message.id)}/gather",
            method="POST",
            timeout=10,
        )
        menu = {"crisis_call": CRISIS_MENU, "diffusion": DIFFUSION_MENU, "contact_check": CONTACT_MENU}.get(
            message.kind, MENU
        )
        gather.say(f"{intro} {menu}".strip(), language=FR)
        response.append(gather)
        response.say("Aucune touche reçue. L'alerte reste en attente. Au revoir.", language=FR)
        return response

    async def answer(self, request: Request) -> Response:
        form = await self.account.verified(request)
        if form is None:
            return Response("Signature Twilio invalide.", status_code=403)
        message = await self._message(str(request.path_params["message_id"]))
        if message is None:
            response = VoiceResponse()
            response.say("Alerte inconnue. Au revoir.", language=FR)
            return twiml(response)
        if form.get("AnsweredBy", "human").startswith(("machine", "fax")):
            # A voicemail cannot take an alert: hang up and try the person's next channel.
            await self.core.inbound.delivery_report("voice", form.get("CallSid", ""), "failed", "répondeur")
            response = VoiceResponse()
            response.hangup()
            return twiml(response)
        return twiml(self._menu(message, spoken(message, self.core.config.desk.language)))

    async def gather(self, request: Request) -> Response:
        form = await self.account.verified(request)
        if form is None:
            return Response("Signature Twilio invalide.", status_code=403)
        message = await self._message(str(request.path_params["message_id"]))
        digits = form.get("Digits", "")
        if message is not None and message.kind == "diffusion":  # a partner's on-call phone
            if digits == "9":
                return twiml(self._menu(message, spoken(message, self.core.config.desk.language)))
            if digits != "1":
                return twiml(self._menu(message, "Touche non reconnue."))
            said = await self.core.inbound.confirm_receipt(
                str(message.data.get("reference")), str(message.data.get("partner")), "voice"
            )
            answer = VoiceResponse()
            answer.say("C'est noté : réception confirmée. Merci." if said.ok else said.text, language=FR)
            return twiml(answer)
        if message is not None and message.kind == "contact_check":  # a test de joignabilité
            if digits == "9":
                return twiml(self._menu(message, spoken(message, self.core.config.desk.language)))
            if digits != "1":
                return twiml(self._menu(message, "Touche non reconnue."))
            said = await self.core.inbound.contact_confirmed(
                int(message.data.get("probe") or 0), "voice", None
            )
            answer = VoiceResponse()
            answer.say("C'est noté : ce numéro est confirmé. Merci." if said.ok else said.text, language=FR)
            return twiml(answer)
        if message is None or not message.recipient_person_id:
            return twiml(VoiceResponse())
        reference, person = message.data.get("reference", ""), message.recipient_person_id
        response = VoiceResponse()
        if digits == "9":
            return twiml(self._menu(message, spoken(message, self.core.config.desk.language)))
        if message.kind == "crisis_call":
            if digits != "1":
                return twiml(self._menu(message, "Touche non reconnue."))
            joined = await self.core.inbound.respond(person, reference, Answer.JOIN, "voice")
            response.say(
                joined.text if not joined.ok else "C'est noté : vous rejoignez la cellule.", language=FR
            )
            return twiml(response)
        if digits not in ("1", "2"):
            return twiml(self._menu(message, "Touche non reconnue."))
        choice = Answer.ACK if digits == "1" else Answer.ESCALATE
        reply = await self.core.inbound.respond(person, reference, choice, "voice")
        if not reply.ok:
            response.say(reply.text, language=FR)
        elif choice is Answer.ACK:
            response.say("C'est noté : vous prenez en charge l'alerte. Merci.", language=FR)
        else:
            response.say("C'est noté : l'étape suivante est appelée. Merci.", language=FR)
        return twiml(response)

    async def call_status(self, request: Request) -> Response:
        form = await self.account.verified(request)
        if form is None:
            return Response("Signature Twilio invalide.", status_code=403)
        status = form.get("CallStatus", "")
        outcome = (
            "delivered"
            if status == "completed"
            else "failed"
            if status in ("busy", "failed", "no-answer", "canceled")
            else None
        )
        if outcome is not None:
            await self.core.inbound.delivery_report(
                "voice", form.get("CallSid", ""), outcome, None if outcome == "delivered" else status
            )
        return Response(status_code=204)
