"""Shared pieces of the HTTP adapters: bearer authentication, bounded JSON bodies, French errors."""

from __future__ import annotations

import hmac
import json
from typing import Any, TypeVar

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from bot.intake import Receipt
from bot.settings import ApiToken
from bot.validation import french_errors

log = structlog.get_logger("vigie.http")

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB

M = TypeVar("M", bound=BaseModel)


class HttpError(Exception):
    """An error answered to the client as JSON with a French message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def authenticate(request: Request, tokens: list[ApiToken]) -> ApiToken:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        raise HttpError(
            401,
            "unauthorized",
            "Authentification requise : en-tête « Authorization: Bearer <jeton> » manquant.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    match: ApiToken | None = None
    for token in tokens:
        # Compare against every token, in constant time, so timing tells nothing.
        if hmac.compare_digest(token.secret.encode(), presented.strip().encode()):
            match = token
    if match is None:
        log.warning(
            "auth_refused", path=request.url.path, client=request.client.host if request.client else None
        )
        raise HttpError(
            401,
            "unauthorized",
            "Jeton d'accès invalide.",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return match


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    too_large = HttpError(
        413, "payload_too_large", f"Requête trop volumineuse : au plus {limit // 1024} Kio sont acceptés."
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_json_body(request: Request, model: type[M]) -> M:
    raw = await read_body(request)
    if not raw.strip():
        raise HttpError(400, "empty_body", "Corps de requête vide : un document JSON est attendu.")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" (ligne {exc.lineno}, colonne {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise HttpError(
            400, "malformed_json", f"JSON illisible{where} : le signal n'a pas été enregistré."
        ) from None
    if not isinstance(data, dict):
        raise HttpError(422, "invalid_payload", "Le document JSON doit être un objet { … }.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = french_errors(exc.errors())
        summary = "; ".join(f"{f['field']} : {f['message']}" for f in fields)
        raise HttpError(
            422, "invalid_payload", f"Signal refusé, rien n'a été enregistré. {summary}", fields=fields
        ) from None


def store_unavailable() -> HttpError:
    return HttpError(
        503,
        "store_unavailable",
        "Base de données indisponible : le signal n'a PAS été enregistré. "
        "Réessayez dans un instant ou appelez le numéro d'astreinte.",
        headers={"Retry-After": "5"},
    )


def receipt_body(receipt: Receipt, lang: str) -> dict[str, Any]:
    return {
        "reference": receipt.reference,
        "created": receipt.created,
        "status": receipt.status.value,
        "message": receipt.text(lang),
    }
