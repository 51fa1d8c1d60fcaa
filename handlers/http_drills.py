"""HTTP routes of the drills: start one (``paging:act``, for a person allowed ``exercice``), read
the coming ones and the last reports (``read``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bot.domain import Scope
from handlers.http_common import HttpError, documented_body, parse_json_body, require

router = APIRouter()


class DrillIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64, description="Qui lance l'exercice.")
    ladder: str | None = Field(default=None, max_length=64, description="Défaut : l'échelle par défaut.")
    with_crisis: bool = False


@router.post("/api/v1/drills", status_code=201, openapi_extra=documented_body(DrillIn))
async def start_drill(request: Request) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, DrillIn)
    if refusal := vigie.inbound.token_refusal(token, body.person):
        raise HttpError(403, "forbidden", refusal)
    from bot.permissions import function_refusal

    if refusal := function_refusal(vigie.config, body.person, "exercice"):
        raise HttpError(403, "forbidden", refusal)
    said = await vigie.drills.start(body.person, body.ladder, with_crisis=body.with_crisis)
    if not said.ok:
        raise HttpError(422, said.code or "invalid", said.text)
    vigie.dispatcher.poke()
    return {"drill": said.drill, "message": said.text}


def _row(vigie: Any, drill: Any) -> dict[str, Any]:
    def when(at: Any) -> str | None:
        return at.astimezone(vigie.engine.ctx.zone).isoformat() if at else None

    return {
        "id": drill.id,
        "schedule": drill.schedule_id,
        "state": drill.state,
        "ladder": drill.ladder_id,
        "with_crisis": drill.with_crisis,
        "due_at": when(drill.due_at),
        "started_at": when(drill.started_at),
        "ended_at": when(drill.ended_at),
        "measures": drill.measures,
    }


@router.get("/api/v1/drills")
async def list_drills(request: Request, last: int = Query(default=10, ge=1, le=200)) -> dict[str, Any]:
    """The coming drills (time drawn in their window) and the last ``last`` ones with their measures."""
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    from bot.drills import report

    done = await vigie.drills.last(last)
    return {
        "coming": [_row(vigie, d) for d in await vigie.drills.coming()],
        "drills": [{**_row(vigie, d), "report": report.text(vigie.engine.ctx, d)} for d in done],
    }


class ContactCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64, description="Qui lance le test.")
    only: str | None = Field(default=None, max_length=64, description="Une seule personne (défaut : tous).")


@router.post("/api/v1/drills/contacts", status_code=201, openapi_extra=documented_body(ContactCheckIn))
async def start_contact_check(request: Request) -> dict[str, Any]:
    """A test de joignabilité of every contact (or of one person's), as ``/exercice contacts``."""
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, ContactCheckIn)
    said = await vigie.inbound.drill_command(body.person, f"contacts {body.only or ''}".strip(), token=token)
    if not said.ok:
        status = 403 if said.code == "forbidden" else 422
        raise HttpError(status, "forbidden" if status == 403 else "invalid", said.text)
    vigie.dispatcher.poke()
    return {"message": said.text}


@router.get("/api/v1/drills/contacts")
async def list_contact_checks(request: Request, last: int = Query(default=5, ge=1, le=50)) -> dict[str, Any]:
    """The last tests de joignabilité with each contact's state, and the report text."""
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    checks = vigie.drills.contacts
    coming = await checks.coming()

    def when(at: Any) -> str | None:
        return at.astimezone(vigie.engine.ctx.zone).isoformat() if at else None

    return {
        "coming": when(coming.due_at) if coming else None,
        "checks": [
            {
                "id": check.id,
                "state": check.state,
                "person": check.person_id,
                "started_at": when(check.started_at),
                "due_at": when(check.due_at),
                "ended_at": when(check.ended_at),
                "probes": [
                    {
                        "person": p.person_id,
                        "channel": p.channel,
                        "address": p.address,
                        "state": p.state,
                        "confirmed_at": when(p.confirmed_at),
                        "error": p.error,
                    }
                    for p in probes
                ],
                "report": checks.report(check, probes),
            }
            for check, probes in await checks.last(last)
        ],
    }
