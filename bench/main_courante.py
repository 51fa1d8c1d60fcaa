"""Main-courante benchmark, on a real `vigie serve` with Slack enabled against the local fake.

1. Room path: a crisis is opened over HTTP; its Slack channel then receives signed `message`
   events at a fixed rate (open loop, as Slack sends them). Prints entries/s and the latency
   from an event's scheduled send time to its entry's time in the store (p50, p99, max).
2. A crisis of N entries (default 100,000), chained as the service chains them, written in bulk;
   then the time to verify the chain, and to export CSV and PDF, as `vigie verify` and
   `vigie export` do.

    .venv/bin/python bench/main_courante.py                        # both backends, 200/s, 10 s
    .venv/bin/python bench/main_courante.py --backend sqlite --rate 300 --entries 20000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import drop_store, new_store, percentile  # noqa: E402  (bench/common.py)

from bot.crisis.chain import GENESIS, entry_hash  # noqa: E402
from bot.crisis.export import load_record, to_csv, to_pdf  # noqa: E402
from bot.crisis.models import EntryRow  # noqa: E402
from bot.db import Database  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.support import AsgiServer  # noqa: E402

VIGIE = str(Path(sys.executable).with_name("vigie"))
TOKEN = "bench-token"
SLACK_TOKEN, SIGNING = "xoxb-bench", "bench-signing-secret-0123456789"
MEMBER = "U0CHLOE01"


def config(slack_url: str) -> dict[str, object]:
    return {
        "version": 1,
        "desk": {"name": "Banc d'essai main courante"},
        "people": [
            {"id": "david", "name": "David Roux", "functions": ["responsable"]},
            {
                "id": "chloe",
                "name": "Chloé Bernard",
                "functions": ["decision"],
                "contacts": {"slack_id": MEMBER},
            },
        ],
        "channels": {"slack": {"enabled": True, "base_url": f"{slack_url}/api/"}},
        "crisis": {"cells": {"restreinte": {"functions": {"decision": ["chloe"]}}}},
    }


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/json",
    }


async def room_path(base: str, slack: FakeSlack, rate: float, seconds: float) -> dict[str, float]:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        opened = await client.post("/api/v1/crises", headers=auth, json={"person": "david", "title": "Banc"})
        reference = opened.json()["reference"]
        for _ in range(200):
            channel = slack.channel_named("crise-")
            if channel is not None:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("no crisis channel")
        total = int(rate * seconds)
        sent_at: dict[str, float] = {}
        start = time.time() + 0.3

        async def one(n: int) -> None:
            scheduled = start + n / rate
            delay = scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            text = f"message de charge {n}"
            event = {
                "type": "message",
                "channel_type": "channel",
                "channel": channel["id"],
                "user": MEMBER,
                "text": text,
                "ts": f"{int(scheduled)}.{n:06d}",
            }
            envelope = {
                "token": "x",
                "team_id": "T0PFR0001",
                "api_app_id": "AVIGIE",
                "type": "event_callback",
                "event_id": f"Ev{n}",
                "event_time": int(scheduled),
                "event": event,
                "authorizations": [{"team_id": "T0PFR0001", "user_id": "UVIGIEBOT", "is_bot": True}],
            }
            body = json.dumps(envelope)
            sent_at[text] = scheduled
            await client.post("/slack/events", content=body, headers=signed(body))

        await asyncio.gather(*(one(n) for n in range(total)))
        deadline = time.time() + 60
        found: list[dict[str, object]] = []
        while time.time() < deadline:
            state = (await client.get(f"/api/v1/crises/{reference}", headers=auth)).json()
            found = [e for e in state["entries"] if str(e["text"]).startswith("message de charge")]
            if len(found) >= total:
                break
            await asyncio.sleep(0.5)
    latencies = [datetime.fromisoformat(str(e["at"])).timestamp() - sent_at[str(e["text"])] for e in found]
    last = max(datetime.fromisoformat(str(e["at"])).timestamp() for e in found)
    return {
        "sent": total,
        "logged": len(found),
        "rate": len(found) / (last - start),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


async def big_crisis(url: str, count: int) -> dict[str, float]:
    """A crisis of ``count`` entries written in bulk with the service's own chain, then verify
    and exports timed."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            crisis_id = (
                await conn.execute(
                    sa.text(
                        "INSERT INTO crises (reference, year, seq, title, phase, composition, state,"
                        " is_exercise, opened_at, opened_by) VALUES ('CRISE-2026-9999', 2026, 9999,"
                        " 'Grande crise', 'aigue', 'elargie', 'ouverte', false, :at, 'david') RETURNING id"
                    ).bindparams(at=datetime.now(UTC))
                )
            ).scalar_one()
        table = EntryRow.__table__  # type: ignore[attr-defined]
        prev, rows, t0 = GENESIS, [], datetime(2026, 11, 24, 8, tzinfo=UTC)
        for n in range(1, count + 1):
            entry = EntryRow(
                crisis_id=crisis_id,
                number=n,
                at=t0 + timedelta(seconds=n),
                author_label="Chloé Bernard",
                author_id="chloe",
                origin="slack",
                kind="decision" if n % 50 == 0 else "information",
                text=f"Entrée n° {n} : point sur la situation, résidents évacués, équipe médicale sur place.",
                attachments=[],
                prev_hash=prev,
                hash="",
            )
            entry.hash = entry_hash("CRISE-2026-9999", entry, prev)
            prev = entry.hash
            rows.append(entry.model_dump(exclude={"id"}))
        async with db.engine.begin() as conn:
            for i in range(0, len(rows), 5000):
                await conn.execute(sa.insert(table), rows[i : i + 5000])
        zone = ZoneInfo("Europe/Paris")
        started = time.perf_counter()
        async with db.read_session() as session:
            record = await load_record(session, "CRISE-2026-9999", {"chloe": "Chloé Bernard"}, zone)
        assert record is not None and record.verdict.ok and record.verdict.count == count
        verify_s = time.perf_counter() - started
        started = time.perf_counter()
        csv_bytes = to_csv(record)
        csv_s = verify_s + time.perf_counter() - started
        started = time.perf_counter()
        pdf_bytes = to_pdf(record, datetime.now(UTC))
        pdf_s = verify_s + time.perf_counter() - started
        return {
            "verify_s": verify_s,
            "csv_s": csv_s,
            "pdf_s": pdf_s,
            "csv_mb": len(csv_bytes) / 1e6,
            "pdf_mb": len(pdf_bytes) / 1e6,
        }
    finally:
        await db.dispose()


