"""A local SMTP server (aiosmtpd) that keeps what Vigie sends, parsed."""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import free_port


class Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse_next = 0  # answer 451 to that many DATA commands (a relay in trouble)
        self.unknown: set[str] = set()  # addresses the relay refuses for good (550 at RCPT)
        self.delay = 0.0  # seconds each DATA takes (a slow relay)
        self.in_flight = self.most_in_flight = 0
        self.peers: list[Any] = []  # the client end of the session each mail came over

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.unknown:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 Try again later"
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        self.peers.append(session.peer)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


class FakeSmtp:
    def __init__(self, port: int | None = None) -> None:
        self.collector = Collector()
        self.port = port or free_port()
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> FakeSmtp:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def restart(self) -> None:
        """The relay goes down and comes back on the same port: every open session is gone."""
        self.controller.stop()
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.collector.messages if address in str(m["To"])]
