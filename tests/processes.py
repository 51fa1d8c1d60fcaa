"""`vigie serve` as a real process, for crash and high-availability tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import BASE_CONFIG, REPO, TOKEN, free_port
from tests.test_cli import VIGIE


async def wait_until_up(url: str, proc: asyncio.subprocess.Process, within: float = 20) -> bool:
    """Poll ``/healthz`` until it answers 200; False if the process exits or time runs out."""
    deadline = asyncio.get_running_loop().time() + within
    async with httpx.AsyncClient(base_url=url) as client:
        while asyncio.get_running_loop().time() < deadline:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            if proc.returncode is not None:
                return False
            await asyncio.sleep(0.05)
    return False


def write_config(path: Path, **sections: Any) -> Path:
    data = {**BASE_CONFIG, **sections}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


class ServeProcess:
    """``vigie serve`` started as a user starts it: a subprocess, settings from the environment."""

    def __init__(
        self,
        db_url: str,
        config: Path,
        log: Path,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.db_url, self.config, self.log = db_url, config, log
        self.extra_env = env or {}
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
        env.update(
            VIGIE_DATABASE_URL=self.db_url, VIGIE_API_TOKENS=f"test:{TOKEN}", VIGIE_CONFIG=str(self.config)
        )
        env.update(self.extra_env)
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                VIGIE,
                "serve",
                "--port",
                str(self.port),
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if not await wait_until_up(self.url, self.proc):
            raise RuntimeError("vigie serve did not come up:\n" + self.log.read_text())

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int | None:
        """SIGTERM, as a service manager stops it; the exit status (killed after 20 s)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode if self.proc is not None else None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")
