"""Delivery: preferences with delays, retries, failover, crash mid-send, timeouts, rate limits.

The console is the only real channel until the SMS issue lands; an external channel is stood in
by ``ScriptedChannel`` (outcomes chosen by the test), which is what the dispatcher sees of any
provider adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from bot.channels import DeliveryOutcome, DeliveryResult
from bot.config import ChannelsConfig
from bot.domain import ChannelKind
from bot.models import OutboxMessageRow
from tests.devices import duty_desk
from tests.support import make_config
from tests.test_escalation import LADDER, PEOPLE, ROSTER


class ScriptedChannel:
    name = "sms"
    local = False

    def __init__(self, outcomes: list[DeliveryResult] | None = None, hang: bool = False) -> None:
        self.outcomes = list(outcomes or [])
        self.calls: list[str] = []
        self.hang = hang
        self.called = asyncio.Event()

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult:
        self.calls.append(message.text)
        self.called.set()
        if self.hang:
            await asyncio.Event().wait()
        if self.outcomes:
            return self.outcomes.pop(0)
        return DeliveryResult(DeliveryOutcome.DELIVERED, provider_id=f"SM{len(self.calls)}")


@pytest.fixture(autouse=True)
def sms_enabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(ChannelsConfig, "enabled", lambda self: [ChannelKind.CONSOLE, ChannelKind.SMS])
    yield


def people(**notify: Any) -> list[dict[str, Any]]:
    out = []
    for person in PEOPLE:
        person = {
            **person,
            "contacts": {"phone": "06 11 22 33 44" if person["id"] == "alice" else "06 55 66 77 88"},
        }
        if person["id"] in notify:
            person["notify"] = notify[person["id"]]
        out.append(person)
    return out


def config(ladder: dict[str, Any] | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
    return make_config(
        people=kwargs.pop("people"),
        rosters=[ROSTER],
        ladders=[ladder or LADDER],
        duty_officers=["david"],
        **kwargs,
    )


def transient(error: str = "HTTP 503", retry_after: float | None = None) -> DeliveryResult:
    return DeliveryResult(DeliveryOutcome.TRANSIENT, error=error, retry_after=retry_after)


def permanent(error: str) -> DeliveryResult:
    return DeliveryResult(DeliveryOutcome.PERMANENT, error=error)


async def test_second_channel_comes_after_its_delay_and_not_at_all_once_taken(db_url: str) -> None:
    cfg = config(people=people(alice=["console", {"channel": "sms", "after": "2m"}]))
    async with duty_desk(db_url, cfg) as desk:
        sms = desk.vigie.dispatcher.channels["sms"] = ScriptedChannel()
        alice_console, alice_sms = desk.device("alice", "console"), desk.device("alice", "sms")
        first = await desk.signal("Premier")
        await alice_console.expect_page(first)
        await alice_sms.expect_nothing()
        await desk.advance(minutes=2)
        await alice_sms.expect_page(first)

        second = await desk.signal("Second")
        await alice_console.expect_page(second)
        await desk.advance(minutes=1)
        await desk.ack(second, "alice")
        await desk.advance(minutes=5)
        await alice_sms.expect_nothing()
        assert len(sms.calls) == 1
        cancelled = [m for m in await desk.messages(signal=second) if m["state"] == "cancelled"]
        assert [m["channel"] for m in cancelled] == ["sms"]


async def test_transient_errors_are_retried_and_the_page_sent_once(db_url: str) -> None:
    cfg = config(people=people(alice=["sms", "console"]))
    async with duty_desk(db_url, cfg) as desk:
        sms = desk.vigie.dispatcher.channels["sms"] = ScriptedChannel([transient(), transient()])
        alice_sms, alice_console = desk.device("alice", "sms"), desk.device("alice", "console")
        ref = await desk.signal("Rupture de stock d'antidote")
        page = await alice_sms.expect_page(ref)
        assert len(sms.calls) == 3
        assert page["attempts"] == 1  # three tries in one durable attempt (tenacity)
        await alice_console.expect_page(ref)  # its own rank: sent at once too (no delay configured)


async def test_a_provider_that_keeps_failing_is_backed_off_then_failed_over(db_url: str) -> None:
    cfg = config(people=people(alice=["sms", {"channel": "console", "after": "10m"}]))
    async with duty_desk(db_url, cfg) as desk:
        sms = desk.vigie.dispatcher.channels["sms"] = ScriptedChannel([transient()] * 100)
        alice_console = desk.device("alice", "console")
        ref = await desk.signal("Panne du réseau d'eau")
        await alice_console.expect_nothing()
        # Durable back-off: 2, 4, 8, 16, 32 s … until max_attempts (6) durable attempts are used.
        await desk.advance(minutes=3)
        page = await alice_console.expect_page(ref)
        assert page["created_at"] == "2026-11-24T02:12:00+00:00"
        assert len(sms.calls) == 6 * 3
        history = [e["kind"] for e in await desk.history(ref)]
        assert history.count("delivery_retry") == 5
        assert "failover" in history


async def test_permanent_failure_fails_over_to_the_next_channel_at_once(db_url: str) -> None:
    cfg = config(people=people(alice=["sms", {"channel": "console", "after": "10m"}]))
    async with duty_desk(db_url, cfg) as desk:
        desk.vigie.dispatcher.channels["sms"] = ScriptedChannel([permanent("numéro invalide (21211)")])
        alice_console = desk.device("alice", "console")
        ref = await desk.signal("Accident de la route, 12 blessés")
        page = await alice_console.expect_page(ref)
        assert page["created_at"] == "2026-11-24T02:12:00+00:00"
        messages = [e["message"] for e in await desk.history(ref)]
        assert "Échec de remise à Alice Martin par sms : numéro invalide (21211)" in messages
        assert "Bascule vers console pour Alice Martin" in messages


async def test_when_nobody_at_a_step_can_be_reached_the_ladder_escalates_at_once(db_url: str) -> None:
    cfg = config(people=people(alice=["sms"]))
    async with duty_desk(db_url, cfg) as desk:
        desk.vigie.dispatcher.channels["sms"] = ScriptedChannel([permanent("abonné désactivé")])
        bruno = desk.device("bruno")
        ref = await desk.signal("Incendie en EHPAD")
        page = await bruno.expect_page(ref, "étape 2/3")
        assert page["created_at"] == "2026-11-24T02:12:00+00:00"  # not 5 minutes later
        messages = [e["message"] for e in await desk.history(ref)]
        assert "Alice Martin injoignable : abonné désactivé" in messages
        assert "Personne de l'étape 1 n'est joignable : escalade immédiate" in messages


async def test_crash_during_a_send_is_never_resent_on_that_channel_but_fails_over(db_url: str) -> None:
    cfg = config(people=people(alice=["sms", {"channel": "console", "after": "10m"}]))
    async with duty_desk(db_url, cfg) as desk:
        sms = desk.vigie.dispatcher.channels["sms"] = ScriptedChannel(hang=True)
        ref = (
            await desk.client.post(
                "/api/v1/signals",
                headers={"Authorization": "Bearer test-token-secret"},
                json={"title": "Pendant l'envoi"},
            )
        ).json()["reference"]
        await desk.vigie.engine.run_due()
        # The process dies while the provider call is in flight.
        worker = asyncio.create_task(desk.vigie.dispatcher.run_once())
        await asyncio.wait_for(sms.called.wait(), 5)
        worker.cancel()
        sms.hang = False
        [in_flight] = await desk.messages(channel="sms")
        assert in_flight["state"] == "sending"

        await desk.advance(minutes=6)  # past the claim lease
        [after] = await desk.messages(channel="sms")
        assert after["state"] == "uncertain"
        assert len(sms.calls) == 1  # not sent a second time
        await desk.device("alice", "console").expect_page(ref)


async def test_a_page_not_delivered_in_time_fails_over(db_url: str) -> None:
    cfg = config(
        people=people(alice=["sms", {"channel": "console", "after": "30m"}]), delivery={"timeout": "2m"}
    )
    async with duty_desk(db_url, cfg) as desk:
        desk.vigie.dispatcher.channels["sms"] = ScriptedChannel([DeliveryResult(DeliveryOutcome.SENT, "SM1")])
        alice_console = desk.device("alice", "console")
        ref = await desk.signal("Rupture de la chaîne du froid, vaccins")
        await desk.advance(minutes=1, seconds=59)
        await alice_console.expect_nothing()
        await desk.advance(seconds=16)
        await alice_console.expect_page(ref)
        [sms] = await desk.messages(channel="sms")
        assert sms["state"] == "expired"


async def test_rate_limit_delays_and_merges_but_never_drops(db_url: str) -> None:
    cfg = config(people=people(alice=["sms"]), delivery={"rate_limits": {"sms": {"count": 1, "per": "1m"}}})
    async with duty_desk(db_url, cfg) as desk:
        sms = desk.vigie.dispatcher.channels["sms"] = ScriptedChannel()
        alice = desk.device("alice", "sms")
        first = await desk.signal("Premier signal")
        await alice.expect_page(first)
        await desk.advance(seconds=10)
        second = await desk.signal("Deuxième signal")
        third = await desk.signal("Troisième signal")
        await alice.expect_nothing()  # one SMS a minute to this number
        await desk.advance(seconds=50)
        merged = await alice.expect_page(second, "Deuxième signal", third, "Troisième signal")
        assert merged["created_at"] == "2026-11-24T02:12:10+00:00"
        assert len(sms.calls) == 2
        states = sorted(m["state"] for m in await desk.messages(channel="sms"))
        assert states == ["delivered", "delivered", "merged"]
