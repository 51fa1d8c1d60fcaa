"""HTTP routes of the maintenance windows: start or end one (``paging:act``, for a person allowed
``maintenance``), read the open ones (``read``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from bot.domain import Scope
from handlers.http_common import HttpError, documented_body, parse_json_body, require

router = APIRouter()


class MaintenanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64, description="Qui déclare la maintenance.")
    source: str = Field(
        min_length=1, max_length=200, pattern=r"^\S+$", description="La source, telle que dans ses signaux."
    )
    duration: str = Field(min_length=2, max_length=10, description="2h, 30m…")
    motif: str | None = Field(default=None, max_length=300)


class MaintenanceEndIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64)


def _status(code: str | None) -> int:
    return {"forbidden": 403, "not_found": 404}.get(code or "", 422)


@router.post("/api/v1/maintenance", status_code=201, openapi_extra=documented_body(MaintenanceIn))
async def start_window(request: Request) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, MaintenanceIn)
    args = f"{body.source} {body.duration} {body.motif or ''}".strip()
    said = await vigie.inbound.maintenance_command(body.person, args, token=token)
    if not said.ok:
        raise HttpError(_status(said.code), said.code or "invalid", said.text)
    vigie.dispatcher.poke()
    return {"message": said.text}


@router.post("/api/v1/maintenance/{source}/end", openapi_extra=documented_body(MaintenanceEndIn))
async def end_window(request: Request, source: str) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, MaintenanceEndIn)
    said = await vigie.inbound.maintenance_command(body.person, f"fin {source}", token=token)
    if not said.ok:
        raise HttpError(_status(said.code), said.code or "invalid", said.text)
    vigie.dispatcher.poke()
    vigie.engine.poke()  # the held ladders start now
    return {"message": said.text}


@router.get("/api/v1/maintenance")
async def open_windows(request: Request) -> dict[str, Any]:
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    zone = vigie.engine.ctx.zone
    return {
        "windows": [
            {"source": w.source, "starts_at": w.starts_at.astimezone(zone).isoformat(),
             "ends_at": w.ends_at.astimezone(zone).isoformat(), "motif": w.motif, "by": w.started_by,
             "held": w.held}
            for w in await vigie.maintenance.open_windows()
        ]
    }  # fmt: skip
