"""The store under contention: another process holding SQLite's write lock."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


# Another process (« vigie maintenance start … » from a shell) holding the write lock until
# told to let go: a real process, so that it never waits on the test's event loop.
HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


@asynccontextmanager
async def lock_held_elsewhere(db_url: str) -> AsyncIterator[None]:
    path = sa.engine.make_url(db_url).database
    assert path
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, path, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
        yield
    finally:
        holder.stdin.write(b"go\n")
        await holder.stdin.drain()
        assert await asyncio.wait_for(holder.wait(), 30) == 0


async def test_a_cli_holding_the_sqlite_store_delays_a_signal_but_never_freezes_the_service(
    tmp_path: Any,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"
    async with running_vigie(url, config=config()) as server, server.client() as client:
        async with lock_held_elsewhere(url):
            post = asyncio.create_task(
                client.post("/api/v1/signals", headers=AUTH, json={"title": "Fuite de chlore"})
            )
            await asyncio.sleep(0.5)
            assert not post.done()  # no receipt before the signal is on disk
            # Meanwhile the service answers: the wait is asleep, not in the loop's thread (a
            # BEGIN blocking in the loop would hold every request until the lock is let go).
            health = await asyncio.wait_for(client.get("/healthz"), 2)
            assert health.status_code == 200
            listing = await client.get("/api/v1/signals", headers=AUTH)  # readers never wait
            assert listing.json()["count"] == 0
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
        async with lock_held_elsewhere(url):
            refused = await client.post("/api/v1/signals", headers=AUTH, json={"title": "Panne"})
        assert refused.status_code == 503
        assert "PAS été enregistré" in refused.json()["message"]
        assert refused.headers["Retry-After"] == "5"
        # The sender retries once the store is free: accepted, number 1 (nothing was burnt).
        again = await client.post("/api/v1/signals", headers=AUTH, json={"title": "Panne"})
        assert again.status_code == 202
        assert again.json()["reference"].endswith("-000001")
