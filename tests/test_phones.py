"""The device harness itself: a script passes only on what it expects, and a message nobody
expected fails the test when the desk closes."""

from __future__ import annotations

import pytest

from tests.fakes.twilio import FakeTwilio
from tests.phones import DeviceRegistry, Phone

ALICE = "+33611111111"


async def _nothing() -> None:
    return None


def phone_with(*bodies: str) -> tuple[Phone, DeviceRegistry]:
    twilio = FakeTwilio("AC" + "c" * 32, "token")
    twilio.sent.extend({"to": ALICE, "body": body} for body in bodies)
    registry = DeviceRegistry()
    phone = Phone(_nothing, twilio, "http://127.0.0.1:9/twilio/sms", "+33612000000", ALICE)
    registry.add(phone)
    return phone, registry


async def test_an_unexpected_message_fails_at_the_end() -> None:
    phone, registry = phone_with("Vigie PFR-2026-000001 : page", "Vigie : un message en trop")
    await phone.expect_sms("PFR-2026-000001")
    with pytest.raises(AssertionError, match="un message en trop"):
        registry.assert_all_read()


async def test_expectations_are_read_in_order_and_checked() -> None:
    phone, registry = phone_with("premier", "second")
    with pytest.raises(AssertionError, match="expected 'second'"):
        await phone.expect_sms("second")  # the next unread is « premier »
    phone, registry = phone_with("premier", "second")
    await phone.expect_sms("premier").then_expect("second")
    registry.assert_all_read()
    with pytest.raises(AssertionError, match="got nothing"):
        await phone.expect_sms("troisième")
