"""Every channel Vigie documents, enabled at once against the local fakes, for tests that run the
real ``vigie serve`` process (as a user starts it) rather than an app built inside the test.

Each provider listens on a port chosen up front, so a test can start Vigie while a provider is
still down and bring it up later (``up``), or take it down (``down``).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.processes import ServeProcess, write_config
from tests.support import AUTH, AsgiServer, eventually, free_port

TG_TOKEN = "7000000001:AAreal-process-token"
TG_WEBHOOK_SECRET = "tg-webhook-secret-rp"
SLACK_TOKEN, SLACK_SIGNING = "xoxb-real-process", "slack-signing-secret-rp"
TWILIO_SID, TWILIO_TOKEN = "AC" + "b" * 32, "twilio-auth-token-rp"
LINK_SECRET = "link-secret-real-process"
DESK_NUMBER = "+33612000000"
ALERTE = "alerte@ars-exemple.fr"

ALICE = {"tg": 1001, "slack": "U0ALICE01", "phone": "+33611111111", "email": "alice@ars-exemple.fr"}
BRUNO = {"tg": 1002, "slack": "U0BRUNO01", "phone": "+33622222222", "email": "bruno@ars-exemple.fr"}
DAVID = {"tg": 1004, "email": "david@ars-exemple.fr"}
KINDS = ("telegram", "slack", "sms", "voice", "email")
FORUM = -1009876543210  # the crisis supergroup
CRISIS = {
    "cells": {"restreinte": {"functions": {"decision": ["david"], "pilotage": ["alice"]}}},
    "inform": ["bruno"],
}


def secrets_env(slack_socket: bool = False) -> dict[str, str]:
    env = {
        "VIGIE_TELEGRAM_TOKEN": TG_TOKEN,
        "VIGIE_TELEGRAM_WEBHOOK_SECRET": TG_WEBHOOK_SECRET,
        "VIGIE_SLACK_BOT_TOKEN": SLACK_TOKEN,
        "VIGIE_SLACK_SIGNING_SECRET": SLACK_SIGNING,
        "VIGIE_TWILIO_ACCOUNT_SID": TWILIO_SID,
        "VIGIE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "VIGIE_LINK_SECRET": LINK_SECRET,
    }
    if slack_socket:
        env["VIGIE_SLACK_APP_TOKEN"] = "xapp-1-test"
    return env


def _person(
    pid: str, name: str, functions: list[str], ids: dict[str, Any], notify: list[str]
) -> dict[str, Any]:
    contacts = {
        "telegram_id": ids.get("tg"),
        "slack_id": ids.get("slack"),
        "phone": ids.get("phone"),
        "email": ids.get("email"),
    }
    return {
        "id": pid,
        "name": name,
        "functions": functions,
        "contacts": {k: v for k, v in contacts.items() if v},
        "notify": notify,
    }


PEOPLE = [
    _person("alice", "Alice Martin", ["referent"], ALICE, ["telegram", "slack", "sms", "email"]),
    _person("bruno", "Bruno Petit", ["referent"], BRUNO, ["telegram", "slack", "sms", "email"]),
    _person("david", "David Roux", ["responsable", "cadre"], DAVID, ["telegram", "email"]),
]


class Providers:
    """The fakes of Telegram, Slack, Twilio and an SMTP relay, each on its own fixed port."""

    def __init__(self) -> None:
        self.telegram = FakeTelegram(TG_TOKEN)
        self.telegram.forum(FORUM, "Cellules de crise")
        for user_id, name in ((ALICE["tg"], "Alice"), (BRUNO["tg"], "Bruno"), (DAVID["tg"], "David")):
            self.telegram.user(int(user_id), name)
        self.slack = FakeSlack(SLACK_TOKEN, SLACK_SIGNING)
        self.slack.user(str(ALICE["slack"]), "alice")
        self.slack.user(str(BRUNO["slack"]), "bruno")
        self.twilio = FakeTwilio(TWILIO_SID, TWILIO_TOKEN)
        self.ports = {name: free_port() for name in ("telegram", "slack", "twilio", "smtp")}
        self.smtp = FakeSmtp(self.ports["smtp"])
        self.slack.url = self.url("slack")
        self._servers: dict[str, AsgiServer] = {}
        self._smtp_running = False

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    async def up(self, name: str) -> None:
        if name == "smtp":
            self.smtp = FakeSmtp(self.ports["smtp"])
            self.smtp.__enter__()
            self._smtp_running = True
            return
        fake = {"telegram": self.telegram, "slack": self.slack, "twilio": self.twilio}[name]
        server = AsgiServer(fake.app, port=self.ports[name])
        await server.__aenter__()
        self._servers[name] = server

    async def down(self, name: str) -> None:
        if name == "smtp":
            if self._smtp_running:
                self.smtp.__exit__()
                self._smtp_running = False
            return
        server = self._servers.pop(name, None)
        if server is not None:
            await server.__aexit__()

    async def close(self) -> None:
        for name in [*self._servers, "smtp"]:
            await self.down(name)


@asynccontextmanager
async def providers(*, down: tuple[str, ...] = ()) -> AsyncIterator[Providers]:
    fakes = Providers()
    try:
        for name in ("telegram", "slack", "twilio", "smtp"):
            if name not in down:
                await fakes.up(name)
        yield fakes
    finally:
        await fakes.close()


def desk_config(
    path: Path,
    fakes: Providers,
    *,
    public_url: str,
    mailbox_port: int,
    telegram_mode: str = "polling",
    slack_socket: bool = False,
    alice_notify: list[Any] | None = None,
    crisis: bool | dict[str, Any] = False,
    extra: dict[str, Any] | None = None,
    matrix: dict[str, Any] | None = None,
) -> Path:
    """Every channel on; one ladder per channel kind (Alice and Bruno paged together on it),
    chosen by the signal's ``source``; ``source: alice`` pages Alice on her own preferences;
    anything else pages the desk's console."""
    people = [dict(p) for p in PEOPLE]
    if alice_notify is not None:
        people[0]["notify"] = alice_notify
    kinds = [*KINDS, *(["matrix"] if matrix else [])]
    for person in people if matrix else []:  # Tchap: {"channel": …, "ids": {person: @…}}
        if person["id"] in matrix["ids"]:  # type: ignore[index]
            person["contacts"] = {**person["contacts"], "matrix_id": matrix["ids"][person["id"]]}  # type: ignore[index]
    ladders = [
        {"id": f"via-{kind}", "steps": [{"page": ["alice", "bruno"], "wait": "1h", "channels": [kind]}]}
        for kind in kinds
    ]
    ladders.append({"id": "alice", "steps": [{"page": ["alice"], "wait": "1h"}]})
    ladders.append({"id": "desk", "steps": [{"page": ["david"], "wait": "1h", "channels": ["console"]}]})
    routes = [{"source": f"via-{kind}", "ladder": f"via-{kind}"} for kind in kinds]
    return write_config(
        path,
        desk={"name": "PFR test", "timezone": "Europe/Paris", "public_url": public_url},
        people=people,
        rosters=[],
        ladders=ladders,
        duty_officers=["david"],
        intake={
            "default_ladder": "desk",
            "routes": [*routes, {"source": "alice", "ladder": "alice"}],
        },
        channels={
            "console": {"enabled": True},
            "telegram": {
                "enabled": True,
                "base_url": f"{fakes.url('telegram')}/bot",
                "mode": telegram_mode,
                "poll_timeout": "1s",
                **({"crisis_chat_id": FORUM} if crisis else {}),
            },
            "slack": {"enabled": True, "base_url": f"{fakes.url('slack')}/api/", "socket_mode": slack_socket},
            "twilio": {"enabled": True, "base_url": fakes.url("twilio"), "sms_from": DESK_NUMBER},
            "email": {
                "enabled": True,
                "smtp_host": "127.0.0.1",
                "smtp_port": fakes.ports["smtp"],
                "security": "none",
                "from_address": "vigie@ars-exemple.fr",
            },
            "mailbox": {"enabled": True, "host": "127.0.0.1", "port": mailbox_port, "addresses": [ALERTE]},
            "reconnect_max": "2s",
            **({"matrix": matrix["channel"]} if matrix else {}),
        },
        **({"crisis": {**CRISIS, **(crisis if isinstance(crisis, dict) else {})}} if crisis else {}),
        **(extra or {}),
    )


