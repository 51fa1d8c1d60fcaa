"""Validation errors in plain French, with the location of the faulty field."""

from __future__ import annotations

from typing import Any

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
    "datetime_parsing": "doit être une date et heure ISO 8601 (exemple : 2026-03-29T02:30:00+01:00)",
    "json_invalid": "JSON illisible",
    "too_short": "liste trop courte (au moins {min_length} élément(s))",
    "string_pattern_mismatch": "format invalide (attendu : {pattern})",
    "url_parsing": "adresse URL invalide",
}


def french_message(error: dict[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"valeur non autorisée « {error.get('input')} » (valeurs possibles : {expected})"
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


def french_errors(errors: list[Any]) -> list[dict[str, str]]:
    """Pydantic errors as ``[{field, message}]`` for API answers."""
    return [
        {"field": format_location(tuple(err["loc"])) or "(document)", "message": french_message(dict(err))}
        for err in errors
    ]
