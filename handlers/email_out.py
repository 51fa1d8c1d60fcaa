"""E-mail pages and notices (aiosmtplib), with signed, expiring links to take or escalate.

Opening a link (GET) only shows a confirmation page with one button; the POST acts. Mail
security scanners fetch links before people do, and a prefetch must never take an alert.
"""

from __future__ import annotations

import base64
import email.charset
import email.policy
import html
from datetime import timedelta
from email import encoders
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any

import aiosmtplib
import structlog
from fastapi import Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeSerializer

from bot.channels import DeliveryOutcome, DeliveryResult, MessageDetails, ProviderUnreachable
from bot.config import EmailConfig
from bot.inbound import Answer
from bot.models import OutboxMessageRow
from bot.settings import env_secret as secret
from bot.settings import optional_env
from handlers.smtp_pool import SmtpPool

if TYPE_CHECKING:
    from bot.ports import Core

log = structlog.get_logger("vigie.email")

LINK_PATH = "/links/{token}"
RETEX_PATH = "/retex/{token}"
# Python's email package drops the space between two encoded words when it folds a long
# non-ASCII header (« Pénurie d'oxygène » arrives as « Pénuried'oxygène »): headers are kept on
# one line, which RFC 5322 allows up to 998 characters; subjects quote at most 150 of a title.
_UNFOLDED = email.policy.compat32.clone(linesep="\r\n", max_line_length=998)
_UTF8 = email.charset.Charset("utf-8")
_UTF8.body_encoding = email.charset.QP  # 7-bit safe through any relay, readable in the raw


def _address(value: str) -> str:
    """An address header, its display name encoded if it is not ASCII."""
    if value.isascii():
        return value
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8")


def _param(value: str) -> str | tuple[str, str, str]:
    """A MIME parameter (a file name), RFC 2231-encoded if it is not ASCII."""
    return value if value.isascii() else ("utf-8", "", value)


