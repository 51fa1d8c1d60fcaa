"""Operations endpoints: ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    vigie = request.app.state.vigie
    if await vigie.db.ping():
        return JSONResponse({"status": "ok", "database": vigie.db.dialect})
    return JSONResponse({"status": "degraded", "database": "injoignable"}, status_code=503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.vigie.metrics.render(), media_type=CONTENT_TYPE_LATEST)
