"""Prometheus Alertmanager webhook (payload version 4)."""

from __future__ import annotations

from typing import Any

from tests.support import AUTH, make_config, running_vigie


def notification(
    status: str, alerts: list[dict[str, Any]], group_key: str = '{}:{alertname="SurSaUDSeuil"}'
) -> dict:
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "vigie-pfr",
        "groupLabels": {"alertname": "SurSaUDSeuil"},
        "commonLabels": {
            "alertname": "SurSaUDSeuil",
            "severity": "critical",
            "category": "surveillance-humaine",
        },
        "commonAnnotations": {"summary": "Passages aux urgences pour bronchiolite au-dessus du seuil"},
        "externalURL": "http://alertmanager.local:9093",
        "alerts": alerts,
    }


def alert(status: str, fingerprint: str, dept: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "SurSaUDSeuil", "severity": "critical", "departement": dept},
        "annotations": {"summary": f"Seuil dépassé ({dept})"},
        "startsAt": "2026-11-23T07:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.local/graph",
        "fingerprint": fingerprint,
    }


async def test_firing_group_becomes_one_signal_and_repeats_attach(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        first = await client.post(
            "/api/v1/alertmanager",
            headers=AUTH,
            json=notification("firing", [alert("firing", "aa11", "59"), alert("firing", "bb22", "62")]),
        )
        assert first.status_code == 202
        ref = first.json()["signals"][0]["reference"]
        assert first.json()["message"].startswith(f"Signal reçu, référence {ref}")

        repeat = await client.post(
            "/api/v1/alertmanager",
            headers=AUTH,
            json=notification("firing", [alert("firing", "aa11", "59"), alert("firing", "bb22", "62")]),
        )
        assert repeat.status_code == 200
        assert repeat.json()["signals"][0]["reference"] == ref

        signal = (await client.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()
        assert signal["title"] == "Passages aux urgences pour bronchiolite au-dessus du seuil (2 alertes)"
        assert signal["severity"] == "critique"
        assert signal["category"] == "surveillance-humaine"
        assert signal["origin"]["channel"] == "alertmanager"
        assert "Seuil dépassé (62)" in signal["body"]
        assert [e["kind"] for e in signal["history"]] == ["received", "no_ladder", "duplicate"]
        assert (await client.get("/api/v1/signals", headers=AUTH)).json()["count"] == 1


async def test_resolved_is_recorded_on_the_open_signal_and_creates_nothing(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        fired = await client.post(
            "/api/v1/alertmanager", headers=AUTH, json=notification("firing", [alert("firing", "aa11", "59")])
        )
        ref = fired.json()["signals"][0]["reference"]
        resolved = await client.post(
            "/api/v1/alertmanager",
            headers=AUTH,
            json=notification("resolved", [alert("resolved", "aa11", "59")]),
        )
        assert resolved.status_code == 200
        assert resolved.json()["resolved"] == [ref]
        assert resolved.json()["signals"] == []
        signal = (await client.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()
        assert signal["history"][-1]["kind"] == "source_resolved"
        assert "fin de l'alerte" in signal["history"][-1]["message"]
        # The signal stays open: only a person closes it.
        assert signal["status"] == "recu"

        # A resolution for a group never seen creates nothing.
        orphan = await client.post(
            "/api/v1/alertmanager",
            headers=AUTH,
            json=notification("resolved", [alert("resolved", "zz", "80")], group_key="{}:{x}"),
        )
        assert orphan.status_code == 200
        assert "aucun signal ouvert" in orphan.json()["message"]
        assert (await client.get("/api/v1/signals", headers=AUTH)).json()["count"] == 1


async def test_fingerprint_mode_makes_one_signal_per_alert(db_url: str) -> None:
    config = make_config(intake={"alertmanager": {"dedup_by": "fingerprint"}})
    async with running_vigie(db_url, config=config) as server, server.client() as client:
        answer = await client.post(
            "/api/v1/alertmanager",
            headers=AUTH,
            json=notification("firing", [alert("firing", "aa11", "59"), alert("firing", "bb22", "62")]),
        )
        assert answer.status_code == 202
        refs = [s["reference"] for s in answer.json()["signals"]]
        assert len(set(refs)) == 2
        titles = {(await client.get(f"/api/v1/signals/{r}", headers=AUTH)).json()["title"] for r in refs}
        assert titles == {"Seuil dépassé (59)", "Seuil dépassé (62)"}
        # One alert resolves: only its signal hears of it.
        mixed = await client.post(
            "/api/v1/alertmanager",
            headers=AUTH,
            json=notification("firing", [alert("firing", "aa11", "59"), alert("resolved", "bb22", "62")]),
        )
        assert mixed.json()["resolved"] == [refs[1]]


async def test_bad_alertmanager_payloads_are_refused(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        wrong_version = notification("firing", [alert("firing", "aa", "59")])
        wrong_version["version"] = "3"
        answer = await client.post("/api/v1/alertmanager", headers=AUTH, json=wrong_version)
        assert answer.status_code == 422
        assert answer.json()["fields"][0]["field"] == "version"
        no_token = await client.post(
            "/api/v1/alertmanager", json=notification("firing", [alert("firing", "a", "1")])
        )
        assert no_token.status_code == 401
        assert (await client.get("/api/v1/signals", headers=AUTH)).json()["count"] == 0
