"""``GET /ical/<token>.ics``: a person's subscribable on-call calendar (escalation/feeds.py).
The address is the credential: no bearer header, which calendar apps cannot send."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from escalation.feeds import feed_calendar
from handlers.http_common import HttpError

router = APIRouter()


@router.get("/ical/{token}.ics", summary="Calendrier d'astreinte personnel (adresse signée)")
async def personal_calendar(request: Request, token: str) -> Response:
    vigie = request.app.state.vigie
    # One answer for unknown, altered, revoked and disabled: the address tells nothing.
    unknown = HttpError(404, "not_found", "Calendrier inconnu ou révoqué.")
    if vigie.feeds is None or len(token) > 64:
        raise unknown
    found = await feed_calendar(vigie.db, vigie.engine.ctx, vigie.feeds, token, vigie.clock.now())
    if found is None:
        raise unknown
    row, body = found
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'inline; filename="astreinte-{row.roster_id}.ics"',
            "Cache-Control": "private, max-age=900",
            "Referrer-Policy": "no-referrer",
        },
    )
