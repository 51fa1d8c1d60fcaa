"""The outbox: what Vigie sent (or would have sent), readable over HTTP and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from bot.domain import OriginChannel
from bot.intake import Origin, SignalDraft
from tests.support import AUTH, REPO, eventually, running_vigie
from tests.test_cli import run_cli


async def test_receipt_goes_back_through_the_senders_channel_and_is_delivered(db_url: str) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 2, 14, tzinfo=UTC))
    async with running_vigie(db_url, clock=clock) as server, server.client() as client:
        receipt = await server.vigie.inbound.raise_signal(
            SignalDraft(
                title="Fuite de gaz près de l'hôpital",
                origin=Origin(
                    OriginChannel.CLI, address="poste-12", person_id="alice", reply_channel="console"
                ),
            )
        )

        async def delivered() -> bool:
            messages = (
                await client.get("/api/v1/outbox", params={"recipient": "alice"}, headers=AUTH)
            ).json()
            return bool(messages["messages"]) and messages["messages"][0]["state"] == "delivered"

        await eventually(delivered)
        message = (await client.get("/api/v1/outbox", params={"recipient": "alice"}, headers=AUTH)).json()[
            "messages"
        ][0]
        assert message["kind"] == "receipt"
        assert message["channel"] == "console"
        assert message["signal"] == receipt.reference
        assert (
            message["text"]
            == f"Signal reçu, référence {receipt.reference}. Il est enregistré et transmis à l'astreinte."
        )
        assert message["created_at"] == "2026-11-23T02:14:00+00:00"
        assert (await client.get("/api/v1/outbox", params={"recipient": "bruno"}, headers=AUTH)).json()[
            "count"
        ] == 0


async def test_outbox_filters_by_time_and_signal(db_url: str) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    async with running_vigie(db_url, clock=clock, background=False) as server, server.client() as client:
        origin = Origin(OriginChannel.CLI, person_id="alice", reply_channel="console")
        first = await server.vigie.intake.accept(SignalDraft(title="premier", origin=origin))
        clock.advance(timedelta(hours=2))
        second = await server.vigie.intake.accept(SignalDraft(title="second", origin=origin))

        since = {"since": "2026-11-23T09:30:00+01:00"}  # 08:30 UTC: after the first only
        later = (await client.get("/api/v1/outbox", params=since, headers=AUTH)).json()
        assert [m["signal"] for m in later["messages"]] == [second.reference]
        until = (
            await client.get("/api/v1/outbox", params={"until": "2026-11-23T08:30:00Z"}, headers=AUTH)
        ).json()
        assert [m["signal"] for m in until["messages"]] == [first.reference]
        by_signal = (
            await client.get("/api/v1/outbox", params={"signal": first.reference}, headers=AUTH)
        ).json()
        assert by_signal["count"] == 1
        # Nothing ran the dispatcher: the messages are honestly still pending.
        assert {m["state"] for m in later["messages"] + until["messages"]} == {"pending"}
        naive = await client.get("/api/v1/outbox", params={"since": "2026-11-23T09:30:00"}, headers=AUTH)
        assert naive.status_code == 422
        assert "fuseau" in naive.json()["message"]
        assert (await client.get("/api/v1/outbox")).status_code == 401


async def test_receipt_and_signal_are_committed_together_or_not_at_all(db_url: str) -> None:
    async with running_vigie(db_url, background=False) as server, server.client() as client:

        async def failing_hook(session, signal) -> None:
            raise RuntimeError("ladder could not start")

        server.vigie.intake.hooks.append(failing_hook)
        with pytest.raises(RuntimeError):
            await server.vigie.intake.accept(
                SignalDraft(
                    title="perdu ?",
                    origin=Origin(OriginChannel.CLI, person_id="alice", reply_channel="console"),
                )
            )
        assert (await client.get("/api/v1/signals", headers=AUTH)).json()["count"] == 0
        assert (await client.get("/api/v1/outbox", headers=AUTH)).json()["count"] == 0
        # And the reference was not burnt: the next signal gets number 1.
        server.vigie.intake.hooks.clear()
        ok = await client.post("/api/v1/signals", headers=AUTH, json={"title": "suivant"})
        assert ok.json()["reference"].endswith("-000001")


async def test_vigie_outbox_command_lists_messages(db_url: str) -> None:
    config = REPO / "config" / "demo.yaml"
    async with running_vigie(db_url) as server:
        receipt = await server.vigie.inbound.raise_signal(
            SignalDraft(
                title="x", origin=Origin(OriginChannel.CLI, person_id="bruno", reply_channel="console")
            )
        )
    result = await run_cli(["outbox", "--recipient", "bruno"], db_url, config)
    assert result.returncode == 0, result.stderr
    assert "console  → bruno" in result.stdout
    assert receipt.reference in result.stdout
    empty = await run_cli(["outbox", "--recipient", "personne"], db_url, config)
    assert "Aucun message." in empty.stdout
