"""HTTP intake: ``POST /api/v1/signals`` (generic JSON)."""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.db import UNAVAILABLE_ERRORS
from bot.domain import Category, OriginChannel, Scope, Severity, parse_severity
from bot.intake import Origin, SignalDraft
from handlers.http_common import documented_body, parse_json_body, receipt_body, require, store_unavailable

log = structlog.get_logger("vigie.http.intake")
router = APIRouter()


INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class SignalIn(BaseModel):
    # Unknown fields are kept in the signal's attributes rather than refused: a sender's
    # extra context must not cost a signal.
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    body: str | None = None
    severity: Severity | None = None
    category: Category | None = None
    source: str | None = Field(default=None, max_length=200)
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    reporter: str | None = Field(default=None, max_length=200)
    exercise: bool = False

    @field_validator("title", mode="after")
    @classmethod
    def _visible(cls, value: str) -> str:
        # Bidi overrides and zero-width characters can make a title read as something else.
        cleaned = INVISIBLE.sub("", value).strip()
        if not cleaned:
            raise ValueError("le titre ne doit pas être vide")
        return cleaned

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        return parse_severity(value) if isinstance(value, str) else value


@router.post("/api/v1/signals", openapi_extra=documented_body(SignalIn))
async def post_signal(request: Request) -> JSONResponse:
    vigie = request.app.state.vigie
    started = time.perf_counter()
    token = require(request, Scope.SIGNALS_WRITE)
    payload = await parse_json_body(request, SignalIn)
    draft = SignalDraft(
        title=payload.title,
        body=payload.body,
        severity=payload.severity,
        category=payload.category,
        source=payload.source or token.name,
        dedup_key=payload.dedup_key,
        reporter=payload.reporter,
        is_exercise=payload.exercise,
        attributes={"extra": payload.model_extra} if payload.model_extra else {},
        origin=Origin(channel=OriginChannel.HTTP, address=f"token:{token.name}"),
    )
    try:
        receipt = await vigie.inbound.raise_signal(draft)
    except UNAVAILABLE_ERRORS:
        vigie.metrics.intake_failures.labels("http").inc()
        log.exception("intake_store_unavailable", token=token.name)
        raise store_unavailable() from None
    vigie.metrics.intake_latency.labels("http").observe(time.perf_counter() - started)
    log.info("signal_accepted", reference=receipt.reference, created=receipt.created, token=token.name)
    return JSONResponse(
        receipt_body(receipt, vigie.config.desk.language),
        status_code=202 if receipt.created else 200,
        headers={"Location": f"/api/v1/signals/{receipt.reference}"},
    )
