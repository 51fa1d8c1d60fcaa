"""What a channel adapter may reach of the core: the narrow port it is built with.

Adapters depend on this Protocol, never on the composition root (``bot.app``): the running
service (``Vigie``) satisfies it, and a test may hand an adapter anything that does.
"""

from __future__ import annotations

from typing import Protocol

from bot.clock import Clock
from bot.config import VigieConfig
from bot.db import Database
from bot.inbound import Inbound


class Lease(Protocol):
    """A lock only one instance holds at a time (PostgreSQL advisory lock; always held on
    SQLite): the Matrix sync runs on its holder."""

    async def try_acquire(self) -> bool: ...

    async def release(self) -> None: ...


class Core(Protocol):
    @property
    def config(self) -> VigieConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def db(self) -> Database:
        """Read access for adapters that look up what they sent (a page replied to, a call)."""
        ...

    @property
    def inbound(self) -> Inbound:
        """The one way in for everything people say and do."""
        ...
