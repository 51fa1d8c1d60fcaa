"""Group commit for the main courante: entries arriving together (a busy room, several rooms)
are appended in one transaction per batch, under one lock per crisis, so that the store's
durable commit (SQLite ``synchronous=FULL``, PostgreSQL's WAL flush) is paid once per batch
rather than once per message. Each caller still gets its own entry, or its own error, back
only once the batch is committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from bot.crisis import store
from bot.crisis.models import CrisisState, EntryRow
from bot.crisis.store import EntryDraft
from bot.db import Database


class CrisisUnavailable(Exception):
    """The crisis does not exist (code ``not_found``) or is closed (``closed``)."""

    def __init__(self, code: str, reference: str) -> None:
        super().__init__(reference)
        self.code, self.reference = code, reference


class EntryWriter:
    def __init__(self, db: Database, now: Callable[[], datetime], max_batch: int = 200) -> None:
        self.db, self._now, self.max_batch = db, now, max_batch
        self._pending: list[tuple[str, EntryDraft, asyncio.Future[tuple[EntryRow, bool]]]] = []
        self._lock = asyncio.Lock()

    async def append(self, reference: str, draft: EntryDraft) -> tuple[EntryRow, bool]:
        future: asyncio.Future[tuple[EntryRow, bool]] = asyncio.get_running_loop().create_future()
        self._pending.append((reference.strip().upper(), draft, future))
        while not future.done():
            async with self._lock:
                # Whoever holds the lock writes everything queued meanwhile, ours included.
                if not future.done():
                    batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                    await self._write(batch)
        return future.result()

    async def _write(
        self, batch: list[tuple[str, EntryDraft, asyncio.Future[tuple[EntryRow, bool]]]]
    ) -> None:
        by_crisis: dict[str, list[tuple[EntryDraft, asyncio.Future[tuple[EntryRow, bool]]]]] = {}
        for reference, draft, future in batch:
            by_crisis.setdefault(reference, []).append((draft, future))
        done: list[tuple[asyncio.Future[tuple[EntryRow, bool]], tuple[EntryRow, bool]]] = []
        refused: list[tuple[asyncio.Future[tuple[EntryRow, bool]], Exception]] = []
        try:
            async with self.db.transaction() as session:
                now = self._now()
                for reference in sorted(by_crisis):  # one lock order: no deadlock between instances
                    items = by_crisis[reference]
                    crisis = await store.lock_crisis(session, self.db, reference)
                    if crisis is None or crisis.state != CrisisState.OPEN.value:
                        code = "not_found" if crisis is None else "closed"
                        refused += [(future, CrisisUnavailable(code, reference)) for _, future in items]
                        continue
                    results = await store.append_many(session, crisis, [d for d, _ in items], now)
                    done += [(future, result) for (_, future), result in zip(items, results, strict=True)]
        except BaseException as exc:  # nothing was committed: every caller hears of it
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for future, result in done:
            future.set_result(result)
        for future, error in refused:
            future.set_exception(error)
