"""``POST /api/v1/alertmanager``: the Prometheus Alertmanager webhook (payload version 4).

Deduplication: with ``intake.alertmanager.dedup_by: group_key`` (default) one signal per
Alertmanager group (key ``alertmanager:<sha256(groupKey)>``); with ``fingerprint`` one signal
per alert (``alertmanager:fp:<fingerprint>``). Firing notifications create the signal or attach
to the open one; resolved ones are recorded on the open signal and never page.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.db import UNAVAILABLE_ERRORS
from bot.domain import Category, OriginChannel, Scope, Severity, parse_severity
from bot.intake import Origin, Receipt, SignalDraft
from handlers.http_common import documented_body, parse_json_body, receipt_body, require, store_unavailable

log = structlog.get_logger("vigie.http.alertmanager")
router = APIRouter()


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str | None = Field(default=None, alias="generatorURL")
    fingerprint: str = Field(min_length=1)


class AmNotification(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str | None = Field(default=None, alias="externalURL")
    alerts: list[AmAlert] = Field(min_length=1)


def _severity(labels: dict[str, str]) -> Severity | None:
    raw = labels.get("severity")
    if not raw:
        return None
    try:
        return parse_severity(raw)
    except ValueError:
        return None


def _category(labels: dict[str, str]) -> Category:
    try:
        return Category(labels.get("category", Category.TECHNIQUE.value))
    except ValueError:
        return Category.TECHNIQUE


def _alert_line(alert: AmAlert) -> str:
    name = alert.labels.get("alertname", "alerte")
    text = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
    return f"- [{alert.status}] {name}{' : ' + text if text else ''}{' (' + labels + ')' if labels else ''}"


def _alert_data(alert: AmAlert) -> dict[str, Any]:
    return alert.model_dump(mode="json", by_alias=True)


def _draft(
    title_source: dict[str, str],
    labels: dict[str, str],
    alerts: list[AmAlert],
    key: str,
    note: AmNotification,
    origin: Origin,
) -> SignalDraft:
    name = labels.get("alertname") or title_source.get("alertname") or note.receiver
    summary = title_source.get("summary")
    firing = [a for a in alerts if a.status == "firing"]
    title = summary or name
    if len(firing) > 1:
        title = f"{title} ({len(firing)} alertes)"
    body = "\n".join(_alert_line(a) for a in alerts)
    if note.external_url:
        body += f"\n\nAlertmanager : {note.external_url}"
    return SignalDraft(
        title=title[:500],
        body=body,
        severity=_severity(labels),
        category=_category(labels),
        source=f"alertmanager:{note.receiver}",
        dedup_key=key,
        origin=origin,
        attributes={
            "alertmanager": {
                "groupKey": note.group_key,
                "receiver": note.receiver,
                "groupLabels": note.group_labels,
                "commonLabels": note.common_labels,
                "truncatedAlerts": note.truncated_alerts,
                "alerts": [_alert_data(a) for a in alerts],
            }
        },
    )


def group_dedup_key(group_key: str) -> str:
    return "alertmanager:" + hashlib.sha256(group_key.encode()).hexdigest()[:40]


@router.post("/api/v1/alertmanager", openapi_extra=documented_body(AmNotification))
async def post_alertmanager(request: Request) -> JSONResponse:
    vigie = request.app.state.vigie
    started = time.perf_counter()
    token = require(request, Scope.SIGNALS_WRITE)
    note = await parse_json_body(request, AmNotification)
    origin = Origin(channel=OriginChannel.ALERTMANAGER, address=f"token:{token.name}")
    lang = vigie.config.desk.language

    firing_drafts: list[SignalDraft] = []
    resolutions: list[tuple[str, str, dict[str, Any]]] = []
    if vigie.config.intake.alertmanager.dedup_by == "group_key":
        key = group_dedup_key(note.group_key)
        if note.status == "firing":
            firing_drafts.append(
                _draft(note.common_annotations, note.common_labels, note.alerts, key, note, origin)
            )
        else:
            names = ", ".join(sorted({a.labels.get("alertname", "?") for a in note.alerts}))
            resolutions.append((key, names, {"alerts": [_alert_data(a) for a in note.alerts]}))
    else:
        for alert in note.alerts:
            key = f"alertmanager:fp:{alert.fingerprint}"
            if alert.status == "firing":
                firing_drafts.append(_draft(alert.annotations, alert.labels, [alert], key, note, origin))
            else:
                resolutions.append((key, alert.labels.get("alertname", "?"), {"alert": _alert_data(alert)}))

    receipts: list[Receipt] = []
    resolved: list[str] = []
    try:
        for draft in firing_drafts:
            receipt = await vigie.inbound.raise_signal(draft)
            receipts.append(receipt)
        for key, detail, data in resolutions:
            found = await vigie.intake.record_source_resolved(key, origin, detail, data)
            if found is not None:
                resolved.append(found.reference)
            else:
                log.info("alertmanager_resolved_without_open_signal", dedup_key=key)
    except UNAVAILABLE_ERRORS:
        vigie.metrics.intake_failures.labels("alertmanager").inc()
        log.exception("intake_store_unavailable", token=token.name)
        raise store_unavailable() from None
    vigie.metrics.intake_latency.labels("alertmanager").observe(time.perf_counter() - started)
    created = any(r.created for r in receipts)
    body: dict[str, Any] = {
        "signals": [receipt_body(r, lang) for r in receipts],
        "resolved": resolved,
        "message": (
            " ".join(r.text(lang) for r in receipts)
            or (
                f"Fin d'alerte enregistrée sur {', '.join(resolved)}."
                if resolved
                else "Fin d'alerte reçue : aucun signal ouvert correspondant."
            )
        ),
    }
    return JSONResponse(body, status_code=202 if created else 200)
