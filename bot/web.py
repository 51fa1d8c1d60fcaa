"""The service's ASGI app (FastAPI): the routers of the HTTP adapters, the adapters' webhooks,
and one error shape for everything. Imported only by what serves HTTP, so that one-shot CLI
commands do not pay for FastAPI."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app import Vigie
from bot.validation import french_errors


def create_app(vigie: Vigie) -> FastAPI:
    """The ASGI app. It does not start or stop the service: ``bot.service`` does, around it."""
    from handlers import (
        alertmanager,
        http_crisis,
        http_diffusion,
        http_drills,
        http_feeds,
        http_heartbeats,
        http_intake,
        http_maintenance,
        http_ops,
        http_paging,
        http_query,
    )
    from handlers.http_common import HttpError, authenticate

    docs = vigie.config.http.docs
    served = docs != "off"
    app = FastAPI(
        title="Vigie",
        version="0.1.0",
        docs_url="/docs" if served else None,
        redoc_url="/redoc" if served else None,
        openapi_url="/openapi.json" if served else None,
    )
    app.state.vigie = vigie

    if docs == "token":

        @app.middleware("http")
        async def _docs_behind_a_token(request: Request, call_next: Any) -> Any:
            if request.url.path in ("/docs", "/redoc", "/openapi.json"):
                try:
                    authenticate(request, vigie.tokens)
                except HttpError as exc:
                    return exc.response()
            return await call_next(request)

    @app.exception_handler(HttpError)
    async def _http_error(_request: Request, exc: HttpError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_status(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown routes and methods answer in the same shape (and language) as every other error.
        en = vigie.config.desk.language == "en"
        if exc.status_code == 404:
            message = (
                f"No such address: {request.url.path}. See /docs."
                if en
                else f"Adresse inconnue : {request.url.path}. Voir /docs."
            )
            code = "not_found"
        elif exc.status_code == 405:
            message = (
                f"Method {request.method} not allowed on {request.url.path}."
                if en
                else f"Méthode {request.method} non autorisée sur {request.url.path}."
            )
            code = "method_not_allowed"
        else:
            message, code = str(exc.detail), "http_error"
        answer = HttpError(exc.status_code, code, message).response()
        for name, value in (exc.headers or {}).items():
            answer.headers[name] = value
        return answer

    @app.get("/", include_in_schema=False)
    async def _home() -> HTMLResponse:
        return HTMLResponse(home_page(vigie.config.desk.name, vigie.config.desk.language))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = vigie.config.desk.language
        fields = french_errors(list(exc.errors()), lang)
        message = "Invalid request." if lang == "en" else "Requête invalide."
        return HttpError(422, "invalid_request", message, fields=fields).response()

    # A path or query with NUL or control characters is refused before any route (pure ASGI:
    # the hot webhook paths pay nothing for it).
    app.add_middleware(CleanAddresses)
    for module in (
        http_intake,
        http_maintenance,
        alertmanager,
        http_paging,
        http_query,
        http_ops,
        http_feeds,
        http_crisis,
        http_diffusion,
        http_drills,
        http_heartbeats,
    ):
        app.include_router(module.router)
    for adapter in vigie.adapters:
        for path, endpoint, methods in adapter.routes():
            # Webhook endpoints read the raw request (signatures): describe their path
            # parameters for /openapi.json by hand.
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", path)
            ]
            extra = {"parameters": parameters} if parameters else None
            app.add_api_route(path, endpoint, methods=methods, openapi_extra=extra)
    from handlers.desk_console.app import console_app

    app.mount("/console", console_app(vigie))  # its own session and CSRF middleware
    return app


class CleanAddresses:
    """ASGI middleware: 400 for a path or query holding NUL or another control character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from handlers.http_common import unsafe_address

        if scope["type"] == "http":
            refused = unsafe_address(Request(scope))
            if refused is not None:
                await refused.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


def home_page(desk: str, lang: str) -> str:
    """``GET /``: where to go from here."""
    name = html.escape(desk)
    if lang == "en":
        body = (
            f"<h1>Vigie — {name}</h1><p>Single entry point for health signals, and 24/7 on-call paging.</p>"
            "<ul><li><a href='/console/'>Duty console</a></li>"
            "<li><a href='/docs'>HTTP API</a> (OpenAPI)</li><li><a href='/healthz'>Health</a></li>"
            "<li>Set-up and commands: the README of the Vigie project.</li></ul>"
        )
    else:
        body = (
            f"<h1>Vigie — {name}</h1><p>Point d'entrée unique des signaux sanitaires et astreinte 24/7.</p>"
            "<ul><li><a href='/console/'>Console de veille</a></li>"
            "<li><a href='/docs'>API HTTP</a> (OpenAPI)</li>"
            "<li><a href='/healthz'>État du service</a></li>"
            "<li>Installation et commandes : le README du projet Vigie.</li></ul>"
        )
    return (
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>Vigie</title></head>"
        f"<body style='font-family:sans-serif'>{body}</body></html>"
    )
