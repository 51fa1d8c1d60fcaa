"""Device-script testing in the style of GoAlert's smoke tests.

A ``DutyDesk`` runs Vigie on a manual clock; ``desk.device("alice")`` is Alice's phone: it reads
what was delivered to her, in order, and each ``expect`` consumes one message, so a test reads
like the phone's script::

    alice = desk.device("alice")
    ref = await desk.signal("Fuite de gaz")
    await alice.expect_page(ref)
    await desk.advance(minutes=5)
    await bruno.expect_page(ref)
    await desk.ack(ref, "bruno")
    await alice.expect("Pris en charge par Bruno Petit")
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.clock import ManualClock
from bot.config import VigieConfig
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.phones import DeviceRegistry, Phone, SlackDM, TelegramChat
from tests.support import AUTH, LiveServer, running_vigie

# A Tuesday at 03:12 in Paris: the night duty is where paging matters.
NIGHT = datetime(2026, 11, 24, 2, 12, tzinfo=UTC)


class Device:
    def __init__(self, desk: DutyDesk, person: str, channel: str | None = None) -> None:
        self.desk = desk
        self.person = person
        self.channel = channel
        self.seen: set[int] = set()

    async def _unread(self) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"recipient": self.person, "limit": 1000}
        if self.channel:
            params["channel"] = self.channel
        messages = (await self.desk.client.get("/api/v1/outbox", params=params, headers=AUTH)).json()[
            "messages"
        ]
        return [m for m in messages if m["id"] not in self.seen and m["state"] in ("delivered", "sent")]

    async def expect(self, *fragments: str, kind: str | None = None) -> dict[str, Any]:
        await self.desk.vigie.settle()
        unread = await self._unread()
        assert unread, f"{self.person} expected a message containing {fragments}, got nothing"
        message = unread[0]
        self.seen.add(message["id"])
        for fragment in fragments:
            assert fragment in message["text"], (
                f"{self.person} got {message['text']!r}, expected {fragment!r}"
            )
        if kind is not None:
            assert message["kind"] == kind, f"{self.person} got a {message['kind']}, expected a {kind}"
        return message

    async def expect_page(self, reference: str, *fragments: str) -> dict[str, Any]:
        return await self.expect(reference, *fragments, kind="page")

    async def expect_nothing(self) -> None:
        await self.desk.vigie.settle()
        unread = await self._unread()
        assert not unread, f"{self.person} expected nothing, got {[m['text'] for m in unread]}"


class DutyDesk:
    def __init__(self, server: LiveServer, client: httpx.AsyncClient, clock: ManualClock) -> None:
        self.server = server
        self.client = client
        self.clock = clock
        self.devices = DeviceRegistry()
        # The provider fakes a channel test plugs in (see ``phone``, ``telegram``, ``slack``).
        self.twilio: FakeTwilio | None = None
        self.desk_number = ""
        self.tg: FakeTelegram | None = None
        self.slack_fake: FakeSlack | None = None

    # --- people's devices on the provider fakes (tests/phones.py) ----------------------

    def phone(self, number: str) -> Phone:
        assert self.twilio is not None, "this desk has no Twilio fake"
        webhook = f"{self.server.url}/twilio/sms"
        device = Phone(self.vigie.settle, self.twilio, webhook, self.desk_number, number)
        self.devices.add(device)
        return device

    def telegram(self, user_id: int) -> TelegramChat:
        assert self.tg is not None, "this desk has no Telegram fake"
        device = TelegramChat(self._settle_chat, self.tg, user_id)
        self.devices.add(device)
        return device

    def slack(self, user_id: str) -> SlackDM:
        assert self.slack_fake is not None, "this desk has no Slack fake"
        device = SlackDM(self._settle_chat, self.slack_fake, f"{self.server.url}/slack/events", user_id)
        self.devices.add(device)
        return device

    async def _settle_chat(self) -> None:
        # Chat updates are handled by the adapter's own tasks: let them land, then deliver.
        for _ in range(3):
            await asyncio.sleep(0.05)
            await self.vigie.settle()

    @property
    def vigie(self):  # type: ignore[no-untyped-def]
        return self.server.vigie

    def device(self, person: str, channel: str | None = None) -> Device:
        return Device(self, person, channel)

    async def signal(self, title: str, **fields: Any) -> str:
        answer = await self.client.post("/api/v1/signals", headers=AUTH, json={"title": title, **fields})
        assert answer.status_code == 202, answer.text
        await self.vigie.settle()
        return str(answer.json()["reference"])

    async def advance(self, *, minutes: float = 0, seconds: float = 0) -> None:
        """Move time forward in small steps, running whatever falls due on the way."""
        target = self.clock.now() + timedelta(minutes=minutes, seconds=seconds)
        while self.clock.now() < target:
            self.clock.set(min(target, self.clock.now() + timedelta(seconds=15)))
            await self.vigie.settle()

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        answer = await self.client.post(path, headers=AUTH, json=body)
        await self.vigie.settle()
        return answer

    async def ack(self, reference: str, person: str) -> httpx.Response:
        return await self.post(f"/api/v1/signals/{reference}/ack", {"person": person})

    async def history(self, reference: str) -> list[dict[str, Any]]:
        return (await self.client.get(f"/api/v1/signals/{reference}", headers=AUTH)).json()["history"]

    async def signal_state(self, reference: str) -> dict[str, Any]:
        return (await self.client.get(f"/api/v1/signals/{reference}", headers=AUTH)).json()

    async def messages(self, **params: Any) -> list[dict[str, Any]]:
        return (
            await self.client.get("/api/v1/outbox", params={"limit": 1000, **params}, headers=AUTH)
        ).json()["messages"]


@asynccontextmanager
async def duty_desk(db_url: str, config: VigieConfig, start: datetime = NIGHT) -> AsyncIterator[DutyDesk]:
    clock = ManualClock(start)
    # No background workers: the test drives timers and deliveries through the clock.
    async with (
        running_vigie(db_url, config=config, clock=clock, background=False) as server,
        server.client() as client,
    ):
        desk = DutyDesk(server, client, clock)
        yield desk
        desk.devices.assert_all_read()
