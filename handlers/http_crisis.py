"""HTTP routes of the crisis cell: open a crisis, list and read crises, add to a main courante,
export it. Acting routes need ``paging:act`` and a person the token may act for; reading ones
``read``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from bot.crisis.commands import Speaker
from bot.crisis.export import entry_dict, load_record, to_csv, to_json, to_pdf
from bot.crisis.models import EntryKind
from bot.crisis.store import (
    EntryDraft,
    entries,
    functions,
    get_crisis,
    list_crises,
    members,
    points,
    rooms,
    signals_of,
)
from bot.domain import Scope
from handlers.http_common import HttpError, documented_body, instant_in_range, parse_json_body, require

router = APIRouter()

_STATUS = {"forbidden": 403, "not_found": 404, "closed": 409, "usage": 422, "unknown_person": 422}


class CrisisIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64, description="Qui ouvre la crise.")
    title: str | None = Field(default=None, max_length=500)
    signals: list[str] = Field(default_factory=list, max_length=20)
    plan: Literal["AMAVI", "EPI-CLIM", "REB", "NRC", "MEDICO-PSY"] | None = None
    exercise: bool = False


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=10_000)
    kind: Literal["information", "demande", "decision", "action"] = "information"
    owner: str | None = Field(default=None, max_length=200)
    recipient: str | None = Field(default=None, max_length=200)
    due_at: datetime | None = None


def _refused(code: str | None, text: str) -> HttpError:
    return HttpError(_STATUS.get(code or "", 409), code or "conflict", text)


@router.post("/api/v1/crises", status_code=201, openapi_extra=documented_body(CrisisIn))
async def open_crisis(request: Request) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, CrisisIn)
    words = [*body.signals, *([body.plan] if body.plan else []), *(["exercice"] if body.exercise else [])]
    words.append(body.title or "")
    reply = await vigie.inbound.crisis_command("crisis", " ".join(words), Speaker(body.person, "web"), token)
    if not reply.ok:
        raise _refused(reply.code, reply.text)
    return {"reference": reply.reference, "message": reply.text}


@router.get("/api/v1/crises")
async def read_crises(request: Request, state: Literal["ouverte", "close"] | None = None) -> dict[str, Any]:
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    async with vigie.db.read_session() as session:
        found = await list_crises(session, state)
    return {"crises": [_crisis(c) for c in found], "count": len(found)}


def _crisis(c: Any) -> dict[str, Any]:
    return {
        "reference": c.reference,
        "title": c.title,
        "plan": c.plan,
        "phase": c.phase,
        "state": c.state,
        "exercise": c.is_exercise,
        "opened_at": c.opened_at.isoformat(),
        "opened_by": c.opened_by,
        "armed_at": c.armed_at.isoformat() if c.armed_at else None,
        "closed_at": c.closed_at.isoformat() if c.closed_at else None,
    }


@router.get("/api/v1/crises/{reference}")
async def read_crisis(
    request: Request, reference: str, after: int = Query(default=0, ge=0)
) -> dict[str, Any]:
    """A crisis: its members, functions, rooms, and its entries after number ``after``."""
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    async with vigie.db.read_session() as session:
        crisis = await get_crisis(session, reference)
        if crisis is None or crisis.id is None:
            raise HttpError(404, "not_found", f"Aucune crise « {reference} ».")
        found: dict[str, list[Any]] = {
            "members": list(await members(session, crisis.id)),
            "functions": list(await functions(session, crisis.id)),
            "rooms": list(await rooms(session, crisis.id)),
            "signals": list(await signals_of(session, crisis.id)),
            "entries": list(await entries(session, crisis.id, after)),
        }
    return {
        **_crisis(crisis),
        "signals": [s.reference for s in found["signals"]],
        "members": [
            {
                "person": m.person_id,
                "called_at": m.called_at.isoformat(),
                "joined_at": m.joined_at.isoformat() if m.joined_at else None,
            }
            for m in found["members"]
        ],
        "functions": [
            {"function": f.function, "person": f.person_id, "since": f.since.isoformat()}
            for f in found["functions"]
        ],
        "rooms": [
            {"platform": r.platform, "room_id": r.room_id, "name": r.name, "error": r.error}
            for r in found["rooms"]
        ],
        "entries": [entry_dict(e, vigie.engine.ctx.zone) for e in found["entries"]],
    }


@router.post("/api/v1/crises/{reference}/entries", status_code=201, openapi_extra=documented_body(EntryIn))
async def add_entry(request: Request, reference: str) -> dict[str, Any]:
    """An entry from outside the rooms (a desk tool, the console), origin ``web``."""
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, EntryIn)
    if refusal := vigie.inbound.token_refusal(token, body.person):
        raise HttpError(403, "forbidden", refusal)
    if vigie.config.person(body.person) is None:
        raise HttpError(422, "unknown_person", f"Personne inconnue « {body.person} ».")
    due = instant_in_range("due_at", body.due_at) if body.due_at else None
    if due is not None and due.tzinfo is None:
        due = due.replace(tzinfo=vigie.config.desk.zone)
    draft = EntryDraft(
        text=body.text,
        origin="web",
        author_label=vigie.engine.ctx.name(body.person),
        author_id=body.person,
        kind=EntryKind(body.kind),
        owner=body.owner,
        recipient=body.recipient,
        due_at=due,
    )
    from bot.crisis.cell import CellError

    try:
        entry, _ = await vigie.cell.log(reference, draft)
    except CellError as exc:
        raise _refused(exc.code, exc.message) from None
    return {"reference": reference.upper(), "number": entry.number, "hash": entry.hash}


@router.get("/api/v1/crises/{reference}/export.{fmt}")
async def export_crisis(request: Request, reference: str, fmt: Literal["pdf", "csv", "json"]) -> Response:
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    names = {p.id: p.name for p in vigie.config.people}
    async with vigie.db.read_session() as session:
        record = await load_record(session, reference, names, vigie.engine.ctx.zone)
    if record is None:
        raise HttpError(404, "not_found", f"Aucune crise « {reference} ».")
    data, media = {
        "csv": (lambda: to_csv(record), "text/csv; charset=utf-8"),
        "json": (lambda: to_json(record), "application/json"),
        "pdf": (lambda: to_pdf(record, vigie.clock.now()), "application/pdf"),
    }[fmt]
    name = f"{record.crisis.reference}.{fmt}"
    return Response(
        data(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/api/v1/crises/{reference}/points")
async def read_points(request: Request, reference: str) -> dict[str, Any]:
    """The points de situation: planned, drafted, validated (with their lateness and the head
    hash they were mailed with)."""
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    async with vigie.db.read_session() as session:
        crisis = await get_crisis(session, reference)
        if crisis is None or crisis.id is None:
            raise HttpError(404, "not_found", f"Aucune crise « {reference} ».")
        found = await points(session, crisis.id)
    zone = vigie.engine.ctx.zone

    def at(when: datetime | None) -> str | None:
        return when.astimezone(zone).isoformat() if when else None

    return {
        "reference": crisis.reference,
        "phase": crisis.phase,
        "points": [
            {
                "number": p.number,
                "final": p.final,
                "state": p.state,
                "due_at": at(p.due_at),
                "validated_at": at(p.validated_at),
                "validated_by": p.validated_by,
                "late_minutes": (
                    max(0, int((p.validated_at - p.due_at).total_seconds() // 60)) if p.validated_at else None
                ),
                "entry": p.entry_number,
                "head_hash": p.head_hash,
                "text": p.text,
            }
            for p in found
        ],
    }


@router.get("/api/v1/crises/{reference}/retex")
async def read_retex(
    request: Request, reference: str, format: Literal["md", "pdf", "json"] = "json"
) -> Response:
    """The RETEX document, pre-filled: the event, its timeline, the hot answers by question."""
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    from bot.crisis.cell import CellError

    try:
        document = await vigie.crisis.retex.document(reference)
    except CellError as exc:
        raise _refused(exc.code, exc.message) from None
    name = f"{document.crisis.reference}-retex.{format}"
    if format == "md":
        return Response(document.markdown(), media_type="text/markdown; charset=utf-8")
    if format == "pdf":
        return Response(
            document.pdf(),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    import json

    return Response(json.dumps(document.as_dict(), ensure_ascii=False), media_type="application/json")
