"""HTTP intake, through a real uvicorn server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from bot.clock import ManualClock
from tests.support import AUTH, OTHER_TOKEN, running_vigie

REFERENCE = re.compile(r"^PFR-\d{4}-\d{6}$")


async def count_signals(client) -> int:
    listing = (await client.get("/api/v1/signals", headers=AUTH)).json()
    return int(listing["count"])


async def test_signal_is_acknowledged_with_reference_only_once_stored(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.post(
            "/api/v1/signals",
            headers=AUTH,
            json={
                "title": "Cas groupés de gastro-entérite — EHPAD Les Tilleuls",
                "body": "6 résidents, 2 soignants",
                "severity": "majeure",
                "category": "medico-social",
                "reporter": "IDEC EHPAD Les Tilleuls",
            },
        )
        assert answer.status_code == 202
        receipt = answer.json()
        assert REFERENCE.match(receipt["reference"])
        assert receipt["message"] == (
            f"Signal reçu, référence {receipt['reference']}. Il est enregistré et transmis à l'astreinte."
        )
        assert answer.headers["location"] == f"/api/v1/signals/{receipt['reference']}"

        # A fresh process reading the store sees it: the 202 came after the commit.
        stored = await client.get(f"/api/v1/signals/{receipt['reference']}", headers=AUTH)
        assert stored.status_code == 200
        signal = stored.json()
        assert signal["title"] == "Cas groupés de gastro-entérite — EHPAD Les Tilleuls"
        assert signal["severity"] == "majeure"
        assert signal["category"] == "medico-social"
        assert signal["status"] == "recu"
        assert signal["source"] == "test"  # the token's name
        assert [event["kind"] for event in signal["history"]] == ["received", "no_ladder"]
        assert signal["history"][1]["message"] == "Aucune échelle configurée : personne n'est appelé"


async def test_references_increase_and_lookup_ignores_case(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        refs = []
        for n in range(3):
            answer = await client.post("/api/v1/signals", headers=AUTH, json={"title": f"signal {n}"})
            refs.append(answer.json()["reference"])
        year = datetime.now(UTC).year
        seqs = [int(ref.rsplit("-", 1)[1]) for ref in refs]
        assert seqs == [1, 2, 3]
        assert all(ref.startswith(f"PFR-{year}-") for ref in refs)
        assert (await client.get(f"/api/v1/signals/{refs[1].lower()}", headers=AUTH)).json()[
            "title"
        ] == "signal 1"


async def test_reference_year_follows_the_desk_time_zone_and_restarts_at_one(db_url: str) -> None:
    # 23:30 UTC on 31 December is already 00:30 on 1 January in Paris.
    clock = ManualClock(datetime(2026, 12, 31, 22, 30, tzinfo=UTC))
    async with running_vigie(db_url, clock=clock) as server, server.client() as client:
        first = (await client.post("/api/v1/signals", headers=AUTH, json={"title": "avant minuit"})).json()
        clock.set(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
        second = (await client.post("/api/v1/signals", headers=AUTH, json={"title": "après minuit"})).json()
        third = (await client.post("/api/v1/signals", headers=AUTH, json={"title": "encore"})).json()
    assert first["reference"] == "PFR-2026-000001"
    assert second["reference"] == "PFR-2027-000001"
    assert third["reference"] == "PFR-2027-000002"


async def test_same_dedup_key_while_open_attaches_instead_of_creating(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        first = await client.post(
            "/api/v1/signals",
            headers=AUTH,
            json={"title": "Panne eau chaude CH Nord", "dedup_key": "ch-nord-eau"},
        )
        again = await client.post(
            "/api/v1/signals",
            headers={"Authorization": f"Bearer {OTHER_TOKEN}"},
            json={"title": "Eau chaude toujours en panne", "dedup_key": "ch-nord-eau"},
        )
        assert first.status_code == 202
        assert again.status_code == 200
        assert again.json()["reference"] == first.json()["reference"]
        assert again.json()["created"] is False
        assert "Signal déjà reçu" in again.json()["message"]

        signal = (await client.get(f"/api/v1/signals/{first.json()['reference']}", headers=AUTH)).json()
        assert signal["duplicates"] == 1
        duplicate = signal["history"][-1]
        assert duplicate["kind"] == "duplicate"
        assert duplicate["actor"] == "samu"
        assert duplicate["data"]["title"] == "Eau chaude toujours en panne"
        assert await count_signals(client) == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "manquant"),
        ({"Authorization": "Bearer not-the-token"}, "invalide"),
        ({"Authorization": "Basic dGVzdDp0ZXN0"}, "manquant"),
        ({"Authorization": f"Bearer {AUTH['Authorization'][7:]}x"}, "invalide"),
    ],
)
async def test_wrong_or_missing_token_gets_401_and_stores_nothing(
    db_url: str, headers: dict, reason: str
) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.post("/api/v1/signals", headers=headers, json={"title": "intrus"})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert reason in answer.json()["message"]
        assert await count_signals(client) == 0
        assert (await client.get("/api/v1/signals", headers=headers)).status_code == 401


@pytest.mark.parametrize(
    ("payload", "status", "field", "words"),
    [
        (b'{"title": "coupure', 400, None, "JSON illisible"),
        (b"", 400, None, "vide"),
        (b'["title"]', 422, None, "objet"),
        (b'{"body": "sans titre"}', 422, "title", "champ obligatoire manquant"),
        (b'{"title": ""}', 422, "title", "ne doit pas être vide"),
        (b'{"title": 42}', 422, "title", "doit être un texte"),
        (b'{"title": "x", "severity": "grave"}', 422, "severity", "gravité inconnue « grave »"),
        (b'{"title": "x", "category": "meteo"}', 422, "category", "valeur non autorisée « meteo »"),
        (b'{"title": "x", "exercise": "peut-etre"}', 422, "exercise", "true ou false"),
    ],
)
async def test_bad_payload_is_refused_in_french_and_stores_nothing(
    db_url: str, payload: bytes, status: int, field: str | None, words: str
) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.post(
            "/api/v1/signals", headers={**AUTH, "Content-Type": "application/json"}, content=payload
        )
        assert answer.status_code == status, answer.text
        body = answer.json()
        assert words in body["message"] or any(words in f["message"] for f in body.get("fields", []))
        if field:
            assert [f["field"] for f in body["fields"]] == [field]
        assert await count_signals(client) == 0


async def test_body_over_one_mebibyte_is_refused_and_stores_nothing(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        big = json.dumps({"title": "gros", "body": "x" * (1024 * 1024)}).encode()
        answer = await client.post("/api/v1/signals", headers=AUTH, content=big)
        assert answer.status_code == 413
        assert "trop volumineuse" in answer.json()["message"]

        # Without Content-Length (chunked), the limit holds too.
        async def chunks():
            for _ in range(17):
                yield b"x" * 65536

        chunked = await client.post("/api/v1/signals", headers=AUTH, content=chunks())
        assert chunked.status_code == 413
        assert await count_signals(client) == 0

        # Just under the limit is accepted.
        fits = json.dumps({"title": "presque", "body": "x" * (1024 * 1024 - 100)}).encode()
        assert (await client.post("/api/v1/signals", headers=AUTH, content=fits)).status_code == 202


async def test_unknown_fields_are_kept_not_refused(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.post(
            "/api/v1/signals", headers=AUTH, json={"title": "x", "finess": "590000000", "lits": 12}
        )
        assert answer.status_code == 202
        signal = (await client.get(f"/api/v1/signals/{answer.json()['reference']}", headers=AUTH)).json()
        assert signal["attributes"]["extra"] == {"finess": "590000000", "lits": 12}


async def test_english_severity_aliases_are_normalised(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.post(
            "/api/v1/signals", headers=AUTH, json={"title": "x", "severity": "Critical"}
        )
        signal = (await client.get(f"/api/v1/signals/{answer.json()['reference']}", headers=AUTH)).json()
        assert signal["severity"] == "critique"


async def test_listing_filters_by_status_and_unknown_reference_is_404(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        await client.post("/api/v1/signals", headers=AUTH, json={"title": "un"})
        await client.post("/api/v1/signals", headers=AUTH, json={"title": "deux"})
        open_ = (await client.get("/api/v1/signals", params={"status": "open"}, headers=AUTH)).json()
        assert [s["title"] for s in open_["signals"]] == ["deux", "un"]
        closed = (await client.get("/api/v1/signals", params={"status": "closed"}, headers=AUTH)).json()
        assert closed["count"] == 0
        wrong = await client.get("/api/v1/signals", params={"status": "perdu"}, headers=AUTH)
        assert wrong.status_code == 422
        assert "Statut inconnu" in wrong.json()["message"]
        missing = await client.get("/api/v1/signals/PFR-2026-999999", headers=AUTH)
        assert missing.status_code == 404
        assert "PFR-2026-999999" in missing.json()["message"]


async def test_database_failure_answers_503_never_202(pg_url: str) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    from tests.support import pg_admin

    async with running_vigie(pg_url) as server, server.client() as client:
        assert (
            await client.post("/api/v1/signals", headers=AUTH, json={"title": "avant"})
        ).status_code == 202
        # The database goes away under the running service.
        await pg_admin(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        await pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'")
        try:
            answer = await client.post("/api/v1/signals", headers=AUTH, json={"title": "pendant la panne"})
            assert answer.status_code == 503
            assert "n'a PAS été enregistré" in answer.json()["message"]
            assert answer.headers["retry-after"] == "5"
            health = await client.get("/healthz")
            assert health.status_code == 503
        finally:
            await pg_admin(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        titles = [s["title"] for s in (await client.get("/api/v1/signals", headers=AUTH)).json()["signals"]]
        assert titles == ["avant"]
        assert (
            await client.post("/api/v1/signals", headers=AUTH, json={"title": "après"})
        ).status_code == 202


HOSTILE = [
    ('{"title": ' + "[" * 5000 + "]" * 5000 + "}", 400, "trop imbriqué"),
    ('{"title": "x", "n": ' + "9" * 5000 + "}", 400, "JSON refusé"),
    ('{"title": "x", "score": NaN}', 400, "nombre non fini « NaN »"),
    ('{"title": "x", "score": -Infinity}', 400, "nombre non fini « -Infinity »"),
    ('{"title": "Fuite\\u0000de gaz"}', 422, "title : caractère de contrôle interdit"),
    ('{"title": "x", "extra": {"note": "a\\u0007b"}}', 422, "extra.note : caractère de contrôle interdit"),
    ('{"title": "\\u202e\\u200b"}', 422, "title : "),
]


@pytest.mark.parametrize(("body", "status", "says"), HOSTILE)
async def test_hostile_json_is_refused_clearly_and_never_a_5xx(
    db_url: str, body: str, status: int, says: str
) -> None:
    """Deep nesting, 5,000-digit numbers, NaN, NUL and control characters: a 4xx naming the
    problem, on SQLite and PostgreSQL alike (PostgreSQL refuses NUL and NaN in JSON), and
    nothing stored — never a 503 telling the sender to retry forever."""
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.post(
            "/api/v1/signals", headers={**AUTH, "Content-Type": "application/json"}, content=body
        )
        assert answer.status_code == status, answer.text
        assert says in answer.json()["message"]
        assert await count_signals(client) == 0


async def test_invisible_characters_are_stripped_from_titles(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.post(
            "/api/v1/signals", headers=AUTH, json={"title": "\u202eEHPAD\u200b Les Tilleuls\ufeff"}
        )
        assert answer.status_code == 202
        ref = answer.json()["reference"]
        stored = (await client.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()
        assert stored["title"] == "EHPAD Les Tilleuls"
