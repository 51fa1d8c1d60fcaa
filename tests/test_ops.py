"""Health and metrics endpoints."""

from __future__ import annotations

from tests.support import AUTH, running_vigie


async def test_healthz_reports_the_database(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answer = await client.get("/healthz")
        assert answer.status_code == 200
        assert answer.json() == {
            "status": "ok",
            "database": "postgresql" if "postgres" in db_url else "sqlite",
            "channels": {},
        }


async def test_metrics_count_signals_by_source_and_time_intake(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        for _ in range(3):
            await client.post("/api/v1/signals", headers=AUTH, json={"title": "x", "dedup_key": "k"})
        await client.post("/api/v1/signals", headers=AUTH, json={"title": "y"})
        text = (await client.get("/metrics")).text
    assert 'vigie_signals_received_total{outcome="new",source="http"} 2.0' in text
    assert 'vigie_signals_received_total{outcome="duplicate",source="http"} 2.0' in text
    assert 'vigie_intake_latency_seconds_count{source="http"} 4.0' in text