class RealDesk:
    """One running ``vigie serve`` with every channel, and the people's devices on the fakes."""

    def __init__(
        self, fakes: Providers, process: ServeProcess, mailbox_port: int, slack_socket: bool
    ) -> None:
        self.fakes, self.process, self.mailbox_port = fakes, process, mailbox_port
        self.slack_socket = slack_socket
        self.url = process.url
        self.http = httpx.AsyncClient(base_url=process.url, timeout=15)

    # --- the service ----------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        return (await self.http.get("/healthz")).json()

    async def signal(self, title: str, source: str) -> str:
        answer = await self.http.post(
            "/api/v1/signals", headers=AUTH, json={"title": title, "source": source}
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["reference"])

    async def outbox(self, **params: Any) -> list[dict[str, Any]]:
        answer = await self.http.get("/api/v1/outbox", params={"limit": 1000, **params}, headers=AUTH)
        return list(answer.json()["messages"])

    async def acknowledged_by(self, ref: str) -> str | None:
        return (await self.http.get(f"/api/v1/signals/{ref}", headers=AUTH)).json().get("acknowledged_by")

    async def told(self, person: str, ref: str) -> list[dict[str, Any]]:
        """Notices (not pages) delivered to a person about a signal."""
        return [
            m
            for m in await self.outbox(recipient=person, signal=ref)
            if m["kind"] != "page" and m["state"] in ("delivered", "sent")
        ]

    # --- Telegram ---------------------------------------------------------------------

    async def telegram_page(self, ids: dict[str, Any], ref: str) -> dict[str, Any]:
        chat = int(ids["tg"])
        return await eventually(
            lambda: next((m for m in self.fakes.telegram.from_bot(chat) if ref in m.get("text", "")), None),
            20,
        )

    # --- Slack ------------------------------------------------------------------------

    async def slack_page(self, ids: dict[str, Any], ref: str) -> dict[str, Any]:
        return await eventually(
            lambda: next(
                (m for m in self.fakes.slack.dm(str(ids["slack"])) if ref in m.get("text", "")), None
            ),
            20,
        )

    async def slack_press(self, ids: dict[str, Any], message: dict[str, Any], action: str) -> None:
        if self.slack_socket:
            envelope = await self.fakes.slack.socket_press(str(ids["slack"]), message, action)
            await eventually(lambda: any(a.get("envelope_id") == envelope for a in self.fakes.slack.acks), 10)
        else:
            answer = await self.fakes.slack.press(
                f"{self.url}/slack/events", str(ids["slack"]), message, action
            )
            assert answer.status_code == 200, answer.text

    async def slack_dm(self, ids: dict[str, Any], text: str) -> None:
        if self.slack_socket:
            await self.fakes.slack.socket_dm(str(ids["slack"]), text)
        else:
            answer = await self.fakes.slack.dm_event(f"{self.url}/slack/events", str(ids["slack"]), text)
            assert answer.status_code == 200, answer.text

    # --- SMS and voice ----------------------------------------------------------------

    async def sms_to(self, ids: dict[str, Any], contains: str) -> str:
        return await eventually(
            lambda: next((m for m in self.fakes.twilio.to(str(ids["phone"])) if contains in m), None), 20
        )

    async def sms_from(self, ids: dict[str, Any], body: str) -> None:
        answer = await self.fakes.twilio.inbound_sms(
            f"{self.url}/twilio/sms", str(ids["phone"]), DESK_NUMBER, body
        )
        assert answer.status_code == 200, answer.text

    async def call_to(self, ids: dict[str, Any]) -> dict[str, Any]:
        return await eventually(
            lambda: next((c for c in self.fakes.twilio.calls if c["to"] == ids["phone"]), None), 20
        )

    async def press_key(self, call: dict[str, Any], digits: str) -> str:
        twiml = await self.fakes.twilio.answer(call)
        match = re.search(r'<Gather action="([^"]+)"', twiml)
        assert match, twiml
        return await self.fakes.twilio.keypress(self.url + match.group(1), call, digits)

    # --- e-mail -----------------------------------------------------------------------

    async def mail_to(self, ids: dict[str, Any], contains: str) -> EmailMessage:
        def find() -> EmailMessage | None:
            for mail in self.fakes.smtp.to(str(ids["email"])):
                body = mail.get_body(preferencelist=("plain",))  # a mail with attachments too
                if contains in str(mail["Subject"]) + (body.get_content() if body else ""):
                    return mail
            return None

        return await eventually(find, 20)

    def mail_link(self, mail: EmailMessage, label: str) -> str:
        match = re.search(rf"{label} : (\S+)", mail.get_content())
        assert match, mail.get_content()
        return match.group(1)

    async def mail_alerte(self, ids: dict[str, Any], subject: str, body: str) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = str(ids["email"]), ALERTE, subject
        mail.set_content(body)

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", self.mailbox_port, timeout=10) as smtp:
                smtp.send_message(mail)

        await asyncio.to_thread(send)

    async def close(self) -> None:
        await self.http.aclose()


