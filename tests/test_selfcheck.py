"""Vigie's self-check, with an injected clock: overdue ladder steps and a channel whose last
deliveries all failed are told to the duty officers once, on another channel, and shown in the
metrics; once the work runs again the metric falls back to zero."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import ManualClock
from tests.devices import NIGHT, DutyDesk
from tests.fakes.twilio import FakeTwilio
from tests.support import AUTH, AsgiServer, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER

SID, TWILIO_TOKEN = "AC" + "c" * 32, "twilio-auth-token-selfcheck"
DEAD = "+33655555555"


async def test_overdue_steps_and_a_failing_channel_are_told_once_on_another_channel(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    twilio = FakeTwilio(SID, TWILIO_TOKEN)
    twilio.invalid.add(DEAD)
    monkeypatch.setenv("VIGIE_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("VIGIE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    people = [
        {"id": "alice", "name": "Alice Martin", "functions": ["referent"], "contacts": {"phone": DEAD},
         "notify": ["sms", {"channel": "console", "after": "1m"}]},
        {"id": "bruno", "name": "Bruno Petit", "functions": ["referent"], "notify": ["console"]},
        {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"], "notify": ["console"]},
        {"id": "david", "name": "David Roux", "functions": ["responsable"], "contacts": {"phone": DEAD},
         "notify": ["sms", "console"]},
    ]  # fmt: skip
    async with AsgiServer(twilio.app) as api:
        config = make_config(
            desk={"name": "PFR test", "public_url": "http://127.0.0.1:9"},
            people=people,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels={
                "console": {"enabled": True},
                "twilio": {"enabled": True, "base_url": api.url, "sms_from": "+33612000000"},
            },
        )
        async with running_vigie(db_url, config=config, clock=ManualClock(NIGHT), background=False) as server:
            async with server.client() as client:
                desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
                check = desk.vigie.selfcheck
                assert await check.run_due() == 0  # the first round only starts the clock

                # The engine stalls: two signals raised, their first step never run.
                for title in ("Cas groupés de gale", "Panne électrique, CH Nord"):
                    answer = await client.post("/api/v1/signals", headers=AUTH, json={"title": title})
                    assert answer.status_code == 202
                desk.clock.set(NIGHT + timedelta(minutes=3))
                assert await check.run_due() == 1  # told to David, once
                assert await check.run_due() == 0  # not again within the minute…
                desk.clock.set(NIGHT + timedelta(minutes=4, seconds=5))
                assert await check.run_due() == 0  # …nor within the hour
                [told] = await desk.messages(kind="selfcheck")
                assert told["recipient"] == "david"
                assert "2 étape(s) d'échelle en retard de plus de 2 min" in told["text"]
                metrics = (await client.get("/metrics")).text
                assert 'vigie_selfcheck_problems{check="overdue_steps"} 2.0' in metrics

                # The engine runs again: Alice's SMS pages fail (a dead number), five in a row.
                await desk.vigie.settle()
                for n in range(3):
                    await desk.signal(f"Signal {n}")
                sms = [m for m in await desk.messages(channel="sms") if m["state"] in ("failed", "uncertain")]
                assert len(sms) >= 5
                desk.clock.set(desk.clock.now() + timedelta(minutes=2))
                await check.run_due()
                [broken] = [m for m in await desk.messages(kind="selfcheck") if "sms" in m["text"]]
                assert broken["channel"] == "console"  # not on the broken channel
                assert "les 5 derniers envois sur sms ont tous échoué" in broken["text"]
                metrics = (await client.get("/metrics")).text
                assert 'vigie_selfcheck_problems{check="overdue_steps"} 0.0' in metrics
                assert 'vigie_selfcheck_problems{check="failing_channels"} 1.0' in metrics
