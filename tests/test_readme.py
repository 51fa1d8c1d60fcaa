"""The README's command blocks, run as written against the demo service, as a newcomer would
after the set-up command: every ``console`` and ``sh`` block, command by command, in order.

A block preceded by ``<!-- readme-test: skip (reason) -->`` is not run (the set-up commands
themselves, benchmarks, a PostgreSQL server of your own). Two things are adapted, and only these:
the demo's port 8080 becomes a free one, and a reference such as ``PFR-2026-000043`` becomes the
reference the last signal raised in the run actually got.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.processes import wait_until_up
from tests.support import REPO, free_port

FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>console|sh)\n(?P<body>.*?)```", re.DOTALL)
REFERENCE = re.compile(r"\bPFR-\d{4}-\d{6}\b")
RAISED = re.compile(r"Signal reçu, référence (PFR-\d{4}-\d{6})")


@dataclass
class Command:
    line: int
    text: str


def readme_commands() -> list[Command]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands: list[Command] = []
    for block in FENCE.finditer(text):
        if "readme-test: skip" in block.group("before"):
            continue
        first_line = text[: block.start("body")].count("\n") + 1
        lines = block.group("body").splitlines()
        if block.group("lang") == "console":
            commands += [Command(first_line + i, ln[2:]) for i, ln in enumerate(lines) if ln.startswith("$ ")]
            continue
        pending, start = "", 0
        for i, ln in enumerate(lines):
            if not pending and (not ln.strip() or ln.lstrip().startswith("#")):
                continue
            start = start if pending else first_line + i
            if ln.endswith("\\"):
                pending += ln[:-1] + " "
                continue
            commands.append(Command(start, pending + ln))
            pending = ""
    return commands


def test_the_readme_has_command_blocks_to_run() -> None:
    texts = [c.text for c in readme_commands()]
    assert any(t.startswith("vigie oncall") for t in texts)
    assert any("vigie ack" in t for t in texts) and any(t.startswith("curl") for t in texts)


async def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    # A fresh working copy as a newcomer has it after the set-up command: the configuration files
    # and the virtual environment, nothing else (the demo's vigie.db is made here).
    (tmp_path / "config").symlink_to(REPO / "config")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if sys.prefix not in p)
    port = free_port()
    service = await asyncio.create_subprocess_exec(
        str(tmp_path / ".venv" / "bin" / "vigie"),
        "serve",
        "--demo",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert await wait_until_up(f"http://127.0.0.1:{port}", service), "the demo service did not come up"
        last_reference: str | None = None
        for command in readme_commands():
            text = command.text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
            if last_reference:
                text = REFERENCE.sub(last_reference, text)
            if match := re.fullmatch(r"source (\S+)/activate(\s+#.*)?", text):
                env["PATH"] = str(tmp_path / match.group(1)) + os.pathsep + env["PATH"]
                continue
            if match := re.fullmatch(r"export (\w+)=(\S+)(\s+#.*)?", text):
                env[match.group(1)] = match.group(2)
                continue
            proc = await asyncio.create_subprocess_exec(
                "bash", "-c", text, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
            said = out.decode()
            where = f"README.md:{command.line}: {command.text}\n{said}"
            assert proc.returncode == 0, where
            assert not said.lstrip().startswith('{"error"'), where  # an HTTP call that answered an error
            raised = RAISED.findall(said)
            if raised:
                last_reference = raised[-1]
    finally:
        service.send_signal(signal.SIGTERM)
        await asyncio.wait_for(service.wait(), 20)
    assert service.returncode == 0
    assert (tmp_path / "astreinte.ics").read_bytes().startswith(b"BEGIN:VCALENDAR")
