"""The README's promises to a newcomer stay true."""

from __future__ import annotations

import re

from tests.support import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Getting started", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)


def test_readme_gives_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    commands = readme_commands()
    setup = [c for c in commands if c.startswith("python3 -m venv")]
    assert len(setup) == 2
    run, test = setup
    assert run.endswith("vigie serve --demo")
    assert re.search(r"/pytest( -n \d+)?$", test), test  # -n: pytest-xdist, the suite on both cores
    assert test in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
