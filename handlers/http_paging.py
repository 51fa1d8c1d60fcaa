"""HTTP routes for paging: acknowledge, escalate, resolve, on-call, roster calendar."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from bot.domain import Scope
from bot.inbound import Answer, Reply
from escalation.oncall import UnknownRoster, oncall_view, roster_ics
from handlers.http_common import HttpError, documented_body, instant_in_range, parse_json_body, require

router = APIRouter()

_ACTION_STATUS = {
    "not_found": 404,
    "unknown_person": 422,
    "closed": 409,
    "not_active": 409,
    "no_ladder": 409,
    "already_taken": 409,
    "forbidden": 403,
}


class ActorIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64)


class EscalateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str | None = Field(default=None, min_length=1, max_length=64)


class ResolveIn(ActorIn):
    note: str | None = Field(default=None, max_length=2000)


async def _act(reference: str, action: Awaitable[Reply]) -> dict[str, Any]:
    reply = await action
    if not reply.ok:
        code = reply.code or "conflict"
        raise HttpError(_ACTION_STATUS.get(code, 409), code, reply.text)
    return {"reference": reply.reference or reference, "changed": reply.changed, "message": reply.text}


@router.post("/api/v1/signals/{reference}/ack", openapi_extra=documented_body(ActorIn))
async def acknowledge(request: Request, reference: str) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, ActorIn)
    return await _act(reference, vigie.inbound.respond(body.person, reference, Answer.ACK, "http", token))


@router.post(
    "/api/v1/signals/{reference}/escalate", openapi_extra=documented_body(EscalateIn, required=False)
)
async def escalate(request: Request, reference: str) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    raw = await request.body()
    person = (await parse_json_body(request, EscalateIn)).person if raw.strip() else None
    return await _act(reference, vigie.inbound.respond(person, reference, Answer.ESCALATE, "http", token))


@router.post("/api/v1/signals/{reference}/resolve", openapi_extra=documented_body(ResolveIn))
async def resolve(request: Request, reference: str) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, ResolveIn)
    return await _act(reference, vigie.inbound.close(body.person, reference, body.note, "http", token))


def _instant(at: datetime | None, request: Request) -> datetime:
    vigie = request.app.state.vigie
    if at is None:
        return vigie.clock.now()
    return instant_in_range("at", at if at.tzinfo else at.replace(tzinfo=vigie.config.desk.zone))


@router.get("/api/v1/oncall")
async def oncall(request: Request, roster: str | None = None, at: datetime | None = None) -> dict[str, Any]:
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    try:
        return {"rosters": oncall_view(vigie.engine.ctx, _instant(at, request), roster)}
    except UnknownRoster:
        raise HttpError(404, "not_found", f"Tableau d'astreinte inconnu « {roster} ».") from None


@router.get("/api/v1/rosters/{roster_id}.ics")
async def roster_calendar(
    request: Request, roster_id: str, weeks: int = Query(default=8, ge=1, le=104)
) -> Response:
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    try:
        body = roster_ics(vigie.engine.ctx, roster_id, vigie.clock.now(), weeks)
    except UnknownRoster:
        raise HttpError(404, "not_found", f"Tableau d'astreinte inconnu « {roster_id} ».") from None
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{roster_id}.ics"'},
    )
