"""The ``vigie`` executable: the collector held off while the command's modules load."""

from __future__ import annotations

import gc


def main() -> None:
    # Loading the commands builds about a million objects that live as long as the process
    # (modules, pydantic schemas, SQLAlchemy mappers); the collector walking them again and
    # again took a sixth of every start. `serve` turns it back on once start-up is frozen out
    # of its sight (bot.service), every other command as soon as it is parsed (bot.cli).
    gc.disable()
    from bot.cli import main as run

    run()
