"""Diffusion benchmark, on a real `vigie serve` with e-mail, SMS and voice against the local fakes.

A diffusion to N partners (default 2,000), each with an alerte mailbox, a share of them with an
on-call phone. Prints:
1. the time until every mail is handed to SMTP (target < 60 s);
2. the pace of the diffusion SMS against `diffusion.sms_per_second` (target: within 5 %, never
   above), measured on the fake's receive times: the mean rate, and the peak (the most received
   in any 5 s, per second);
3. confirmation handling while the diffusion runs: partners answer « D1 » by SMS (signed Twilio
   webhooks), latency of each webhook (p50, p99; target p99 < 100 ms);
4. a real page's latency (signal posted → its mail handed to SMTP), idle and during the
   diffusion (target: no more than +50 ms at p99).

    .venv/bin/python bench/diffusion.py                          # both backends
    .venv/bin/python bench/diffusion.py --backend sqlite --partners 500 --phones 100
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

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import drop_store, free_port, new_store, percentile  # noqa: E402  (bench/common.py)

from tests.fakes.smtp import FakeSmtp  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.support import AsgiServer  # noqa: E402

VIGIE = str(Path(sys.executable).with_name("vigie"))
TOKEN = "bench-token"
SID, AUTH_TOKEN = "AC" + "b" * 32, "bench-twilio-token"
DESK = "+33612000000"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def phone(n: int) -> str:
    return f"+336{20000000 + n:08d}"


def config(
    smtp_port: int, twilio_url: str, public: str, partners: int, phones: int, rate: float
) -> dict[str, object]:
    return {
        "version": 1,
        "desk": {"name": "Banc d'essai diffusion", "public_url": public},
        "people": [
            {"id": "david", "name": "David Roux", "functions": ["responsable"], "notify": ["console"]},
            {
                "id": "alice",
                "name": "Alice Martin",
                "functions": ["referent"],
                "contacts": {"email": "alice@ars-exemple.fr"},
                "notify": ["email"],
            },
        ],
        "ladders": [{"id": "default", "steps": [{"page": ["alice"], "wait": "1h"}]}],
        # The pages measured come from one token faster than a storm's limit: each must page.
        "intake": {"storm": {"limit": 1_000_000}},
        "channels": {
            "console": {"enabled": True},
            "email": {
                "enabled": True,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "security": "none",
                "from_address": "vigie@ars-exemple.fr",
            },
            "twilio": {"enabled": True, "base_url": twilio_url, "sms_from": DESK, "voice": False},
        },
        "partners": [
            {
                "id": f"ems-{n:04d}",
                "name": f"EMS {n}",
                "email": f"alerte@ems-{n:04d}.fr",
                **({"phone": phone(n)} if n < phones else {}),
                "groups": ["region"],
            }
            for n in range(partners)
        ],
        "diffusion": {
            "steps": [{"channel": "sms", "after": "0s"}, {"channel": "email", "after": "0s"}],
            "cycles": 1,
            "sms_per_second": rate,
        },
    }


async def page_latency(client: httpx.AsyncClient, smtp: FakeSmtp, count: int) -> list[float]:
    """Signals posted one by one; each time until Alice's page mail is in the SMTP fake."""
    found: list[float] = []
    for _ in range(count):
        seen = len(smtp.collector.messages)
        started = time.perf_counter()
        answer = await client.post(
            "/api/v1/signals", headers=AUTH, json={"title": f"Signal réel {uuid.uuid4().hex[:6]}"}
        )
        assert answer.status_code == 202, answer.text
        # The SMTP fake runs in its own thread: polled every 2 ms, only the mails that are new
        # (rescanning a diffusion's thousands would load this process, not the server).
        while True:
            fresh = smtp.collector.messages[seen:]
            seen += len(fresh)
            if any(str(m["To"]) == "alice@ars-exemple.fr" for m in fresh):
                break
            await asyncio.sleep(0.002)
        found.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.2)
    return found


