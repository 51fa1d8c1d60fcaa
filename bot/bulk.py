"""Rows a busy transaction adds in bulk: one Core INSERT per table before it commits, instead of
one ORM object a row (building a SQLModel object costs more than inserting its row).

Only for rows nothing reads back in the same transaction (history, outbox, timers), and only in
a transaction without savepoints: a rolled-back savepoint would not take its rows back.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import table_of

_KEY = "vigie.bulk"


def collect(session: AsyncSession) -> None:
    """From now on, ``add`` keeps this session's rows for ``flush``."""
    session.info[_KEY] = {}


def add(session: AsyncSession, model: type[SQLModel], values: dict[str, Any]) -> bool:
    """Keep a row for the bulk insert; False when this session does not collect (the caller
    then adds an ORM object)."""
    rows: dict[type[SQLModel], list[dict[str, Any]]] | None = session.info.get(_KEY)
    if rows is None:
        return False
    constants, factories = _defaults(model)
    row = constants | {name: make() for name, make in factories.items()}
    row.update(values)
    rows.setdefault(model, []).append(row)
    return True


async def flush(session: AsyncSession) -> None:
    """Insert what was kept, table by table in the order first used, and stop collecting."""
    rows: dict[type[SQLModel], list[dict[str, Any]]] = session.info.pop(_KEY, None) or {}
    if not rows:
        return
    conn = await session.connection()
    for model, values in rows.items():
        await conn.execute(sa.insert(table_of(model)), values)


@cache
def _defaults(model: type[SQLModel]) -> tuple[dict[str, Any], dict[str, Callable[[], Any]]]:
    """Every column's default, as the model would fill it: executemany needs the same keys in
    each row."""
    columns = set(table_of(model).c.keys()) - {"id"}
    constants: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name, info in model.model_fields.items():
        if name not in columns:
            continue
        if info.default_factory is not None:
            factories[name] = info.default_factory  # type: ignore[assignment]
        elif not info.is_required():
            constants[name] = info.default
    return constants, factories
