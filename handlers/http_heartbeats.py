"""HTTP routes of the heartbeat monitors: a source pings (``signals:write``, the monitor's own
tokens when it names them); the monitors' state is read (``read``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from bot.domain import Scope
from handlers.http_common import HttpError, require

router = APIRouter()


@router.post("/api/v1/heartbeats/{monitor}")
async def ping(request: Request, monitor: str) -> dict[str, Any]:
    """« I am alive »: a late source raises « Source muette : … »; its next ping closes that signal."""
    vigie = request.app.state.vigie
    token = require(request, Scope.SIGNALS_WRITE)
    said = await vigie.heartbeats.ping(monitor, token.name)
    if not said.ok:
        raise HttpError(404 if said.code == "not_found" else 403, said.code or "invalid", said.text)
    if said.resumed:
        vigie.dispatcher.poke()  # the people paged are told it is over
    return {"monitor": monitor, "message": said.text, "resumed": said.resumed}


@router.get("/api/v1/heartbeats")
async def monitors(request: Request) -> dict[str, Any]:
    """Each monitor: its last ping, when the next is due, whether it is silent now."""
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    return {"monitors": await vigie.heartbeats.states()}