async def run_backend(backend: str, partners: int, phones: int, rate: float) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-diff-"))
    url, pg_name = await new_store(backend, workdir)
    twilio = FakeTwilio(SID, AUTH_TOKEN)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    results: dict[str, float] = {}
    try:
        with FakeSmtp() as smtp:
            async with AsgiServer(twilio.app) as twilio_api:
                cfg = workdir / "vigie.yaml"
                data = config(smtp.port, twilio_api.url, public, partners, phones, rate)
                cfg.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
                env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
                env.update(
                    VIGIE_DATABASE_URL=url,
                    VIGIE_API_TOKENS=f"bench:{TOKEN}",
                    VIGIE_CONFIG=str(cfg),
                    VIGIE_LOG_LEVEL="WARNING",
                    VIGIE_TWILIO_ACCOUNT_SID=SID,
                    VIGIE_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                    VIGIE_LINK_SECRET="bench-link-secret",
                )
                proc = await asyncio.create_subprocess_exec(
                    VIGIE, "serve", "--port", str(port), cwd=workdir, env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                try:
                    async with httpx.AsyncClient(base_url=public, timeout=30) as client:
                        for _ in range(600):
                            try:
                                if (await client.get("/healthz")).status_code == 200:
                                    break
                            except httpx.TransportError:
                                pass
                            await asyncio.sleep(0.05)
                        await page_latency(client, smtp, 3)  # warm-up: first connections, caches
                        idle = await page_latency(client, smtp, 30)
                        smtp.collector.messages.clear()
                        started = time.perf_counter()
                        sent = await client.post(
                            "/api/v1/diffusions",
                            headers=AUTH,
                            json={
                                "person": "david",
                                "groups": ["region"],
                                "title": "MARS n° 2026-01",
                                "text": "Banc.",
                            },
                        )
                        assert sent.status_code == 201, sent.text
                        busy = await page_latency(client, smtp, 30)
                        # Partners with a phone confirm by SMS as their SMS arrives.
                        confirmations: list[float] = []
                        answered: set[str] = set()
                        webhook = f"{public}/twilio/sms"
                        only_mail = {f"alerte@ems-{n:04d}.fr" for n in range(phones, partners)}
                        # Read incrementally: a rescan of thousands of mails every round would make
                        # this process (which also runs the Twilio fake) the bottleneck measured.
                        mailed: set[str] = set()
                        seen_mails = seen_sms = 0
                        while True:
                            fresh = smtp.collector.messages[seen_mails:]
                            seen_mails += len(fresh)
                            mailed |= {str(m["To"]) for m in fresh if "MARS n° 2026-01" in str(m["Subject"])}
                            new_sms = twilio.sent[seen_sms:]
                            seen_sms += len(new_sms)
                            for message in new_sms:
                                if not message["body"].startswith("MARS n° 2026-01"):
                                    continue  # Vigie's answer to a « D1 »
                                if message["to"] not in answered and len(confirmations) < 200:
                                    answered.add(message["to"])
                                    t0 = time.perf_counter()
                                    reply = await twilio.inbound_sms(webhook, message["to"], DESK, "D1")
                                    assert reply.status_code == 200
                                    confirmations.append((time.perf_counter() - t0) * 1000)
                            relayed = [m for m in twilio.sent if m["body"].startswith("MARS n° 2026-01")]
                            # Those who confirmed by SMS first get no mail (their cycle stopped): done
                            # when every partner without a phone has its mail.
                            if only_mail <= mailed and len(relayed) >= phones:
                                break
                            if time.perf_counter() - started > 600:
                                raise RuntimeError(
                                    f"diffusion not done: {len(mailed)} mails, {len(twilio.sent)} SMS"
                                )
                            await asyncio.sleep(0.05)
                        results["mail_s"] = time.perf_counter() - started
                        stamps = sorted(
                            m["received_at"]
                            for m in twilio.sent
                            if m["body"].startswith("MARS n° 2026-01")  # not Vigie's replies to « D1 »
                        )
                        if len(stamps) > 1:
                            results["sms_rate"] = (len(stamps) - 1) / (stamps[-1] - stamps[0])
                            # « never above »: the most SMS received within any 5 s, per second (the
                            # fake stamps arrivals with this process's clock, which jitters by tens
                            # of ms under load: a 1 s window would count that jitter).
                            results["sms_peak"] = (
                                max(sum(1 for t in stamps[i:] if t - s < 5.0) for i, s in enumerate(stamps))
                                / 5
                            )
                        results.update(
                            mails=len(mailed),
                            sms=len(stamps),
                            confirm_p50=statistics.median(confirmations) if confirmations else float("nan"),
                            confirm_p99=percentile(confirmations, 0.99),
                            page_idle_p99=percentile(idle, 0.99),
                            page_busy_p99=percentile(busy, 0.99),
                            page_idle_p50=statistics.median(idle),
                            page_busy_p50=statistics.median(busy),
                        )
                finally:
                    proc.terminate()
                    await asyncio.wait_for(proc.wait(), 30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        await drop_store(pg_name)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--partners", type=int, default=2000)
    parser.add_argument("--phones", type=int, default=200, help="partners that also have an on-call phone")
    parser.add_argument("--rate", type=float, default=10.0, help="diffusion.sms_per_second")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(
        f"diffusion: {args.partners} partners ({args.phones} with a phone, SMS first at {args.rate:g}/s, "
        "then e-mail); confirmations by SMS during it; real pages idle vs during"
    )
    print(
        f"{'backend':<11} {'mails':>6} {'mail s':>7} {'SMS':>5} {'SMS/s':>6} {'peak/s':>7}"
        f" {'conf p50':>9} {'conf p99':>9}"
        f" {'page p50 idle/busy':>19} {'page p99 idle/busy':>19}"
    )
    for backend in backends:
        r = await run_backend(backend, args.partners, args.phones, args.rate)
        print(
            f"{backend:<11} {r['mails']:>6.0f} {r['mail_s']:>7.1f} {r['sms']:>5.0f}"
            f" {r.get('sms_rate', 0):>6.2f} {r.get('sms_peak', 0):>7.1f}"
            f" {r['confirm_p50']:>9.1f} {r['confirm_p99']:>9.1f}"
            f" {r['page_idle_p50']:>9.1f}/{r['page_busy_p50']:<9.1f}"
            f" {r['page_idle_p99']:>9.1f}/{r['page_busy_p99']:<9.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
