"""`vigie serve --demo`, the README's first command, as a real process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx

from tests.processes import wait_until_up
from tests.support import REPO, eventually, free_port
from tests.test_cli import VIGIE


async def test_demo_service_prints_token_and_urls_and_takes_a_signal(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env["VIGIE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"
    proc = await asyncio.create_subprocess_exec(
        VIGIE,
        "serve",
        "--demo",
        "--port",
        str(port),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert await wait_until_up(base, proc), "service did not come up"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            answer = await client.post(
                "/api/v1/signals",
                headers={"Authorization": "Bearer vigie-demo-token"},
                json={"title": "Intoxication au monoxyde de carbone, 3 personnes"},
            )
            assert answer.status_code == 202
            ref = answer.json()["reference"]
            demo = {"Authorization": "Bearer vigie-demo-token"}

            async def paged() -> list[dict[str, str]]:
                outbox = await client.get(
                    "/api/v1/outbox", params={"kind": "page", "signal": ref}, headers=demo
                )
                return [m for m in outbox.json()["messages"] if m["state"] == "delivered"]

            [page] = await eventually(paged, 10)  # the titulaire of this week, on the console
            other = "bruno" if page["recipient"] == "alice" else "alice"
            # The README's next step: take it from the CLI, as the other referent.
            took = await asyncio.create_subprocess_exec(
                VIGIE,
                "ack",
                ref,
                "--as",
                other,
                "--config",
                "config/demo.yaml",
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            said, _ = await took.communicate()
            assert took.returncode == 0, said.decode()

            async def told() -> bool:
                outbox = await client.get(
                    "/api/v1/outbox", params={"recipient": page["recipient"], "signal": ref}, headers=demo
                )
                return any(
                    "Pris en charge par" in m["text"] and m["state"] == "delivered"
                    for m in outbox.json()["messages"]
                )

            await eventually(told, 10)  # the running service delivers what the CLI queued
            refused = await client.post(
                "/api/v1/signals", headers={"Authorization": "Bearer devine-moi"}, json={"title": "x"}
            )
            assert refused.status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    stdout, stderr = out.decode(), err.decode()
    assert proc.returncode == 0, stderr[-2000:]  # SIGTERM is a clean stop
    assert "jeton de démonstration : vigie-demo-token" in stdout
    assert f"API des signaux : {base}/api/v1/signals" in stdout
    assert answer.json()["reference"] in stderr  # the structured log names the signal…
    assert '"event": "signal_accepted"' in stderr
    assert "vigie-demo-token" not in stderr  # …but never a secret
    assert "devine-moi" not in stderr
    assert (tmp_path / "vigie.db").exists()


async def test_a_pooled_connection_idle_past_five_seconds_is_still_served(tmp_path: Path) -> None:
    """Alertmanager and most HTTP clients keep idle connections for 60–90 s; a server that closes
    them at 5 s races the client's next request, which then fails unanswered. The real process
    keeps them longer (``http.keep_alive``, 120 s): a request 6 s later on the same socket works."""
    from tests.processes import ServeProcess, write_config
    from tests.support import TOKEN

    process = ServeProcess(
        f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}", write_config(tmp_path / "v.yaml"), tmp_path / "v.log"
    )
    await process.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", process.port)
        request = (
            "POST /api/v1/signals HTTP/1.1\r\nHost: vigie\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: 17\r\n\r\n" + '{"title": "idle"}'
        ).encode()
        for _ in range(2):
            writer.write(request)
            await writer.drain()
            status = await asyncio.wait_for(reader.readline(), 10)
            assert status.startswith(b"HTTP/1.1 202"), status
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(6)  # idle past uvicorn's default keep-alive (5 s)
        writer.close()
    finally:
        await process.stop()


async def test_the_garbage_collector_runs_again_once_the_service_is_up(tmp_path: Path) -> None:
    """`vigie` holds Python's collector off while it loads (a sixth of the start); a service
    left without it would grow until the machine runs out of memory. /metrics counts the
    collections: they go on while the real process takes signals."""
    from tests.processes import ServeProcess, write_config
    from tests.support import AUTH

    process = ServeProcess(
        f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}", write_config(tmp_path / "v.yaml"), tmp_path / "v.log"
    )
    await process.start()
    try:
        async with httpx.AsyncClient(base_url=process.url, timeout=10) as client:

            async def young_collections() -> float:
                text = (await client.get("/metrics")).text
                found = re.search(r'^python_gc_collections_total\{generation="0"\} (\S+)$', text, re.M)
                assert found is not None, "no python_gc_collections_total in /metrics"
                return float(found.group(1))

            before = await young_collections()
            for n in range(40):
                answer = await client.post("/api/v1/signals", json={"title": f"Signal {n}"}, headers=AUTH)
                assert answer.status_code == 202
            assert await young_collections() > before
    finally:
        await process.stop()
