"""Operations endpoints: ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from bot.domain import Scope
from handlers.http_common import HttpError, require

router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """200 while the service can take signals (a degraded channel included: the others page);
    503 when the store does not answer."""
    vigie = request.app.state.vigie
    channels = vigie.health.report()
    if not await vigie.db.ping():
        return JSONResponse(
            {"status": "down", "database": "injoignable", "channels": channels}, status_code=503
        )
    status = "degraded" if vigie.health.unavailable() else "ok"
    return JSONResponse({"status": status, "database": vigie.db.dialect, "channels": channels})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics: open, behind an API token, or off (setting ``http.metrics``)."""
    vigie = request.app.state.vigie
    exposure = vigie.config.http.metrics
    if exposure == "off":
        raise HttpError(404, "not_found", "Métriques désactivées (http.metrics: off).")
    if exposure == "token":
        require(request, Scope.METRICS)
    return Response(vigie.metrics.render(), media_type=CONTENT_TYPE_LATEST)
