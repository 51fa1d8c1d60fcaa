"""Escalation benchmark: many concurrent ladders through a real `vigie serve`, killed and restarted.

1. start `vigie serve`, raise N signals over HTTP (each starts a 3-step ladder, short waits);
2. `kill -9` the service while ladders are mid-way, leave it down a few seconds, start it again;
3. wait until every ladder has ended (nobody acknowledges), then read the store.

Prints: lateness of each step against its due time (p50, p99, max), for steps due before the
crash and, apart, for steps due after the restart (they queue behind the outage's backlog); how
long after the restart every overdue step had run, counted from the new process's start and
from its readiness (/healthz); missed pages (expected 3 per ladder) and doubled pages (a person
paged twice for one step).

    .venv/bin/python bench/escalation.py                    # 10,000 ladders, PostgreSQL then SQLite
    .venv/bin/python bench/escalation.py --ladders 2000 --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml
from common import drop_store, new_store, percentile, wait_up  # bench/common.py
from sqlalchemy.ext.asyncio import create_async_engine

REPO = Path(__file__).resolve().parent.parent
VIGIE = str(Path(sys.executable).with_name("vigie"))
TOKEN = "bench-token"

CONFIG = {
    "version": 1,
    "desk": {"name": "Banc d'essai", "timezone": "Europe/Paris"},
    "people": [
        {"id": "alice", "name": "Alice", "functions": ["referent"]},
        {"id": "bruno", "name": "Bruno", "functions": ["referent"]},
        {"id": "chloe", "name": "Chloé", "functions": ["cadre"]},
    ],
    "duty_officers": ["chloe"],
    "rosters": [
        {
            "id": "pfr",
            "name": "PFR",
            "start": "2026-01-05",
            "slots": [{"titulaire": "alice", "suppleant": "bruno", "cadre": "chloe"}],
        }
    ],
    "ladders": [],
    "channels": {"console": {"enabled": True}},
}


class Service:
    def __init__(self, url: str, config: Path, workdir: Path, port: int) -> None:
        self.url, self.config, self.workdir, self.port = url, config, workdir, port
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
        env.update(VIGIE_DATABASE_URL=self.url, VIGIE_API_TOKENS=f"bench:{TOKEN}", VIGIE_LOG_LEVEL="WARNING")
        env["VIGIE_CONFIG"] = str(self.config)
        # Kept for diagnosis: a benchmark that fails must say why.
        self.log = self.workdir.parent / f"vigie-bench-{self.port}-{time.time_ns()}.log"
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                VIGIE,
                "serve",
                "--port",
                str(self.port),
                cwd=self.workdir,
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        await wait_up(f"http://127.0.0.1:{self.port}", within=30)

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 30)


async def raise_signals(port: int, count: int) -> float:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as client:
        sem = asyncio.Semaphore(64)
        started = time.perf_counter()

        async def one(n: int) -> None:
            # A client of an alerting API retries on connection errors; the dedup key makes
            # the retry safe (a signal stored before the error is not created twice).
            async with sem:
                for attempt in range(5):
                    try:
                        answer = await client.post(
                            "/api/v1/signals",
                            headers={"Authorization": f"Bearer {TOKEN}"},
                            json={"title": f"Charge {n}", "dedup_key": f"bench-{n}"},
                        )
                        answer.raise_for_status()
                        return
                    except httpx.TransportError:
                        if attempt == 4:
                            raise
                        await asyncio.sleep(0.2)

        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.perf_counter() - started)


async def scalar(engine, sql: str, **params):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar()


async def until_zero(engine, sql: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100_000):
        if not await scalar(engine, sql):
            return
        await asyncio.sleep(0.5)


def as_utc(value: datetime | str) -> datetime:
    # SQLite hands raw-SQL datetimes back as text, without offset (stored in UTC).
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def run_backend(backend: str, ladders: int, wait: str, down_seconds: float) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-esc-"))
    url, pg_name = await new_store(backend, workdir)
    reader_url = url
    config = {
        **CONFIG,
        # Ten thousand ladders from one token on purpose: no storm grouping (intake.storm) here.
        "intake": {"storm": {"limit": 1_000_000}},
        "ladders": [
            {
                "id": "default",
                "roster": "pfr",
                "steps": [{"page": [lv], "wait": wait} for lv in ("titulaire", "suppleant", "cadre")],
            }
        ],
    }
    config_path = workdir / "vigie.yaml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    port = 18090 + (0 if backend == "sqlite" else 1)
    first = Service(url, config_path, workdir, port)
    second = Service(url, config_path, workdir, port)
    reader = create_async_engine(reader_url)
    try:
        await first.start()
        rate = await raise_signals(port, ladders)
        # Let the ladders get going, then crash in the middle of them.
        await asyncio.sleep(2)
        await first.kill9()
        killed_at = datetime.now(UTC)
        await asyncio.sleep(down_seconds)
        restart_started = datetime.now(UTC)
        await second.start()
        ready_at = datetime.now(UTC)
        # Every step that fell due before the restart must run quickly once it is back.
        resumed_after = resumed_after_ready = None
        while True:
            overdue = await scalar(
                reader,
                "SELECT count(*) FROM timers WHERE state = 'pending' AND due_at <= :t",
                t=restart_started if backend == "postgresql" else restart_started.replace(tzinfo=None),
            )
            if overdue == 0:
                resumed_after = (datetime.now(UTC) - restart_started).total_seconds()
                resumed_after_ready = (datetime.now(UTC) - ready_at).total_seconds()
                break
            await asyncio.sleep(0.05)
        at_restart = restart_started if backend == "postgresql" else restart_started.replace(tzinfo=None)
        overdue_steps = await scalar(
            reader, "SELECT count(*) FROM timers WHERE due_at <= :t AND done_at >= :t", t=at_restart
        )
        await until_zero(reader, "SELECT count(*) FROM timers WHERE state = 'pending'")
        await until_zero(reader, "SELECT count(*) FROM outbox_messages WHERE state = 'pending'")
        await second.stop()

        async with reader.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT due_at, lateness_ms FROM timers "
                        "WHERE state = 'done' AND lateness_ms IS NOT NULL"
                    )
                )
            ).all()
            # Steps due while no process could run them (dead, then booting) are the
            # downtime's, measured by the resume time instead; the ones due after the restart
            # queue behind that backlog, so they are shown apart from normal running.
            steady = [late for due, late in rows if as_utc(due) < killed_at]
            after = [late for due, late in rows if as_utc(due) > ready_at]
            pages = (await conn.execute(sa.text("SELECT count(*) FROM pages"))).scalar()
            doubled = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FROM (SELECT signal_id, page_id FROM outbox_messages "
                        "WHERE kind = 'page' AND state IN ('sending','sent','delivered','uncertain') "
                        "GROUP BY signal_id, page_id "
                        "HAVING count(*) > 1) d"
                    )
                )
            ).scalar()
            delivered = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FROM outbox_messages WHERE kind = 'page' AND state = 'delivered'"
                    )
                )
            ).scalar()
            exhausted = (
                await conn.execute(sa.text("SELECT count(*) FROM ladder_runs WHERE state = 'exhausted'"))
            ).scalar()
        return {
            "ladders": ladders,
            "intake_rate": rate,
            "p50": statistics.median(steady),
            "p99": percentile(steady, 0.99),
            "max": max(steady),
            "steps": len(steady),
            "after_p50": statistics.median(after) if after else float("nan"),
            "after_p99": percentile(after, 0.99),
            "after_max": max(after) if after else float("nan"),
            "after_steps": len(after),
            "missed": ladders * 3 - delivered,
            "pages": pages,
            "doubled": doubled,
            "exhausted": exhausted,
            "resumed": resumed_after or float("nan"),
            "resumed_ready": resumed_after_ready or float("nan"),
            "overdue": overdue_steps,
        }
    finally:
        await first.stop()
        await second.stop()
        await reader.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
        await drop_store(pg_name)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ladders", type=int, default=10_000)
    parser.add_argument("--wait", default="10s", help="wait of each step")
    parser.add_argument("--down", type=float, default=5.0, help="seconds the service stays dead")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    # The restart is timed from the process's start: run it with its bytecode compiled, as a
    # wheel's install or the Docker image has it. An editable install under
    # PYTHONDONTWRITEBYTECODE (this machine sets it) would compile Vigie's modules at every start.
    for package in ("bot", "escalation", "handlers"):
        compileall.compile_dir(REPO / package, quiet=1)
    print(
        f"escalation benchmark: {args.ladders} ladders x 3 steps ({args.wait} each), kill -9 mid-way, "
        f"{args.down:.0f} s down, {os.cpu_count()} cores"
    )
    for backend in backends:
        r = await run_backend(backend, args.ladders, args.wait, args.down)
        print(f"\n{backend}: {r['ladders']:.0f} ladders raised at {r['intake_rate']:.0f} signals/s")
        print(
            f"  step lateness before the crash ({r['steps']:.0f} steps):  p50 {r['p50']:.1f} ms, "
            f"p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms"
        )
        print(
            f"  step lateness after the restart ({r['after_steps']:.0f} steps): p50 {r['after_p50']:.1f} ms, "
            f"p99 {r['after_p99']:.1f} ms, max {r['after_max']:.1f} ms"
        )
        print(
            f"  all {r['overdue']:.0f} overdue steps run {r['resumed']:.2f} s after the restart "
            f"({r['resumed_ready']:.2f} s after the service was ready)"
        )
        print(
            f"  pages missed: {r['missed']:.0f}, doubled: {r['doubled']:.0f}; "
            f"ladders ended: {r['exhausted']:.0f}/{r['ladders']:.0f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
