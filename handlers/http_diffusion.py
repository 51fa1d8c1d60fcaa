"""HTTP routes of the diffusions: send one, follow it, record a confirmation got by phone, the
report. Acting routes need ``paging:act`` and a person the token may act for (the permission
``diffusion`` applies); reading ones ``read``."""

from __future__ import annotations

import base64
import binascii
import html
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.domain import Scope
from handlers.http_common import HttpError, documented_body, parse_json_body, require

router = APIRouter()
_STATUS = {"forbidden": 403, "not_found": 404, "usage": 422, "no_partner": 422}


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=200)
    content_type: str = Field(default="application/pdf", max_length=100)
    base64: str = Field(
        min_length=1, max_length=14_000_000, description="Le fichier, en base64 (10 Mo au plus)."
    )


class DiffusionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64, description="Qui diffuse.")
    nature: Literal["information", "action", "diffusion", "mars"] = "diffusion"
    groups: list[str] = Field(min_length=1, max_length=50)
    text: str = Field(min_length=1, max_length=20_000)
    title: str | None = Field(default=None, max_length=300, description="« MINSANTE n° 2026-112 »")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=5)
    exercise: bool = False


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    person: str = Field(min_length=1, max_length=64, description="L'opérateur qui a obtenu la confirmation.")
    partner: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


def _refused(code: str | None, text: str) -> HttpError:
    return HttpError(_STATUS.get(code or "", 409), code or "conflict", text)


def _acting(request: Request, person: str, token: Any) -> None:
    vigie = request.app.state.vigie
    if refusal := vigie.inbound.token_refusal(token, person):
        raise HttpError(403, "forbidden", refusal)
    from bot.permissions import function_refusal

    if refusal := function_refusal(vigie.config, person, "diffusion"):
        raise HttpError(403, "forbidden", refusal)


@router.post("/api/v1/diffusions", status_code=201, openapi_extra=documented_body(DiffusionIn))
async def send_diffusion(request: Request) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, DiffusionIn)
    _acting(request, body.person, token)
    files = []
    for item in body.attachments:
        try:
            base64.b64decode(item.base64, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(
                422, "bad_attachment", f"Pièce jointe « {item.filename} » : base64 illisible."
            ) from None
        files.append(item.model_dump())
    from bot.diffusion.service import DiffusionError

    try:
        reply = await vigie.diffusions.send(
            body.person,
            body.nature,
            body.groups,
            body.text,
            title=body.title,
            attachments=files,
            exercise=body.exercise,
        )
    except DiffusionError as exc:
        raise _refused(exc.code, exc.message) from None
    vigie.diffusion_worker.poke()
    return {"reference": reply.reference, "message": reply.text}


@router.get("/api/v1/diffusions/{reference}")
async def read_diffusion(request: Request, reference: str) -> dict[str, Any]:
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    from bot.diffusion.service import DiffusionError

    try:
        said = await vigie.diffusions.status(reference)
        targets = await vigie.diffusions.targets_of(reference)
    except DiffusionError as exc:
        raise _refused(exc.code, exc.message) from None
    sentence = await vigie.diffusions.sentence(reference)
    return {"reference": said.reference, "summary": said.text, "sentence": sentence, "partners": targets}


@router.post(
    "/api/v1/diffusions/{reference}/confirmations",
    status_code=201,
    openapi_extra=documented_body(ConfirmationIn),
)
async def confirm_by_operator(request: Request, reference: str) -> dict[str, Any]:
    vigie = request.app.state.vigie
    token = require(request, Scope.PAGING_ACT)
    body = await parse_json_body(request, ConfirmationIn)
    _acting(request, body.person, token)
    from bot.diffusion.service import DiffusionError

    try:
        said = await vigie.diffusions.confirm(
            reference, body.partner, "operateur", by=vigie.engine.ctx.name(body.person), comment=body.comment
        )
    except DiffusionError as exc:
        raise _refused(exc.code, exc.message) from None
    return {"reference": reference.upper(), "message": said.text}


@router.get("/api/v1/diffusions/{reference}/report.{fmt}")
async def diffusion_report(request: Request, reference: str, fmt: Literal["csv", "pdf"]) -> Response:
    """Every partner, every attempt, its confirmation (the summary sentence: ``GET …/{ref}``)."""
    vigie = request.app.state.vigie
    require(request, Scope.READ)
    from bot.diffusion.service import DiffusionError

    try:
        if fmt == "pdf":
            data, media = await vigie.diffusions.report_pdf(reference), "application/pdf"
        else:
            data, media = await vigie.diffusions.report_csv(reference), "text/csv; charset=utf-8"
    except DiffusionError as exc:
        raise _refused(exc.code, exc.message) from None
    name = f"{reference.upper()}-rapport.{fmt}"
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _files_page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>Vigie</title>"
        "<meta name='viewport' content='width=device-width'></head><body style='font-family:sans-serif'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
    )


@router.get("/d/{token}", response_model=None)
async def diffusion_files(request: Request, token: str) -> Response:
    """The signed link an SMS carries to the diffusion's attachments: one file is served at
    once, several are listed. Downloading confirms nothing (the SMS code, key 1 or the mail's
    button do)."""
    from bot.diffusion.service import DiffusionError

    try:
        diffusion, files = await request.app.state.vigie.diffusions.files(token)
    except DiffusionError as exc:
        status = {"expired": 410, "forbidden": 403}.get(exc.code, 404)
        return _files_page("Pièces jointes", f"<p>{html.escape(exc.message)}</p>", status)
    if len(files) == 1:
        return _file(files[0])
    here = html.escape(str(request.url).rstrip("/"))
    items = "".join(
        f"<li><a href='{here}/{n}'>{html.escape(str(f['filename']))}</a></li>" for n, f in enumerate(files)
    )
    return _files_page(f"{diffusion.reference} — {diffusion.title}", f"<ul>{items}</ul>")


@router.get("/d/{token}/{number}", response_model=None)
async def diffusion_file(request: Request, token: str, number: int) -> Response:
    from bot.diffusion.service import DiffusionError

    try:
        _, files = await request.app.state.vigie.diffusions.files(token)
    except DiffusionError as exc:
        status = {"expired": 410, "forbidden": 403}.get(exc.code, 404)
        return _files_page("Pièces jointes", f"<p>{html.escape(exc.message)}</p>", status)
    if not 0 <= number < len(files):
        return _files_page("Pièces jointes", "<p>Pas de pièce jointe à ce numéro.</p>", 404)
    return _file(files[number])


def _file(item: dict[str, Any]) -> Response:
    name = str(item.get("filename") or "piece-jointe").replace('"', "")
    return Response(
        base64.b64decode(item["base64"]),
        media_type=str(item.get("content_type") or "application/octet-stream"),
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
