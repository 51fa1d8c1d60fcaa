"""The store under contention: another process holding SQLite's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support import AUTH, make_config, running_vigie

PEOPLE: list[dict[str, Any]] = [
    {"id": "alice", "name": "Alice Martin", "functions": ["referent"]},
]
LADDER = {"id": "default", "steps": [{"page": ["alice"], "wait": "5m"}]}


def config():  # type: ignore[no-untyped-def]
    return make_config(people=PEOPLE, ladders=[LADDER])


def sqlite_path(db_url: str) -> str:
    path = sa.engine.make_url(db_url).database
    assert path
    return path


async def test_a_cli_holding_the_sqlite_store_delays_a_signal_but_never_freezes_the_service(
    tmp_path: Any,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"
    async with running_vigie(url, config=config()) as server, server.client() as client:
        # Another process (« vigie maintenance start … » from a shell) holds the write lock.
        other = sqlite3.connect(sqlite_path(url), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            post = asyncio.create_task(
                client.post("/api/v1/signals", headers=AUTH, json={"title": "Fuite de chlore"})
            )
            await asyncio.sleep(0.5)
            assert not post.done()  # no receipt before the signal is on disk
            # Meanwhile the service answers: the wait is asleep, not in the loop's thread.
            started = time.perf_counter()
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert time.perf_counter() - started < 0.25
            listing = await client.get("/api/v1/signals", headers=AUTH)  # readers never wait
            assert listing.json()["count"] == 0
        finally:
            other.execute("COMMIT")
            other.close()
        answer = await asyncio.wait_for(post, 10)
        assert answer.status_code == 202
        assert answer.json()["reference"].endswith("-000001")


async def test_a_lock_never_released_is_a_clear_refusal_not_a_lost_signal(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.db

    monkeypatch.setattr(bot.db, "LOCK_WAIT_SECONDS", 0.5)
    url = f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"
    async with running_vigie(url, config=config()) as server, server.client() as client:
        other = sqlite3.connect(sqlite_path(url), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            refused = await client.post("/api/v1/signals", headers=AUTH, json={"title": "Panne"})
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert refused.status_code == 503
        assert "PAS été enregistré" in refused.json()["message"]
        assert refused.headers["Retry-After"] == "5"
        # The sender retries once the store is free: accepted, number 1 (nothing was burnt).
        again = await client.post("/api/v1/signals", headers=AUTH, json={"title": "Panne"})
        assert again.status_code == 202
        assert again.json()["reference"].endswith("-000001")
