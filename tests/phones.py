"""People's devices on the provider fakes, read like a phone's script (GoAlert's smoke tests)::

    await desk.phone(ALICE).expect_sms(ref).then_reply("42 ok").then_expect("pris en charge")
    await desk.telegram(BRUNO).expect(ref, "suppléant").press("Je prends").then_expect("pris en charge")
    await desk.slack(ALICE).expect(ref).press("Je prends")

Each step is queued and the chain runs when awaited. Every message a device shows must be
expected: ``DeviceRegistry.assert_all_read()`` (run when the desk closes) fails the test if a
device received something nobody expected, as GoAlert's harness does when it closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, Self

from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio

Settle = Callable[[], Awaitable[None]]


class Device:
    """A device's script: queued steps, run in order when the chain is awaited."""

    label = "device"

    def __init__(self, settle: Settle, who: str) -> None:
        self._settle, self.who = settle, who
        self._steps: list[Callable[[], Awaitable[None]]] = []
        self._read = 0  # messages already expected, oldest first
        self.last: Any = None  # the message the last expectation matched

    def __await__(self) -> Generator[Any, None, Self]:
        return self._run().__await__()

    async def _run(self) -> Self:
        steps, self._steps = self._steps, []
        for step in steps:
            await step()
        return self

    def _then(self, step: Callable[[], Awaitable[None]]) -> Self:
        self._steps.append(step)
        return self

    # --- what a platform device provides -------------------------------------------------

    def shown(self) -> list[Any]:
        """What the device shows now, oldest first (edits applied)."""
        raise NotImplementedError

    def text_of(self, message: Any) -> str:
        return str(message)

    async def reply(self, text: str) -> None:
        raise NotImplementedError

    # --- the script ---------------------------------------------------------------------

    def expect(self, *fragments: str) -> Self:
        """The next unread message contains every fragment."""

        async def step() -> None:
            await self._settle()
            unread = self.shown()[self._read :]
            assert unread, f"{self.label} of {self.who}: expected a message with {fragments}, got nothing"
            message, self._read = unread[0], self._read + 1
            text = self.text_of(message)
            for fragment in fragments:
                assert fragment in text, f"{self.label} of {self.who}: got {text!r}, expected {fragment!r}"
            self.last = message

        return self._then(step)

    def then_expect(self, *fragments: str) -> Self:
        return self.expect(*fragments)

    def then_reply(self, text: str) -> Self:
        async def step() -> None:
            await self.reply(text)
            await self._settle()

        return self._then(step)

    def expect_nothing(self) -> Self:
        async def step() -> None:
            await self._settle()
            unread = [self.text_of(m) for m in self.shown()[self._read :]]
            assert not unread, f"{self.label} of {self.who}: expected nothing, got {unread}"

        return self._then(step)

    def unread(self) -> list[str]:
        return [self.text_of(m) for m in self.shown()[self._read :]]


class Phone(Device):
    """A mobile phone: SMS from the desk's Twilio number, and SMS back to it."""

    label = "phone"

    def __init__(
        self, settle: Settle, twilio: FakeTwilio, webhook: str, desk_number: str, number: str
    ) -> None:
        super().__init__(settle, number)
        self.twilio, self.webhook, self.desk_number, self.number = twilio, webhook, desk_number, number

    def shown(self) -> list[Any]:
        return self.twilio.to(self.number)

    def expect_sms(self, *fragments: str) -> Self:
        return self.expect(*fragments)

    async def reply(self, text: str) -> None:
        answer = await self.twilio.inbound_sms(self.webhook, self.number, self.desk_number, text)
        assert answer.status_code == 200, answer.text


class TelegramChat(Device):
    """A person's private chat with the bot."""

    label = "Telegram"

    def __init__(self, settle: Settle, telegram: FakeTelegram, user_id: int) -> None:
        super().__init__(settle, str(user_id))
        self.telegram, self.user_id = telegram, user_id

    def shown(self) -> list[Any]:
        return self.telegram.from_bot(self.user_id)

    def text_of(self, message: Any) -> str:
        return str(message["text"])

    async def reply(self, text: str) -> None:
        await self.telegram.send_text(self.user_id, text, reply_to=self.last)

    def press(self, label: str) -> Self:
        """Press the button with that label on the last message expected."""

        async def step() -> None:
            buttons = dict(self.telegram.buttons(self.last))
            assert label in buttons, f"Telegram of {self.who}: no « {label} » button in {list(buttons)}"
            await self.telegram.press(self.user_id, self.last, buttons[label])
            await self._settle()

        return self._then(step)


class SlackDM(Device):
    """A person's direct messages with the Slack app."""

    label = "Slack"

    def __init__(self, settle: Settle, slack: FakeSlack, events_url: str, user_id: str) -> None:
        super().__init__(settle, user_id)
        self.slack, self.events_url, self.user_id = slack, events_url, user_id

    def shown(self) -> list[Any]:
        return self.slack.dm(self.user_id)

    def text_of(self, message: Any) -> str:
        return str(message["text"])

    async def reply(self, text: str) -> None:
        thread = self.last.get("ts") if self.last else None
        answer = await self.slack.dm_event(self.events_url, self.user_id, text, thread_ts=thread)
        assert answer.status_code == 200, answer.text

    def press(self, label: str) -> Self:
        async def step() -> None:
            buttons = dict(self.slack.buttons(self.last))
            assert label in buttons, f"Slack of {self.who}: no « {label} » button in {list(buttons)}"
            answer = await self.slack.press(self.events_url, self.user_id, self.last, buttons[label])
            assert answer.status_code == 200, answer.text
            await self._settle()

        return self._then(step)


class DeviceRegistry:
    """Every device a test used; at the end, none may hold a message nobody expected."""

    def __init__(self) -> None:
        self.devices: list[Device] = []

    def add(self, device: Device) -> Device:
        self.devices.append(device)
        return device

    def assert_all_read(self) -> None:
        surprises = {f"{d.label} of {d.who}": d.unread() for d in self.devices if d.unread()}
        assert not surprises, f"messages nobody expected: {surprises}"
