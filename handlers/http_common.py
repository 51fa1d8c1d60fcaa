"""Shared pieces of the HTTP adapters: bearer authentication, bounded JSON bodies, French errors."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from bot.domain import Scope
from bot.intake import Receipt
from bot.settings import ApiToken
from bot.texts import t
from bot.validation import CONTROL_CHARACTERS, french_errors

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


def require(request: Request, scope: Scope | None) -> ApiToken:
    """The request's API token, if it has that scope (None: any valid token): else 401 or 403."""
    vigie = request.app.state.vigie
    token = authenticate(request, vigie.tokens)
    if scope is not None and not token.allows(scope):
        log.warning("scope_refused", token=token.name, scope=scope.value, path=request.url.path)
        held = ", ".join(sorted(s.value for s in token.scopes))
        raise HttpError(
            403,
            "forbidden",
            t("access.scope", vigie.config.desk.language, token=token.name, scope=scope.value, scopes=held),
        )
    return token


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


def _non_finite(constant: str) -> float:
    raise ValueError(f"nombre non fini « {constant} »")


# Control characters a text may not hold (newline and tab are text; NUL and the rest are not).
_CONTROL = CONTROL_CHARACTERS


def unsafe_address(request: Request) -> HttpError | None:
    """A path or query holding NUL or another control character (``%00``…): refused before any
    route sees it (PostgreSQL cannot even compare such a text), on both backends alike."""
    fields: list[dict[str, str]] = []
    try:
        query = request.query_params.multi_items()
    except UnicodeDecodeError:  # starlette decodes lazily; a broken %-sequence is the client's
        query = []
        fields.append({"field": "(query)", "message": "adresse mal encodée (UTF-8 attendu)"})
    if _CONTROL.search(request.url.path):
        fields.append({"field": "(path)", "message": "caractère de contrôle interdit (NUL…)"})
    for name, value in query:
        if _CONTROL.search(name) or _CONTROL.search(value):
            fields.append({"field": name, "message": "caractère de contrôle interdit (NUL…)"})
    if not fields:
        return None
    return HttpError(400, "invalid_address", "Adresse invalide : caractère de contrôle interdit.", fields)


def unsafe_values(data: Any, path: str = "") -> list[dict[str, str]]:
    """Texts with NUL or control characters, anywhere in a document, named by their path:
    refused with a 422 rather than failing in the store (PostgreSQL refuses NUL)."""
    found: list[dict[str, str]] = []
    if isinstance(data, str):
        if _CONTROL.search(data):
            found.append({"field": path or "(document)", "message": "caractère de contrôle interdit (NUL…)"})
    elif isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if _CONTROL.search(str(key)):
                found.append(
                    {"field": where, "message": "caractère de contrôle interdit dans un nom de champ"}
                )
            found += unsafe_values(value, where)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += unsafe_values(value, f"{path}[{index}]")
    return found


def load_json(raw: bytes) -> Any:
    """A JSON document, or a 400 that says why: unreadable, too deeply nested, a number too long,
    NaN or Infinity (which JSON does not have and the store refuses)."""
    try:
        return json.loads(raw, parse_constant=_non_finite)
    except json.JSONDecodeError as exc:
        raise HttpError(
            400,
            "malformed_json",
            f"JSON illisible (ligne {exc.lineno}, colonne {exc.colno}) : le signal n'a pas été enregistré.",
        ) from None
    except UnicodeDecodeError:
        raise HttpError(400, "malformed_json", "JSON illisible : le texte doit être en UTF-8.") from None
    except RecursionError:
        raise HttpError(
            400, "malformed_json", "JSON trop imbriqué : le signal n'a pas été enregistré."
        ) from None
    except ValueError as exc:  # a 5,000-digit number, NaN, Infinity
        raise HttpError(400, "malformed_json", f"JSON refusé : {exc}.") from None


async def bounded(request: Request, limit: int = MAX_BODY_BYTES) -> Request:
    """The same request with its body read up to ``limit`` (413 beyond): for webhooks, before a
    signature is computed over it, so that nobody can make Vigie hash 100 MB unauthenticated."""
    body = await read_body(request, limit)
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)


def documented_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` describing a JSON body the route parses itself (``parse_json_body``,
    bounded and hostile-proof): so that /docs and schemathesis know its fields."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:  # #/$defs/… would not resolve inside the OpenAPI document
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": inline(schema)}}}
    }


async def parse_json_body(request: Request, model: type[M]) -> M:
    raw = await read_body(request)
    if not raw.strip():
        raise HttpError(400, "empty_body", "Corps de requête vide : un document JSON est attendu.")
    data = load_json(raw)
    if not isinstance(data, dict):
        raise HttpError(422, "invalid_payload", "Le document JSON doit être un objet { … }.")
    if unsafe := unsafe_values(data):
        summary = "; ".join(f"{f['field']} : {f['message']}" for f in unsafe)
        raise HttpError(
            422, "invalid_payload", f"Signal refusé, rien n'a été enregistré. {summary}", fields=unsafe
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = french_errors(exc.errors())
        summary = "; ".join(f"{f['field']} : {f['message']}" for f in fields)
        raise HttpError(
            422, "invalid_payload", f"Signal refusé, rien n'a été enregistré. {summary}", fields=fields
        ) from None


def instant_in_range(name: str, value: datetime) -> datetime:
    """A query's date and time as UTC, or a 422: years 1900 to 9000 only, so that converting it
    (or adding a roster's weeks to it) cannot overflow into a 500."""
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not 1900 <= utc.year <= 9000:
        raise HttpError(
            422, "invalid_query", f"{name} : date hors limites « {value.isoformat()} » (1900 à 9000)."
        )
    return utc


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
