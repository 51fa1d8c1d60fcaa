"""CPU per paged signal, phase by phase, without HTTP and without concurrency noise.

Runs the service in this process (the real channels: e-mail to an SMTP sink in a process of its
own) and pushes signals through the pipeline one batch at a time: intake → engine → delivery,
each phase timed with the process's CPU clock. Shows where a signal's CPU goes, and whether a
change made a phase cheaper, more steadily than the load bench (bench/intake.py) can.

    .venv/bin/python bench/pipeline.py [--signals 300] [--batch 1,10] [--backend sqlite|postgresql|both]
        [--profile delivery --profile-out /tmp/delivery.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

# bench/ holds escalation.py, which would shadow the escalation package: the repository first.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import drop_store, free_port, new_store, smtp_sink
from intake import bench_config

from bot.app import build
from bot.config.loader import load_config
from bot.domain import OriginChannel, Severity
from bot.intake import Origin, SignalDraft
from bot.logging_setup import configure_logging
from bot.settings import Settings

PROFILER = cProfile.Profile()
PROFILED: set[str] = set()  # --profile: the phases under cProfile (not timed then)
PHASE = [""]  # the phase running now, for the statement counter ("": not counted)
MEASURING = [False]  # past the warm-up
COUNTS: dict[str, int] = {}  # --statements: "phase statements" and "phase commits"


def count_statements(engines: list[Any]) -> None:
    def statement(*_: Any) -> None:
        if not PHASE[0]:
            return
        COUNTS[f"{PHASE[0]} statements"] = COUNTS.get(f"{PHASE[0]} statements", 0) + 1

    def commit(*_: Any) -> None:
        if not PHASE[0]:
            return
        COUNTS[f"{PHASE[0]} commits"] = COUNTS.get(f"{PHASE[0]} commits", 0) + 1

    for engine in {id(e.sync_engine): e.sync_engine for e in engines}.values():
        sa.event.listen(engine, "before_cursor_execute", statement)
        sa.event.listen(engine, "commit", commit)


async def timed(total: dict[str, float], phase: str, step: Callable[[], Awaitable[object]]) -> None:
    PHASE[0] = phase if MEASURING[0] else ""
    if phase in PROFILED:
        PROFILER.enable()
        await step()
        PROFILER.disable()
        total[phase] = 0.0
        return
    started = time.process_time()
    await step()
    total[phase] = total.get(phase, 0.0) + time.process_time() - started


async def run(backend: str, signals: int, batch: int, statements: bool) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="vigie-pipeline-"))
    smtp_port = free_port()
    config_path = workdir / "bench.yaml"
    config = yaml.safe_dump(bench_config(True, smtp_port), allow_unicode=True)
    config_path.write_text(config, encoding="utf-8")
    url, pg_name = await new_store(backend, workdir)
    sink = await smtp_sink(smtp_port)
    os.environ.setdefault("VIGIE_LINK_SECRET", "bench-link-secret")
    vigie = build(Settings(config=config_path, database_url=url), load_config(config_path))
    if statements:
        count_statements([vigie.db.engine, vigie.db.read_engine])
    total: dict[str, float] = {}
    try:
        await vigie.start(background=False)
        origin = Origin(OriginChannel.HTTP)
        warmup = 20  # the first statements compile and cache: not what a running desk pays
        for index in range(0, warmup + signals, batch):
            phases: dict[str, float] = {}
            drafts = [
                SignalDraft(title=f"Signal {index + n}", origin=origin, severity=Severity("significative"))
                for n in range(batch)
            ]

            async def accept_all(drafts: list[SignalDraft] = drafts) -> None:
                await asyncio.gather(*(vigie.intake.accept(d) for d in drafts))

            MEASURING[0] = index >= warmup
            await timed(phases, "intake", accept_all)
            # As the service's loop: one look-up of the next due timer, then the batch.
            await timed(phases, "next_due", vigie.engine.next_due)
            await timed(phases, "engine", lambda: vigie.engine.run_due(probe=False))
            await timed(phases, "delivery", vigie.dispatcher.run_once)
            if index >= warmup:
                for phase, seconds in phases.items():
                    total[phase] = total.get(phase, 0.0) + seconds
        PHASE[0] = ""
        async with vigie.db.read_engine.connect() as conn:
            sent = (
                await conn.exec_driver_sql(
                    "SELECT count(*) FROM outbox_messages WHERE kind = 'page' AND sent_at IS NOT NULL"
                )
            ).scalar_one()
        if sent < warmup + signals:
            raise RuntimeError(f"only {sent} pages left for {signals} signals")
    finally:
        await vigie.stop()
        sink.terminate()
        await sink.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        await drop_store(pg_name)
    counted = signals // batch * batch
    return {phase: seconds * 1000 / counted for phase, seconds in total.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=300, help="signals measured per run")
    parser.add_argument("--batch", default="1,10", help="signals per round, comma-separated")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--statements", action="store_true", help="count SQL statements and commits")
    parser.add_argument("--profile", default="", help="phases to run under cProfile, comma-separated")
    parser.add_argument("--profile-out", default="pipeline.prof", help="where cProfile's stats go")
    args = parser.parse_args()
    PROFILED.update(p for p in args.profile.split(",") if p)
    configure_logging("WARNING", "json")  # as the load bench's server: no log line per page
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print("CPU-ms per paged signal (intake → first page handed to the SMTP relay)")
    print(
        f"{'backend':<11} {'batch':>5} {'intake':>7} {'engine':>7} {'next_due':>8} "
        f"{'delivery':>8} {'total':>7}"
    )
    for backend in backends:
        for batch in (int(b) for b in args.batch.split(",")):
            COUNTS.clear()
            ms = await run(backend, args.signals, batch, args.statements)
            print(
                f"{backend:<11} {batch:>5} {ms['intake']:>7.2f} {ms['engine']:>7.2f} "
                f"{ms['next_due']:>8.2f} {ms['delivery']:>8.2f} {sum(ms.values()):>7.2f}"
            )
            if COUNTS:
                counted = {k: v for k, v in COUNTS.items() if k.split()[0] in ms}
                print(
                    "    per signal: "
                    + ", ".join(f"{k} {v / args.signals:.2f}" for k, v in sorted(counted.items()))
                )
    if PROFILED:
        PROFILER.dump_stats(args.profile_out)
        print(f"cProfile stats of {', '.join(sorted(PROFILED))} in {args.profile_out} (not timed above)")


if __name__ == "__main__":
    asyncio.run(main())
