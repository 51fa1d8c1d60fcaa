"""Read side of the HTTP API: signals with their history, and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from bot.domain import Scope, SignalStatus
from bot.outbox import OutboxFilter, list_messages, message_to_dict
from bot.signals import get_signal, list_signals, signal_to_dict
from escalation.status import LadderState, ladder_views, run_states
from handlers.http_common import HttpError, instant_in_range, require

router = APIRouter()

_STATUS_CHOICES = ["open", "closed", *[s.value for s in SignalStatus]]


@router.get("/api/v1/signals/{reference}")
async def read_signal(request: Request, reference: str) -> dict[str, Any]:
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    found = await get_signal(vigie.db, reference)
    if found is None:
        raise HttpError(404, "not_found", f"Aucun signal avec la référence « {reference} ».")
    signal, events = found
    return signal_to_dict(signal, events)


@router.get("/api/v1/signals")
async def read_signals(
    request: Request,
    status: str | None = None,
    state: str | None = None,
    limit: int = Query(default=200, ge=1, le=1000),
    exercise: Literal["exclude", "include", "only"] = Query(
        default="exclude", description="Exercices : masqués (défaut), inclus, ou seuls."
    ),
) -> dict[str, Any]:
    """Signals, newest first, each with where its ladder stands (``ladder``); exercises hidden
    unless asked."""
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    if status is not None and status not in _STATUS_CHOICES:
        raise HttpError(
            422,
            "invalid_query",
            f"Statut inconnu « {status} » (valeurs possibles : {', '.join(_STATUS_CHOICES)}).",
        )
    states = [s.value for s in LadderState]
    if state is not None and state not in states:
        raise HttpError(
            422,
            "invalid_query",
            f"État d'échelle inconnu « {state} » (valeurs possibles : {', '.join(states)}).",
        )
    runs = run_states(LadderState(state)) if state else None
    signals = await list_signals(vigie.db, status, limit, run_states=runs, exercise=exercise)
    views = await ladder_views(vigie.db, vigie.engine.ctx, signals)
    return {
        "signals": [
            {**signal_to_dict(s), "ladder": views[s.id].to_dict() if s.id in views else None} for s in signals
        ],
        "count": len(signals),
    }


@router.get("/api/v1/outbox")
async def read_outbox(
    request: Request,
    recipient: str | None = None,
    channel: str | None = None,
    state: str | None = None,
    kind: str | None = None,
    signal: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise HttpError(
                422, "invalid_query", f"{name} : préciser le fuseau (ex. 2026-11-23T10:00:00+01:00)."
            )
        if value is not None:
            instant_in_range(name, value)
    rows = await list_messages(
        vigie.db,
        OutboxFilter(
            recipient=recipient,
            channel=channel,
            state=state,
            kind=kind,
            signal_reference=signal.strip().upper() if signal else None,
            since=since,
            until=until,
            limit=limit,
        ),
    )
    return {"messages": [message_to_dict(row, ref) for row, ref in rows], "count": len(rows)}
