"""Intake benchmark: POST /api/v1/signals at fixed rates against a real `vigie serve`.

Open loop: request n is sent at t0 + n/rate whatever happened to the previous ones, so a slow
server shows up as latency, not as a politely reduced rate; latency is measured from the
scheduled send time to the 202. The load comes from client processes of their own (aiohttp, lighter
than httpx), and the bench prints their CPU use next to the server's, so a reader can see that the
client is not the bottleneck (the former single-process httpx client used most of a core at
200/s and measured itself). Prints, per rate: p50/p99/max latency, achieved throughput, the
server's CPU (% of one core, and CPU-ms per signal), the clients' CPU.

    .venv/bin/python bench/intake.py                          # SQLite and PostgreSQL, 50/100/200/s, 15 s each
    .venv/bin/python bench/intake.py --rates 300 --seconds 30 --backend sqlite
    .venv/bin/python bench/intake.py --paging                 # each signal also pages (by e-mail)
    .venv/bin/python bench/intake.py --paging --instances 2   # two `vigie serve` on one PostgreSQL

By default the service runs a configuration with no ladder: the figures are those of intake
itself (store, reference, receipt). With --paging each signal starts a one-step ladder paging
Alice by e-mail (to a local SMTP sink in a process of its own), and the bench adds, from the
store, the time from the signal's arrival to its first page handed to the SMTP relay (p50, p99).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from common import drop_store, free_port, new_store, percentile, smtp_sink, wait_up

REPO = Path(__file__).resolve().parent.parent
VIGIE = str(Path(sys.executable).with_name("vigie"))
TOKEN = "bench-token"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# --- the load, in client processes of their own --------------------------------------------------


def client_process(base: str, rate: float, seconds: float, start_at: float, offset: int, out: Any) -> None:
    """One client: an open loop at ``rate`` starting at the wall-clock ``start_at``."""
    out.put(asyncio.run(_client(base, rate, seconds, start_at, offset)))


async def _client(base: str, rate: float, seconds: float, start_at: float, offset: int) -> dict[str, Any]:
    import aiohttp

    cpu0 = time.process_time()
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(base_url=base, connector=connector) as session:
        for _ in range(5):  # warm the connections
            async with session.post("/api/v1/signals", headers=headers, json={"title": "w"}) as answer:
                await answer.read()
        # Both clocks: the schedule in wall time shared by the processes, measured on perf_counter.
        origin = time.perf_counter() + (start_at - time.time())

        async def one(n: int) -> None:
            nonlocal errors
            scheduled = origin + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = {
                "title": f"Signal de charge {offset}-{n}",
                "severity": "significative",
                "category": "autre",
            }
            try:
                async with session.post("/api/v1/signals", headers=headers, json=body) as answer:
                    await answer.read()
                    ok = answer.status == 202
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - scheduled)
            else:
                errors += 1

        await asyncio.gather(*(one(n) for n in range(total)))
    return {"latencies": latencies, "errors": errors, "cpu": time.process_time() - cpu0}


async def load(
    bases: list[str], pids: list[int], rate: float, seconds: float, clients: int
) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = time.time() + 2.0  # time for the processes to start and warm up
    processes = [
        context.Process(
            target=client_process, args=(bases[i % len(bases)], rate / clients, seconds, start_at, i, out)
        )
        for i in range(clients)
    ]
    for p in processes:
        p.start()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    server0, wall0 = sum(map(cpu_seconds, pids)), time.perf_counter()
    results = [await asyncio.to_thread(out.get) for _ in processes]
    server1, wall1 = sum(map(cpu_seconds, pids)), time.perf_counter()
    for p in processes:
        p.join()
    latencies = [x for r in results for x in r["latencies"]]
    ok = len(latencies)
    wall = wall1 - wall0
    async with httpx.AsyncClient(base_url=bases[0]) as client:
        server_p99 = server_side_p99((await client.get("/metrics")).text)
    return {
        "sent": int(rate * seconds) // clients * clients,
        "ok": ok,
        "errors": sum(r["errors"] for r in results),
        "throughput": ok / wall,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "server_p99_ms": server_p99 * 1000,
        "server_cpu_pct": 100 * (server1 - server0) / wall,  # of one core, all instances together
        "cpu_ms_per_signal": 1000 * (server1 - server0) / max(1, ok),
        "client_cpu_pct": 100 * sum(r["cpu"] for r in results) / wall / clients,
    }


def server_side_p99(metrics: str) -> float:
    """Upper bound of the bucket holding the 99th percentile of the server's own histogram."""
    buckets: list[tuple[float, float]] = []
    for line in metrics.splitlines():
        if line.startswith("vigie_intake_latency_seconds_bucket{") and 'source="http"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    return next((le for le, count in buckets if count >= 0.99 * total), float("nan"))


# --- the service ---------------------------------------------------------------------------------


