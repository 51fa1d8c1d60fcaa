"""Validation errors in plain French, with the location of the faulty field."""

from __future__ import annotations

import re
from typing import Any

_ISO_DATETIME = "doit être une date et heure ISO 8601 (exemple : 2026-03-29T02:30:00+01:00)"
_MESSAGES_FR: dict[str, str] = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "clé inconnue (faute de frappe ?)",
    "string_type": "doit être un texte",
    "int_type": "doit être un nombre entier",
    "int_parsing": "doit être un nombre entier",
    "bool_type": "doit valoir true ou false",
    "bool_parsing": "doit valoir true ou false",
    "list_type": "doit être une liste",
    "dict_type": "doit être une section (clé: valeur)",
    "model_type": "doit être une section (clé: valeur)",
    "model_attributes_type": "doit être une section (clé: valeur)",
    "string_too_short": "ne doit pas être vide",
    "string_too_long": "trop long (au plus {max_length} caractères)",
    "float_type": "doit être un nombre",
    "float_parsing": "doit être un nombre",
    "datetime_type": "doit être une date et heure ISO 8601",
    "datetime_parsing": _ISO_DATETIME,
    "json_invalid": "JSON illisible",
    "too_short": "liste trop courte (au moins {min_length} élément(s))",
    "string_pattern_mismatch": "format invalide (attendu : {pattern})",
    "url_parsing": "adresse URL invalide",
    "datetime_from_date_parsing": _ISO_DATETIME,
    "datetime_object_invalid": _ISO_DATETIME,
    "date_parsing": "doit être une date AAAA-MM-JJ (exemple : 2026-03-29)",
    "date_from_datetime_parsing": "doit être une date AAAA-MM-JJ (exemple : 2026-03-29)",
    "time_parsing": "doit être une heure HH:MM (exemple : 09:00)",
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "greater_than": "doit être supérieur à {gt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "less_than": "doit être inférieur à {lt}",
    "int_from_float": "doit être un nombre entier",
    "finite_number": "doit être un nombre fini",
    "too_long": "liste trop longue (au plus {max_length} élément(s))",
    "string_unicode": "doit être un texte (UTF-8)",
}


def value_list(values: Any) -> str:
    """Allowed values as people read them everywhere: « a, b, c » (no quotes, no « or »)."""
    if isinstance(values, str):
        values = re.split(r",\s*|\s+or\s+", values)
    return ", ".join(str(v).strip().strip("'\"") for v in values if str(v).strip())


def french_message(error: dict[str, Any], lang: str = "fr") -> str:
    """The error in the desk's language (pydantic's own wording is the English one)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("enum", "literal_error"):
        expected = value_list(ctx.get("expected", ""))
        if lang == "en":
            return f"value not allowed “{error.get('input')}” (allowed: {expected})"
        return f"valeur non autorisée « {error.get('input')} » (valeurs possibles : {expected})"
    if lang == "en":
        return str(ctx.get("error", error["msg"])) if kind == "value_error" else str(error["msg"])
    if kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
        if "not a valid email address" in message:
            return f"adresse e-mail invalide « {error.get('input')} »"
        return message
    template = _MESSAGES_FR.get(kind)
    if template is None:
        return str(error["msg"])
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template


def format_location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def french_errors(errors: list[Any], lang: str = "fr") -> list[dict[str, str]]:
    """Pydantic errors as ``[{field, message}]`` for API answers."""
    return [
        {
            "field": format_location(tuple(err["loc"])) or "(document)",
            "message": french_message(dict(err), lang),
        }
        for err in errors
    ]


# Control characters a stored text may not hold (newline, tab and carriage return are text).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(value: Any) -> Any:
    """The same value with control characters dropped from every text in it (PostgreSQL refuses
    NUL): for what people send by SMS, mail or chat, which is kept, not refused."""
    if isinstance(value, str):
        return CONTROL_CHARACTERS.sub("", value)
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value
