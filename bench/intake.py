"""Intake benchmark: POST /api/v1/signals at a fixed rate against a real `vigie serve`.

Open loop: request n is sent at t0 + n/rate whatever happened to the previous ones, so a
slow server shows up as latency, not as a politely reduced rate. Latency is measured from
the scheduled send time to the 202. Prints p50/p99/max latency and achieved throughput.

    .venv/bin/python bench/intake.py                       # SQLite and PostgreSQL, 200/s, 15 s
    .venv/bin/python bench/intake.py --rate 300 --seconds 30 --backend sqlite
    .venv/bin/python bench/intake.py --paging              # every signal also pages (demo ladder)

By default the service runs a configuration with no ladder: the figures are those of intake
itself (store, reference, receipt). With --paging it runs config/demo.yaml, so each signal
also starts a ladder whose steps page people while the load goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

REPO = Path(__file__).resolve().parent.parent
VIGIE = str(Path(sys.executable).with_name("vigie"))
TOKEN = "bench-token"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_up(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(400):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("vigie serve did not come up")


async def load(base: str, rate: float, seconds: float) -> dict[str, float]:
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        # Warm-up: connections, first queries.
        await asyncio.gather(
            *(
                client.post(
                    "/api/v1/signals", headers={"Authorization": f"Bearer {TOKEN}"}, json={"title": "w"}
                )
                for _ in range(20)
            )
        )
        start = time.perf_counter() + 0.2

        async def one(n: int) -> None:
            nonlocal errors
            scheduled = start + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            answer = await client.post(
                "/api/v1/signals",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json={"title": f"Signal de charge {n}", "severity": "significative", "category": "autre"},
            )
            if answer.status_code != 202:
                errors += 1
                return
            latencies.append(time.perf_counter() - scheduled)

        await asyncio.gather(*(one(n) for n in range(total)))
        elapsed = time.perf_counter() - start
        server_p99 = server_side_p99((await client.get("/metrics")).text)
    return {
        "sent": total,
        "ok": len(latencies),
        "errors": errors,
        "throughput": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "server_p99_ms": server_p99 * 1000,
    }


def server_side_p99(metrics: str) -> float:
    """Upper bound of the bucket holding the 99th percentile of the server's own histogram."""
    buckets: list[tuple[float, float]] = []
    for line in metrics.splitlines():
        if line.startswith("vigie_intake_latency_seconds_bucket{") and 'source="http"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1]
    return next(le for le, count in buckets if count >= 0.99 * total)


INTAKE_ONLY = """\
version: 1
desk: {name: Banc d'essai intake}
people: [{id: alice, name: Alice}]
"""


async def run_backend(backend: str, rate: float, seconds: float, paging: bool) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    config = REPO / "config" / "demo.yaml"
    if not paging:
        config = workdir / "intake-only.yaml"
        config.write_text(INTAKE_ONLY, encoding="utf-8")
    pg_name = f"vigie_bench_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'vigie.db'}"
    else:
        admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="test")
        await admin.execute(f'CREATE DATABASE "{pg_name}"')
        await admin.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_name}"
    port = 18080 + (0 if backend == "sqlite" else 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(
        VIGIE_DATABASE_URL=url,
        VIGIE_API_TOKENS=f"bench:{TOKEN}",
        VIGIE_CONFIG=str(config),
        VIGIE_LOG_LEVEL="WARNING",
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
        await wait_up(base)
        return await load(base, rate, seconds)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
        shutil.rmtree(workdir, ignore_errors=True)
        if backend == "postgresql":
            admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="test")
            await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="signals per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of the load")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--paging", action="store_true", help="each signal also starts the demo ladder")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    rate, seconds = args.rate, args.seconds
    mode = "with paging (demo ladder)" if args.paging else "intake only (no ladder)"
    print(f"intake benchmark, {mode}: {rate:.0f} signals/s for {seconds:.0f} s, open loop")
    header = ["sent", "ok", "err", "req/s", "p50 ms", "p99 ms", "max ms", "srv p99<="]
    print(f"{'backend':<11} " + " ".join(f"{h:>8}" for h in header))
    for backend in backends:
        r = await run_backend(backend, args.rate, args.seconds, args.paging)
        print(
            f"{backend:<11} {r['sent']:>8.0f} {r['ok']:>8.0f} {r['errors']:>8.0f} {r['throughput']:>8.1f}"
            f" {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['server_p99_ms']:>8.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