@asynccontextmanager
async def real_desk(
    db_url: str,
    tmp_path: Path,
    fakes: Providers,
    *,
    telegram_mode: str = "polling",
    slack_socket: bool = False,
    name: str = "vigie",
    log_level: str = "INFO",
    crisis: bool | dict[str, Any] = False,  # a dict: more of the crisis section
    extra: dict[str, Any] | None = None,  # more sections of the configuration
    alice_notify: list[Any] | None = None,  # Alice's own channel preferences
    matrix: dict[str, Any] | None = None,  # {"channel": channels.matrix, "ids": …, "token": …}
) -> AsyncIterator[RealDesk]:
    port, mailbox_port = free_port(), free_port()
    config = desk_config(
        tmp_path / f"{name}.yaml",
        fakes,
        public_url=f"http://127.0.0.1:{port}",
        mailbox_port=mailbox_port,
        telegram_mode=telegram_mode,
        slack_socket=slack_socket,
        crisis=crisis,
        extra=extra,
        alice_notify=alice_notify,
        matrix=matrix,
    )
    env = {**secrets_env(slack_socket), "VIGIE_LOG_LEVEL": log_level}
    if matrix:
        env["VIGIE_MATRIX_TOKEN"] = matrix["token"]
    process = ServeProcess(db_url, config, tmp_path / f"{name}.log", env=env, port=port)
    await process.start()
    desk = RealDesk(fakes, process, mailbox_port, slack_socket)
    try:
        yield desk
    finally:
        await desk.close()
        await process.stop()
