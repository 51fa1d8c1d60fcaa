"""The 24/7 ladder, device-script style, on the console channel with an injected clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bot.clock import utc
from bot.models import TimerRow, table_of
from tests.devices import duty_desk
from tests.support import AUTH, make_config

PEOPLE: list[dict[str, Any]] = [
    {"id": "alice", "name": "Alice Martin", "functions": ["referent"]},
    {"id": "bruno", "name": "Bruno Petit", "functions": ["referent"]},
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"]},
    {"id": "david", "name": "David Roux", "functions": ["responsable"]},
]
ROSTER = {
    "id": "pfr",
    "name": "Astreinte PFR",
    "start": "2026-01-05",
    "slots": [{"titulaire": "alice", "suppleant": "bruno", "cadre": "chloe"}],
}
LADDER = {
    "id": "default",
    "roster": "pfr",
    "steps": [
        {"page": ["titulaire"], "wait": "5m"},
        {"page": ["suppleant"], "wait": "5m"},
        {"page": ["cadre"], "wait": "10m"},
    ],
}


def config(ladder: dict[str, Any] | None = None, **overrides: Any):  # type: ignore[no-untyped-def]
    return make_config(
        people=overrides.pop("people", PEOPLE),
        rosters=[ROSTER],
        ladders=[ladder or LADDER],
        duty_officers=["david"],
        **overrides,
    )


async def test_titulaire_silent_then_suppleant_takes_it_and_titulaire_is_told(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice, bruno, chloe = desk.device("alice"), desk.device("bruno"), desk.device("chloe")
        ref = await desk.signal("Intoxication au monoxyde de carbone, 3 personnes", severity="majeure")

        page = await alice.expect_page(ref, "Intoxication au monoxyde", "titulaire", "étape 1/3")
        assert page["created_at"] == "2026-11-24T02:12:00+00:00"  # at once
        await bruno.expect_nothing()

        await desk.advance(minutes=4, seconds=59)
        await bruno.expect_nothing()
        await desk.advance(seconds=1)
        page = await bruno.expect_page(ref, "suppléant", "étape 2/3")
        assert page["created_at"] == "2026-11-24T02:17:00+00:00"

        answer = await desk.ack(ref, "bruno")
        assert answer.json()["message"] == f"{ref} pris en charge par Bruno Petit à 03:17."
        await alice.expect("Pris en charge par Bruno Petit à 03:17", ref, kind="acknowledged")
        await bruno.expect_nothing()  # the one who took it is not told his own news

        await desk.advance(minutes=60)
        await chloe.expect_nothing()
        await alice.expect_nothing()
        state = await desk.signal_state(ref)
        assert state["status"] == "acquitte"
        assert state["acknowledged_by"] == "bruno"
        kinds = [e["kind"] for e in state["history"]]
        assert kinds == [
            "received",
            "ladder_started",
            "step",
            "delivered",
            "step",
            "delivered",
            "acknowledged",
        ]


async def test_titulaire_answering_at_step_one_means_the_suppleant_is_never_paged(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice, bruno = desk.device("alice"), desk.device("bruno")
        ref = await desk.signal("Panne électrique CH Nord")
        await alice.expect_page(ref)
        await desk.advance(minutes=2)
        await desk.ack(ref, "alice")
        await desk.advance(minutes=120)
        await bruno.expect_nothing()
        await alice.expect_nothing()
        assert not [m for m in await desk.messages(recipient="bruno")]


async def test_nobody_answers_the_ladder_repeats_then_duty_officers_are_told(db_url: str) -> None:
    async with duty_desk(db_url, config({**LADDER, "repeat": 1})) as desk:
        alice, bruno, chloe, david = (desk.device(p) for p in ("alice", "bruno", "chloe", "david"))
        ref = await desk.signal("Cas groupés de légionellose", severity="critique")
        await alice.expect_page(ref, "étape 1/3")
        await desk.advance(minutes=5)
        await bruno.expect_page(ref, "étape 2/3")
        await desk.advance(minutes=5)
        await chloe.expect_page(ref, "cadre d'astreinte", "étape 3/3")
        await desk.advance(minutes=10)
        await alice.expect_page(ref, "étape 1/3, passage 2")
        await desk.advance(minutes=5)
        await bruno.expect_page(ref, "passage 2")
        await desk.advance(minutes=5)
        await chloe.expect_page(ref, "passage 2")
        await david.expect_nothing()
        await desk.advance(minutes=10)
        await david.expect("ALERTE SANS RÉPONSE", ref, "3 étape(s) et 2 passage(s)", kind="unanswered")
        await desk.advance(minutes=60)
        for device in (alice, bruno, chloe, david):
            await device.expect_nothing()
        state = await desk.signal_state(ref)
        assert state["status"] == "recu"  # visibly unacknowledged
        assert state["acknowledged_by"] is None
        assert state["history"][-1]["kind"] == "exhausted"
        # Still taken later by someone: the signal is not lost.
        assert (await desk.ack(ref, "chloe")).status_code == 200


async def test_escalate_now_jumps_to_the_next_step_and_keeps_its_wait(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice, bruno, chloe = desk.device("alice"), desk.device("bruno"), desk.device("chloe")
        ref = await desk.signal("Fuite de chlore piscine municipale")
        await alice.expect_page(ref)
        await desk.advance(minutes=1)
        answer = await desk.post(f"/api/v1/signals/{ref}/escalate", {"person": "alice"})
        assert answer.status_code == 200
        page = await bruno.expect_page(ref, "étape 2/3")
        assert page["created_at"] == "2026-11-24T02:13:00+00:00"
        await desk.advance(minutes=4, seconds=59)
        await chloe.expect_nothing()
        await desk.advance(seconds=1)
        await chloe.expect_page(ref, "étape 3/3")
        history = await desk.history(ref)
        assert "Escalade immédiate demandée par Alice Martin" in [e["message"] for e in history]


async def test_resolve_stops_everything_and_tells_those_paged(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice, bruno = desk.device("alice"), desk.device("bruno")
        ref = await desk.signal("Alerte pollen", dedup_key="pollen-59")
        await alice.expect_page(ref)
        await desk.advance(minutes=2)
        answer = await desk.post(
            f"/api/v1/signals/{ref}/resolve", {"person": "david", "note": "fausse alerte"}
        )
        assert answer.json()["message"] == f"{ref} clos par David Roux."
        await alice.expect("Signal clos par David Roux à 03:14", ref, kind="resolved")
        await desk.advance(minutes=60)
        await bruno.expect_nothing()
        await alice.expect_nothing()
        state = await desk.signal_state(ref)
        assert state["status"] == "clos"
        assert state["history"][-1]["message"] == "Signal clos par David Roux : fausse alerte"
        # Closed: the same dedup key now opens a new signal.
        again = await desk.signal("Alerte pollen, à nouveau", dedup_key="pollen-59")
        assert again != ref


async def test_refusals_are_clear(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        ref = await desk.signal("Signal")
        unknown = await desk.ack(ref, "mallory")
        assert unknown.status_code == 422
        assert unknown.json()["message"] == "Personne inconnue « mallory » : absente de l'annuaire."
        missing = await desk.ack("PFR-2026-999999", "alice")
        assert missing.status_code == 404
        await desk.ack(ref, "alice")
        twice = await desk.ack(ref, "bruno")  # someone else took it first: a conflict
        assert twice.status_code == 409
        assert twice.json() == {
            "error": "already_taken",
            "message": f"{ref} est déjà pris en charge par Alice Martin (à 03:12).",
        }
        retry = await desk.ack(ref, "alice")  # the same person again (a retry): harmless
        assert retry.status_code == 200
        assert retry.json() == {
            "reference": ref,
            "changed": False,
            "message": f"{ref} est déjà pris en charge par Alice Martin (à 03:12).",
        }
        late = await desk.post(f"/api/v1/signals/{ref}/escalate", {})
        assert late.status_code == 409
        assert "déjà pris en charge par Alice Martin" in late.json()["message"]
        no_body = await desk.client.post(f"/api/v1/signals/{ref}/ack", headers={"Authorization": "Bearer x"})
        assert no_body.status_code == 401


async def test_missed_steps_run_at_once_in_order_after_downtime(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice, bruno, chloe = desk.device("alice"), desk.device("bruno"), desk.device("chloe")
        answer = await desk.client.post(
            "/api/v1/signals",
            headers={"Authorization": "Bearer test-token-secret"},
            json={"title": "Pendant la panne"},
        )
        ref = answer.json()["reference"]
        # The service is down for 12 minutes: nothing runs, not even the first page.
        desk.clock.advance(12 * 60)
        await desk.vigie.settle()
        first = await alice.expect_page(ref)
        assert first["created_at"] == "2026-11-24T02:24:00+00:00"
        # The store keeps how late the step ran (what bench/escalation.py reports), and that it ran.
        async with desk.vigie.db.read_session() as session:
            timers = table_of(TimerRow)
            done = (
                await session.exec(  # type: ignore[call-overload]
                    sa.select(timers.c.lateness_ms, timers.c.done_at).where(timers.c.state == "done")
                )
            ).all()
        assert [(round(late), utc(at)) for late, at in done] == [(12 * 60_000, desk.clock.now())]
        # The titulaire still gets the step's full wait before the suppléant is paged.
        await bruno.expect_nothing()
        await desk.advance(minutes=5)
        await bruno.expect_page(ref)
        await desk.advance(minutes=5)
        await chloe.expect_page(ref)


async def test_step_paging_a_named_person_and_a_vacant_level(db_url: str) -> None:
    roster = {**ROSTER, "slots": [{"titulaire": "alice", "suppleant": "bruno"}]}  # no cadre this week
    ladder = {
        "id": "default",
        "roster": "pfr",
        "steps": [
            {"page": ["titulaire", "david"], "wait": "5m"},
            {"page": ["cadre"], "wait": "5m"},
            {"page": ["suppleant"], "wait": "5m"},
        ],
    }
    cfg = make_config(people=PEOPLE, rosters=[roster], ladders=[ladder], duty_officers=["david"])
    async with duty_desk(db_url, cfg) as desk:
        alice, bruno, david = desk.device("alice"), desk.device("bruno"), desk.device("david")
        ref = await desk.signal("Rupture d'approvisionnement en oxygène")
        await alice.expect_page(ref, "titulaire")
        await david.expect_page(ref, "personne désignée")
        await desk.advance(minutes=5)
        # Nobody holds the cadre level: the step is skipped at once, not waited for.
        await bruno.expect_page(ref, "étape 3/3")
        history = [e["message"] for e in await desk.history(ref)]
        assert (
            "Étape 2/3 : personne à appeler (niveau cadre d'astreinte non pourvu), passage à l'étape suivante"
            in history
        )


async def test_routes_pick_the_ladder(db_url: str) -> None:
    urgent = {"id": "urgent", "roster": "pfr", "steps": [{"page": ["titulaire", "suppleant"], "wait": "2m"}]}
    cfg = make_config(
        people=PEOPLE,
        rosters=[ROSTER],
        ladders=[LADDER, urgent],
        duty_officers=["david"],
        intake={
            "routes": [
                {"min_severity": "critique", "ladder": "urgent"},
                {"token": "samu", "ladder": "urgent"},
            ]
        },
    )
    async with duty_desk(db_url, cfg) as desk:
        bruno = desk.device("bruno")
        low = await desk.signal("Signal ordinaire", severity="significative")
        await bruno.expect_nothing()
        high = await desk.signal("Afflux massif de victimes", severity="catastrophique")
        await bruno.expect_page(high, "étape 1/1")
        samu = await desk.client.post(
            "/api/v1/signals",
            headers={"Authorization": "Bearer samu-token-secret"},
            json={"title": "Appel SAMU"},
        )
        await desk.vigie.settle()
        await bruno.expect_page(samu.json()["reference"])
        assert low != high


async def test_the_list_of_signals_shows_where_each_ladder_stands(db_url: str) -> None:
    """An alert nobody answered must not look like one received a second ago."""
    async with duty_desk(db_url, config()) as desk:
        unanswered = await desk.signal("Personne ne répond")
        taken = await desk.signal("Pris tout de suite")
        drill = await desk.signal("Exercice du mardi", exercise=True)
        await desk.ack(taken, "alice")
        await desk.advance(minutes=5)  # step 2 for the two others

        async def listed(**params: str) -> dict[str, dict[str, Any]]:
            # Exercises are hidden from the lists unless asked: asked here.
            answer = await desk.client.get(
                "/api/v1/signals", params={"exercise": "include", **params}, headers=AUTH
            )
            return {s["reference"]: s for s in answer.json()["signals"]}

        assert drill not in {
            s["reference"] for s in (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        }
        now = await listed(status="open")
        assert now[unanswered]["ladder"] == {
            "state": "en-cours",
            "step": 2,
            "steps": 3,
            "round": 1,
            "next_step_at": "2026-11-24T02:22:00+00:00",
            "since": None,
            "paged": ["alice", "bruno"],
        }
        assert now[taken]["ladder"]["state"] == "acquitte"
        assert now[drill]["exercise"] is True
        await desk.advance(minutes=20)  # the cadre's 10 minutes run out: nobody answered
        gone_silent = await listed(state="sans-reponse")
        assert set(gone_silent) == {unanswered, drill}
        assert gone_silent[unanswered]["ladder"]["since"] == "2026-11-24T02:32:00+00:00"
        assert gone_silent[unanswered]["ladder"]["paged"] == ["alice", "bruno", "chloe"]
        assert set(await listed(state="acquitte")) == {taken}
        refused = await desk.client.get("/api/v1/signals", params={"state": "perdu"}, headers=AUTH)
        assert refused.status_code == 422 and "sans-reponse" in refused.json()["message"]


async def test_desk_language_en_gives_english_everywhere(db_url: str) -> None:
    from bot.domain import OriginChannel
    from bot.intake import Origin

    english = config(desk={"name": "PFR test", "language": "en"})
    async with duty_desk(db_url, english) as desk:
        alice = desk.device("alice")
        ref = await desk.signal("Chlorine leak, swimming pool")
        await alice.expect_page(ref, "You are paged as titulaire (step 1/3).")
        taken = await desk.ack(ref, "alice")
        assert taken.json()["message"] == f"{ref} taken by Alice Martin at 03:12."
        twice = await desk.ack(ref, "bruno")
        assert twice.status_code == 409
        assert twice.json()["message"] == f"{ref} was already taken by Alice Martin (at 03:12)."
        late = await desk.post(f"/api/v1/signals/{ref}/escalate", {})
        assert late.json()["message"] == f"{ref} was already taken by Alice Martin."
        origin = Origin(OriginChannel.CLI, person_id="bruno")
        help_text = (await desk.vigie.inbound.handle_message("bruno", "/help", origin)).text
        assert help_text.startswith("Vigie commands:")
        refused = await desk.vigie.inbound.handle_message("bruno", f"/close {ref}", origin)
        assert refused.text.startswith("Refused: closing a signal is for the functions")
        history = [e["message"] for e in await desk.history(ref)]
        assert "Taken by Alice Martin (http)" in history
        missing = await desk.ack("PFR-2026-999999", "alice")
        assert missing.json()["message"] == "No signal with reference “PFR-2026-999999”."


async def test_a_step_falling_due_during_a_catch_up_does_not_wait_behind_the_backlog(db_url: str) -> None:
    """After an outage thousands of steps are overdue; one falling due now is among the first run."""
    async with duty_desk(db_url, config()) as desk:
        desk.vigie.engine.batch = 6  # a small batch stands for a big backlog
        for n in range(18):
            answer = await desk.client.post("/api/v1/signals", headers=AUTH, json={"title": f"Ancien {n}"})
            assert answer.status_code == 202
        desk.clock.set(desk.clock.now() + timedelta(minutes=30))  # the service was down meanwhile
        fresh = await desk.client.post("/api/v1/signals", headers=AUTH, json={"title": "Tout juste arrivé"})
        reference = fresh.json()["reference"]
        await desk.vigie.engine.run_due()  # the first batch of the catch-up
        history = [e["kind"] for e in (await desk.history(reference))]
        assert "step" in history  # paged in the first batch, not after the 24 overdue ones
        pending = (
            await desk.client.get("/api/v1/signals", params={"state": "en-cours"}, headers=AUTH)
        ).json()
        assert pending["count"] >= 1