def bench_config(paging: bool, smtp_port: int) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 1,
        "desk": {"name": "Banc d'essai intake"},
        "people": [
            {
                "id": "alice",
                "name": "Alice",
                "contacts": {"email": "alice@ars-exemple.fr"},
                "notify": ["email"],
            }
        ],
    }
    if paging:
        config |= {
            "ladders": [{"id": "default", "steps": [{"page": ["alice"], "wait": "1h"}]}],
            # Thousands of signals from one token on purpose: each on its own ladder, no storm grouping.
            "intake": {"storm": {"limit": 1_000_000}},
            "channels": {
                "email": {
                    "enabled": True,
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp_port,
                    "security": "none",
                    "from_address": "vigie@ars-exemple.fr",
                },
            },
        }
    return config


async def first_pages(url: str) -> tuple[float, float, int]:
    """From the store: signal received → its first page handed to the relay (p50, p99 ms)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT s.received_at, MIN(o.sent_at) FROM signals s JOIN outbox_messages o "
                        "ON o.signal_id = s.id AND o.kind = 'page' AND o.sent_at IS NOT NULL "
                        "WHERE s.title LIKE 'Signal de charge%' GROUP BY s.id, s.received_at"
                    )
                )
            ).all()
    finally:
        await engine.dispose()

    def instant(value: Any) -> float:
        if isinstance(value, str):  # SQLite keeps text
            from datetime import datetime

            value = datetime.fromisoformat(value)
        return float(value.timestamp())  # both ends in the same zone: only the difference counts

    gaps = [(instant(sent) - instant(received)) * 1000 for received, sent in rows]
    return percentile(gaps, 0.5), percentile(gaps, 0.99), len(gaps)


async def run_backend(
    backend: str, rate: float, seconds: float, paging: bool, clients: int, instances: int = 1
) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    smtp_port = free_port()
    config = workdir / "bench.yaml"
    config.write_text(yaml.safe_dump(bench_config(paging, smtp_port), allow_unicode=True), encoding="utf-8")
    url, pg_name = await new_store(backend, workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env.update(
        VIGIE_DATABASE_URL=url,
        VIGIE_API_TOKENS=f"bench:{TOKEN}",
        VIGIE_CONFIG=str(config),
        VIGIE_LOG_LEVEL="WARNING",
        VIGIE_LINK_SECRET="bench-link-secret",
    )
    sink = None
    if paging:  # an SMTP relay that accepts and drops, in a process of its own
        sink = await smtp_sink(smtp_port)
    ports = [free_port() for _ in range(instances)]
    procs = []
    for port in ports:  # several instances on one store (PostgreSQL), as a desk would scale out
        procs.append(
            await asyncio.create_subprocess_exec(
                VIGIE,
                "serve",
                "--port",
                str(port),
                cwd=workdir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            await wait_up(base)
        result = await load(bases, [p.pid for p in procs], rate, seconds, clients)
        if paging:
            await asyncio.sleep(3.0)  # the last pages leave
            result["page_p50_ms"], result["page_p99_ms"], result["pages"] = await first_pages(url)
        return result
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 30)
        if sink is not None:
            sink.terminate()
            await sink.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        await drop_store(pg_name)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="50,100,200", help="signals per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of each load")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--paging", action="store_true", help="each signal also pages Alice by e-mail")
    parser.add_argument(
        "--instances", type=int, default=1, help="vigie serve processes on one store (PostgreSQL only)"
    )
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if args.instances > 1:
        backends = ["postgresql"]  # SQLite is one instance's store
        args.clients = max(args.clients, args.instances)
    rates = [float(r) for r in args.rates.split(",")]
    mode = "with paging (one e-mail page a signal)" if args.paging else "intake only (no ladder)"
    print(
        f"intake benchmark, {mode}: {args.seconds:.0f} s a rate, open loop, {args.clients} client processes"
        f", {args.instances} instance(s)"
    )
    header = ["rate", "ok", "err", "req/s", "p50 ms", "p99 ms", "max ms", "srv p99<=", "srv cpu%",
              "cpu ms/sig", "cli cpu%"]  # fmt: skip
    if args.paging:
        header += ["page p50", "page p99"]
    print(f"{'backend':<11} " + " ".join(f"{h:>10}" for h in header))
    for backend in backends:
        for rate in rates:
            r = await run_backend(backend, rate, args.seconds, args.paging, args.clients, args.instances)
            line = (
                f"{backend:<11} {rate:>10.0f} {r['ok']:>10.0f} {r['errors']:>10.0f} {r['throughput']:>10.1f}"
                f" {r['p50_ms']:>10.1f} {r['p99_ms']:>10.1f} {r['max_ms']:>10.1f} {r['server_p99_ms']:>10.1f}"
                f" {r['server_cpu_pct']:>10.0f} {r['cpu_ms_per_signal']:>10.2f} {r['client_cpu_pct']:>10.0f}"
            )
            if args.paging:
                line += f" {r['page_p50_ms']:>10.1f} {r['page_p99_ms']:>10.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
