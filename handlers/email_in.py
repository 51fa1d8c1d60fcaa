"""The "alerte" mailbox: an SMTP receiver (aiosmtpd) on the service's own event loop.

A mail to a configured address becomes a signal, with a receipt mailed back; a mail whose
subject carries an open reference is added to that signal's history. ``250`` is answered only
once the mail is committed; if the store is down the answer is ``451`` and the sender's server
tries again later, so an accepted mail is never lost.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import re
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.config import MailboxConfig
from bot.db import UNAVAILABLE_ERRORS
from bot.diffusion.models import NATURE_LABELS
from bot.diffusion.national import recognise
from bot.diffusion.service import DIFFUSION_REFERENCE
from bot.domain import Category, OriginChannel
from bot.intake import Origin, SignalDraft
from bot.signals import find_reference
from bot.texts import t

if TYPE_CHECKING:
    from bot.ports import Core

log = structlog.get_logger("vigie.mailbox")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def read_mail(raw: bytes) -> tuple[str, str, str, list[dict[str, Any]]]:
    """Sender, subject, text and attachments (name, type, size) of a mail, whatever its encodings."""
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    sender = parseaddr(str(mail.get("From", "")))[1]
    subject = " ".join(str(mail.get("Subject", "")).split()) or "(sans objet)"
    part = mail.get_body(preferencelist=("plain", "html"))
    text = ""
    if part is not None:
        content = part.get_content()
        text = html_to_text(content) if part.get_content_type() == "text/html" else content.strip()
    attachments = [
        {
            "filename": a.get_filename(),
            "content_type": a.get_content_type(),
            "size": len(a.get_payload(decode=True) or b""),
        }
        for a in mail.iter_attachments()
    ]
    return sender, subject, text, attachments


_AUTO_SUBJECT = re.compile(
    r"^\s*(r[ée]ponse automatique|automatic reply|auto(?:matic)?[- ]?reply|out of (the )?office|absen(ce|t))",
    re.I,
)


def is_automatic(raw: bytes, subject: str) -> bool:
    """An out-of-office or other automatic answer (RFC 3834 Auto-Submitted, the usual vendor
    headers, or its subject)."""
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    submitted = str(mail.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(mail.get("Precedence", "")).strip().lower()
    return (
        submitted != "no"
        or precedence in ("auto_reply", "bulk", "junk", "list")
        or any(mail.get(h) is not None for h in ("X-Autoreply", "X-Autorespond"))
        or bool(_AUTO_SUBJECT.match(re.sub(r"^\s*(re|tr|fwd?)\s*:\s*", "", subject, flags=re.I)))
    )


def attachment_contents(raw: bytes) -> list[dict[str, Any]]:
    """The attachments with their bytes (base64), for a message to relay as it came."""
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    found = []
    for item in mail.iter_attachments():
        payload = item.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append(
            {
                "filename": item.get_filename() or "piece-jointe",
                "content_type": item.get_content_type(),
                "size": len(data),
                "base64": base64.b64encode(data).decode(),
            }
        )
    return found


class AlertMailbox:
    name = "mailbox"

    def __init__(self, core: Core, cfg: MailboxConfig) -> None:
        self.core, self.cfg = core, cfg
        self.addresses = {str(a).lower() for a in cfg.addresses}
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, data_size_limit=self.cfg.max_bytes, enable_SMTPUTF8=True, hostname="vigie"),
            host=self.cfg.host,
            port=self.cfg.port,
        )
        log.info("mailbox_listening", host=self.cfg.host, port=self.cfg.port)

    def routes(self) -> list[tuple[str, Any, list[str]]]:
        return []  # speaks SMTP on its own port

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() not in self.addresses:
            return "550 5.1.1 Adresse inconnue de ce point d'entrée"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        try:
            reference = await self._store(envelope.mail_from or "", raw)
        except UNAVAILABLE_ERRORS:
            log.exception("mailbox_store_unavailable")
            return "451 4.3.0 Base indisponible : message non enregistre, reessayez plus tard"
        except Exception:
            log.exception("mailbox_failed")
            return "451 4.3.0 Erreur locale : message non enregistre, reessayez plus tard"
        return f"250 2.0.0 Message enregistre ({reference})"

    async def _store(self, mail_from: str, raw: bytes) -> str:
        sender, subject, text, attachments = read_mail(raw)
        sender = sender or mail_from
        quoted = DIFFUSION_REFERENCE.search(subject)
        if quoted is not None:  # « RE: [Vigie] DIFF-2026-0007 … » from a partner: received
            if is_automatic(raw, subject):
                # An out-of-office answer to a diffusion confirms nothing, and pages nobody.
                log.info("mailbox_auto_reply_ignored", reference=quoted[1].upper())
                return f"{quoted[1].upper()}, réponse automatique ignorée"
            confirmed = await self.core.inbound.diffusion_mail(quoted[1], sender, text)
            if confirmed is not None:
                return confirmed.reference or quoted[1].upper()
        person = self.core.inbound.person_for("email", sender)
        origin = Origin(
            OriginChannel.EMAIL,
            address=sender,
            person_id=person,
            reply_channel="email" if "@" in sender else None,
        )
        if person is not None:
            # « CRISE-2026-0003 … » or « MC … » in the subject, from a member: its main courante.
            logged = await self.core.inbound.main_courante_message(
                person,
                f"{subject}\n{text}".strip(),
                "email",
                attachments=tuple(
                    {"name": str(a.get("filename", "?")), "type": str(a.get("content_type", ""))}
                    for a in attachments
                ),
            )
            if logged is not None and logged.ok and logged.reference:
                return logged.reference
        mentioned = find_reference(subject)
        if mentioned:
            added = await self.core.inbound.add_to_signal(
                mentioned,
                origin,
                t("event.mail_reply", self.core.config.desk.language, sender=sender, subject=subject),
                {"subject": subject, "text": text, "attachments": attachments},
            )
            if added is not None:
                return added.reference
        attributes: dict[str, Any] = {"attachments": attachments} if attachments else {}
        national = recognise(subject, text)
        title, category = subject, None
        if national is not None:
            # Kept whole, so that « /diffuser <réf.> <groupes> » relays the text and the files.
            attributes = {"national": national.as_dict(), "attachments": attachment_contents(raw)}
            label = NATURE_LABELS[national.nature]
            title = subject if national.title.lower() in subject.lower() else f"{national.title} — {subject}"
            title = title if label.lower() in title.lower() else f"{title} — {label}"
            category = Category.MESSAGE_NATIONAL
        # An unknown sender writing again and again joins its first signal (one page, one receipt
        # per window); never a national message, each of which is its own.
        flood = origin.person_id is None and national is None
        receipt = await self.core.inbound.raise_signal(
            SignalDraft(
                title=title[:500],
                body=text or None,
                source="email",
                reporter=sender,
                origin=origin,
                category=category,
                attributes=attributes,
                dedup_key=f"flood:email:{sender.lower()}" if flood else None,
                dedup_window=self.core.config.intake.floods.window if flood else None,
            )
        )
        return receipt.reference
