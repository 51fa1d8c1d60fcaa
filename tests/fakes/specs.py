"""The providers' machine-readable API descriptions (../shared/specs), for checking the fakes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"


@cache
def telegram_spec() -> dict[str, Any]:
    return json.loads((SPECS / "telegram" / "bot-api.json").read_text(encoding="utf-8"))


@cache
def slack_spec() -> dict[str, Any]:
    return json.loads((SPECS / "slack" / "web-api-openapi-v2.json").read_text(encoding="utf-8"))


def telegram_problems(type_name: str, value: Any, path: str = "") -> list[str]:
    """Where ``value`` does not have the shape the Bot API documents for ``type_name``."""
    spec = telegram_spec()["types"]
    scalar = {"Integer": int, "String": str, "Boolean": bool, "True": bool, "Float": (int, float)}
    if type_name in scalar:
        ok = isinstance(value, scalar[type_name]) and not (type_name == "Integer" and isinstance(value, bool))
        return [] if ok else [f"{path or type_name}: {value!r} is not {type_name}"]
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        out: list[str] = []
        for i, item in enumerate(value):
            out += telegram_problems(type_name.removeprefix("Array of "), item, f"{path}[{i}]")
        return out
    if type_name not in spec:
        return [f"{path}: unknown type {type_name}"]
    subtypes = spec[type_name].get("subtypes")
    if subtypes:  # a union such as MaybeInaccessibleMessage: one of its members must fit
        tries = [telegram_problems(sub, value, path) for sub in subtypes]
        return [] if any(not t for t in tries) else min(tries, key=len)
    if not isinstance(value, dict):
        return [f"{path or type_name}: not an object"]
    fields = {f["name"]: f for f in spec[type_name].get("fields", [])}
    problems = [f"{path}.{k}: not a field of {type_name}" for k in value if k not in fields]
    problems += [
        f"{path}.{k}: required by {type_name}" for k, f in fields.items() if f["required"] and k not in value
    ]
    for key, item in value.items():
        if key in fields:
            kinds = fields[key]["types"]
            if all(telegram_problems(kind, item, f"{path}.{key}") for kind in kinds):
                problems += telegram_problems(kinds[0], item, f"{path}.{key}")
    return problems


def slack_problems(method: str, body: dict[str, Any]) -> list[str]:
    """Where a Web API answer departs from the OpenAPI description (top level: keys and ok/error)."""
    path = slack_spec()["paths"].get(f"/{method}")
    if path is None:
        return [f"{method}: not a Slack Web API method"]
    operation = path.get("post") or path.get("get")
    responses = operation["responses"]
    schema = (responses["200"] if body.get("ok") else responses.get("default", responses["200"]))["schema"]
    props = schema.get("properties", {})
    problems = [f"{method}: missing {k}" for k in schema.get("required", []) if k not in body]
    if schema.get("additionalProperties") is False:
        problems += [f"{method}: unexpected {k}" for k in body if k not in props]
    return problems


def slack_required_params(method: str) -> list[str]:
    operation = slack_spec()["paths"][f"/{method}"]
    operation = operation.get("post") or operation.get("get")
    return [p["name"] for p in operation.get("parameters", []) if p.get("required") and p["name"] != "token"]