ACTIONS_FR = {
    "ack": "Je prends en charge",
    "escalate": "Escalader",
    "join": "Je rejoins la cellule de crise",
    "confirm": "Je confirme la réception",
    "done": "Action réalisée",
    "contact": "Je confirme que cette adresse me joint",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>Vigie</title>"
        f"<meta name='viewport' content='width=device-width'></head><body style='font-family:sans-serif'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


class EmailChannel:
    name = "email"
    local = False

    def __init__(self, core: Core, cfg: EmailConfig) -> None:
        self.core, self.cfg = core, cfg
        self.signer = URLSafeSerializer(
            secret(cfg.link_secret_env, "E-mail activé sans secret de liens"), salt="vigie-link"
        )
        # A local relay may need no login: both are optional.
        self.username, self.password = optional_env(cfg.username_env), optional_env(cfg.password_env)
        self.public = (core.config.desk.public_url or "").rstrip("/")
        self.pool = SmtpPool(cfg, self.username, self.password, size=cfg.sessions)
        self._sender = parseaddr(str(cfg.from_address))[1]  # the envelope's MAIL FROM

    async def start(self) -> None:
        """Check that the relay answers (and accepts the credentials) before counting on it."""
        try:
            await self.pool.open()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise RuntimeError(f"le relais SMTP refuse les identifiants ({exc.code})") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise ProviderUnreachable(
                f"relais SMTP {self.cfg.smtp_host}:{self.cfg.smtp_port} injoignable : {exc}"
            ) from exc

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return [
            (LINK_PATH, self.confirm, ["GET"]),
            (LINK_PATH, self.act, ["POST"]),
            (RETEX_PATH, self.retex_form, ["GET"]),
            (RETEX_PATH, self.retex_answers, ["POST"]),
        ]

    async def stop(self) -> None:
        await self.pool.close()

    # --- links ----------------------------------------------------------------------

    def link(self, action: str, reference: str, person: str, *, ttl: timedelta | None = None) -> str:
        expires = self.core.clock.now() + (ttl or self.cfg.link_ttl)
        token = self.signer.dumps({"a": action, "r": reference, "p": person, "x": int(expires.timestamp())})
        path = RETEX_PATH if action == "retex" else LINK_PATH
        return f"{self.public}{path.format(token=token)}"

    def _read(self, token: str) -> dict[str, Any] | HTMLResponse:
        try:
            data = self.signer.loads(token)
        except BadSignature:
            log.warning("email_link_tampered")
            return _page("Lien invalide", "<p>Ce lien n'est pas valide : rien n'a été fait.</p>", 403)
        if data.get("x", 0) < self.core.clock.now().timestamp():
            return _page(
                "Lien expiré",
                "<p>Ce lien a expiré : rien n'a été fait. Utilisez un autre moyen "
                "(SMS, chat, téléphone de permanence).</p>",
                410,
            )
        return data

    async def confirm(self, request: Request) -> HTMLResponse:
        data = self._read(request.path_params["token"])
        if isinstance(data, HTMLResponse):
            return data
        label = ACTIONS_FR.get(data["a"], data["a"])
        return _page(
            f"Alerte {data['r']}",
            f"<form method='post'><button type='submit' autofocus style='font-size:1.5em'>"
            f"{html.escape(label)}</button></form>",
        )

    async def act(self, request: Request) -> HTMLResponse:
        data = self._read(request.path_params["token"])
        if isinstance(data, HTMLResponse):
            return data
        if data["a"] in ("confirm", "done"):  # a partner confirms a diffusion (or the action asked)
            said = await self.core.inbound.confirm_receipt(
                data["r"], data["p"], "email", done=data["a"] == "done"
            )
            return _page(
                f"Diffusion {data['r']}", f"<p>{html.escape(said.text)}</p>", 200 if said.ok else 409
            )
        if data["a"] == "contact" and str(data["r"])[1:].isdigit():  # this address answers its test
            said = await self.core.inbound.contact_confirmed(int(str(data["r"])[1:]), "email", None)
            return _page("Test de joignabilité", f"<p>{html.escape(said.text)}</p>", 200 if said.ok else 409)
        reply = await self.core.inbound.respond(data["p"], data["r"], Answer(data["a"]), "email")
        return _page(f"Alerte {data['r']}", f"<p>{html.escape(reply.text)}</p>", 200 if reply.ok else 409)

    # --- the hot RETEX's form --------------------------------------------------------

    def _retex_token(self, request: Request) -> dict[str, Any] | HTMLResponse:
        data = self._read(request.path_params["token"])
        if not isinstance(data, HTMLResponse) and data.get("a") != "retex":
            return _page("Lien invalide", "<p>Ce lien n'est pas un lien de RETEX.</p>", 403)
        return data

    async def retex_form(self, request: Request) -> HTMLResponse:
        data = self._retex_token(request)
        if isinstance(data, HTMLResponse):
            return data
        fields = "".join(
            f"<p><label for='q{i}'><b>{i}. {html.escape(q)}</b></label><br>"
            f"<textarea id='q{i}' name='q{i}' rows='4' cols='70'></textarea></p>"
            for i, q in enumerate(self.core.config.crisis.retex.questions, start=1)
        )
        return _page(
            f"RETEX à chaud {data['r']}",
            f"<form method='post'>{fields}<button type='submit' style='font-size:1.3em'>Envoyer mes réponses"
            "</button></form><p>Laissez vide une question à laquelle vous ne souhaitez pas répondre.</p>",
        )

    async def retex_answers(self, request: Request) -> HTMLResponse:
        data = self._retex_token(request)
        if isinstance(data, HTMLResponse):
            return data
        form = await request.form()
        answers = {
            int(key[1:]): str(value) for key, value in form.items() if key[:1] == "q" and key[1:].isdigit()
        }
        reply = await self.core.inbound.retex_form(data["p"], data["r"], answers, "email")
        return _page(
            f"RETEX à chaud {data['r']}", f"<p>{html.escape(reply.text)}</p>", 200 if reply.ok else 409
        )

    # --- sending --------------------------------------------------------------------

    def compose(self, message: OutboxMessageRow) -> tuple[str, str]:
        """The subject and the text of a message's mail."""
        details = MessageDetails.of(message)
        body = message.text
        if details.is_page and details.reference:
            banner = details.banner(self.core.config.desk.language)
            subject = f"{banner}[Vigie] {details.reference} — {details.title[:150]}"
            person = message.recipient_person_id or ""
            ttl = int(self.cfg.link_ttl / timedelta(hours=1))
            body += (
                f"\n\nPrendre en charge : {self.link('ack', details.reference, person)}"
                f"\nEscalader : {self.link('escalate', details.reference, person)}"
                f"\n(liens personnels, valables {ttl} h)"
            )
        elif message.kind == "crisis_call" and details.reference:
            banner = details.banner(self.core.config.desk.language)
            subject = f"{banner}[Vigie] Cellule de crise {details.reference} — {details.title[:150]}"
            person = message.recipient_person_id or ""
            body += f"\n\nRejoindre la cellule : {self.link('join', details.reference, person)}"
        elif message.kind == "diffusion" and details.reference:
            subject = message.subject or f"[Vigie] {details.reference}"
            partner = str(message.data.get("partner") or "")
            cfg = self.core.config.diffusion
            valid = cfg.cycle_wait * cfg.cycles + timedelta(days=7)  # links outlive the cycles
            body += (
                f"\n\nConfirmer la réception : {self.link('confirm', details.reference, partner, ttl=valid)}"
            )
            if message.data.get("nature") == "action":  # POUR ACTION: say when it is done, too
                body += f"\nAction réalisée : {self.link('done', details.reference, partner, ttl=valid)}"
            body += "\n(liens propres à votre établissement)"
        elif message.kind == "contact_check" and details.reference:  # a test de joignabilité
            subject = message.subject or f"[Vigie] {details.reference}"
            valid = self.core.config.drills.contacts.confirm_within + timedelta(days=1)
            person = message.recipient_person_id or ""
            body += f"\n\nConfirmer : {self.link('contact', details.reference, person, ttl=valid)}"
        elif message.kind == "retex_question" and details.reference:
            banner = details.banner(self.core.config.desk.language)
            subject = f"{banner}[Vigie] RETEX à chaud {details.reference} — {details.title[:150]}"
            person = message.recipient_person_id or ""
            hot = self.core.config.crisis.retex.hot_deadline
            questions = "\n".join(
                f"{i}. {q}" for i, q in enumerate(message.data.get("questions") or [], start=1)
            )
            body = (
                f"{banner}La cellule de crise {details.reference} « {details.title} » est close. "
                f"Quelques questions pour le retour d'expérience à chaud :\n\n{questions}\n\n"
                f"Répondre (formulaire personnel, jusqu'au {message.data.get('until')}) : "
                f"{self.link('retex', details.reference, person, ttl=hot)}"
            )
        else:
            subject = message.subject or "Vigie"
        return subject, body

    def render(self, message: OutboxMessageRow) -> Message:
        """The mail, built with the email package's compat32 API: the modern one parses and
        refolds every header it is given, three times the cost of the whole rest of a page."""
        subject, body = self.compose(message)
        text = MIMENonMultipart("text", "plain", policy=_UNFOLDED)
        text.set_payload(body, _UTF8)
        attachments = (message.data or {}).get("attachments") or []
        mail: Message = text
        if attachments:
            mail = MIMEMultipart("mixed", policy=_UNFOLDED)
            mail.attach(text)
            for item in attachments:
                content_type = str(item.get("content_type", "application/octet-stream"))
                maintype, _, subtype = content_type.partition("/")
                part = MIMEBase(maintype, subtype or "octet-stream", policy=_UNFOLDED)
                part.set_payload(base64.b64decode(item["base64"]))
                encoders.encode_base64(part)
                part.add_header("Content-Disposition", "attachment", filename=_param(item["filename"]))
                mail.attach(part)
        mail["From"] = _address(str(self.cfg.from_address))
        mail["To"] = _address(message.recipient_address or "")
        mail["Message-ID"] = make_msgid(domain="vigie")
        # One encoded word, on one line: Header.encode fits words to a line length the slow way.
        mail["Subject"] = subject if subject.isascii() else _UTF8.header_encode(subject)
        return mail

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult:
        try:
            mail = self.render(message)
            await self.pool.send(
                mail.as_bytes(policy=_UNFOLDED), self._sender, [message.recipient_address or ""]
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return DeliveryResult(
                DeliveryOutcome.PERMANENT,
                error=f"adresse refusée : {exc}",
                desk_warning=f"adresse e-mail refusée ({message.recipient_address})",
            )
        except aiosmtplib.SMTPResponseException as exc:
            outcome = DeliveryOutcome.PERMANENT if exc.code >= 500 else DeliveryOutcome.TRANSIENT
            return DeliveryResult(outcome, error=f"SMTP {exc.code} : {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"SMTP injoignable : {exc}")
        # Accepted by the relay: as far as e-mail can tell, delivered.
        return DeliveryResult(DeliveryOutcome.DELIVERED)