async def run_backend(
    backend: str, rate: float, seconds: float, count: int
) -> tuple[dict[str, float], dict[str, float]]:
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-mc-"))
    url, pg_name = await new_store(backend, workdir)
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    slack.user(MEMBER, "chloe")
    port = 18090 + (0 if backend == "sqlite" else 1)
    async with AsgiServer(slack.app) as slack_api:
        slack.url = slack_api.url
        cfg = workdir / "vigie.yaml"
        cfg.write_text(yaml.safe_dump(config(slack_api.url), allow_unicode=True), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
        env.update(
            VIGIE_DATABASE_URL=url,
            VIGIE_API_TOKENS=f"bench:{TOKEN}",
            VIGIE_CONFIG=str(cfg),
            VIGIE_LOG_LEVEL="WARNING",
            VIGIE_SLACK_BOT_TOKEN=SLACK_TOKEN,
            VIGIE_SLACK_SIGNING_SECRET=SIGNING,
        )
        proc = await asyncio.create_subprocess_exec(
            VIGIE,
            "serve",
            "--port",
            str(port),
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base) as client:
                for _ in range(400):
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)
            room = await room_path(base, slack, rate, seconds)
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 20)
    try:
        big = await big_crisis(url, count)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        await drop_store(pg_name)
    return room, big


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="room messages per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--entries", type=int, default=100_000, help="entries of the big crisis")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(
        f"main courante: {args.rate:.0f} Slack messages/s for {args.seconds:.0f} s,"
        f" then a crisis of {args.entries} entries"
    )
    print(
        f"{'backend':<11} {'sent':>6} {'logged':>7} {'entr/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'verify s':>9} {'csv s':>7} {'pdf s':>7} {'pdf MB':>7}"
    )
    for backend in backends:
        room, big = await run_backend(backend, args.rate, args.seconds, args.entries)
        print(
            f"{backend:<11} {room['sent']:>6.0f} {room['logged']:>7.0f} {room['rate']:>7.1f}"
            f" {room['p50_ms']:>7.1f} {room['p99_ms']:>7.1f} {room['max_ms']:>7.1f}"
            f" {big['verify_s']:>9.2f} {big['csv_s']:>7.2f} {big['pdf_s']:>7.2f} {big['pdf_mb']:>7.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
