"""The duty console: server-rendered pages (Jinja2) kept current by htmx over server-sent events,
mounted under ``/console``. It is a sub-application with its own middleware — signed session
cookie, CSRF double-submit (asgi-csrf) — so that the API's hot paths pay for neither.

Every action goes through the same inbound path as chat (``channel web``), with the same
permissions; the page never decides anything itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
import structlog
from asgi_csrf import asgi_csrf
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlmodel import col, select
from sse_starlette import EventSourceResponse
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from bot.channel_state import ChannelState
from bot.crisis import draft as point_draft
from bot.crisis import store as crisis_store
from bot.crisis.commands import Speaker
from bot.crisis.export import load_record, to_csv, to_pdf
from bot.crisis.models import ENTRY_KIND_LABELS_FR, EntryKind, EntryRow
from bot.domain import CELL_FUNCTIONS, FUNCTION_LABELS_FR, Function, OriginChannel, Severity
from bot.drills import report as drill_report
from bot.inbound import Answer, Reply
from bot.intake import Origin, SignalDraft
from bot.models import OutboxMessageRow, RosterOverrideRow, SignalEventRow
from bot.outbox import OutboxFilter, list_messages
from bot.signals import get_signal, list_signals
from escalation.feeds import FeedError, create_feed
from escalation.paging import notify
from escalation.status import ladder_views
from handlers.desk_console.auth import SESSION_TTL, Attempts, SignInLinks, console_secret, find_person
from handlers.desk_console.labels import Labels

# The running service (bot.app.Vigie), as the HTTP handlers reach it: adapters sit below the
# composition root and may not import it.
Vigie = Any

log = structlog.get_logger("vigie.console")

PREFIX = "/console"
ROTA_AHEAD = timedelta(days=28)
LEVEL_ORDER = ("titulaire", "suppleant", "cadre")
STATIC = Path(__file__).parent / "static"
PUBLIC = (f"{PREFIX}/login", f"{PREFIX}/entrer/", f"{PREFIX}/static/")  # the rest needs a session
LIVE_POLL = 1.0  # seconds between two looks for something new, per open page


def answer_status(reply: Reply) -> int:
    """Done: 200; refused by the permissions: 403; refused for another reason: 409."""
    return 200 if reply.ok else 403 if reply.code == "forbidden" else 409


class Console:
    def __init__(self, vigie: Vigie, secret: str) -> None:
        self.vigie = vigie
        self.config = vigie.config
        self.ctx = vigie.engine.ctx
        self.links = SignInLinks(secret)
        self.attempts = Attempts()
        self.spent = ChannelState(vigie.db, "console")
        self.words = Labels(self.config.desk.language)
        self.templates = Environment(
            loader=PackageLoader("handlers.desk_console", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,  # a misspelt name is an error in the tests, not a blank
        )

    # --- rendering ------------------------------------------------------------------

    def page(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        person = self.person_of(request)
        token = request.scope.get("csrftoken")
        defaults = {"sent": False, "expired": False, "suite": "", "feed": ""}
        html = self.templates.get_template(name).render(
            **(defaults | values),
            L=self.words,
            lang=self.words.lang,
            desk=self.config.desk.name,
            prefix=PREFIX,
            me=self.ctx.name(person) if person else None,
            csrf=token() if callable(token) else "",
            local=self.ctx.local,
            local_day=self.ctx.local_day,
            name=self.ctx.name,
            age=self.age,
        )
        return HTMLResponse(html, status_code=status)

    def said(self, request: Request, reply: Reply) -> HTMLResponse:
        """The answer to an action, shown where the page said (« #said »)."""
        return self.page(request, "_said.html", status=answer_status(reply), text=reply.text, ok=reply.ok)

    def age(self, since: datetime) -> str:
        minutes = max(0, int((self.ctx.clock.now() - since).total_seconds() // 60))
        if minutes < 60:
            return self.words("minutes", n=minutes)
        if minutes < 24 * 60:
            return self.words("hours", h=minutes // 60, m=minutes % 60)
        return self.words("days", d=minutes // (24 * 60))

    # --- who is signed in -------------------------------------------------------------

    def person_of(self, request: Request) -> str | None:
        session = request.scope.get("session")
        if not session:
            return None
        person, until = session.get("person"), session.get("until", 0)
        if not isinstance(person, str) or self.config.person(person) is None:
            return None
        if not isinstance(until, int | float) or until < self.ctx.clock.now().timestamp():
            return None
        return person

    def to_login(self, request: Request) -> Response:
        if request.method != "GET" or request.headers.get("hx-request"):
            return HTMLResponse(self.words("login.required"), status_code=401)
        wanted = quote(request.url.path, safe="/")
        return RedirectResponse(f"{PREFIX}/login?suite={wanted}", status_code=303)

    # --- data for the pages -------------------------------------------------------------

    async def board(self) -> dict[str, Any]:
        vigie = self.vigie
        signals = await list_signals(vigie.db, "open", 100, exercise="include")
        views = await ladder_views(vigie.db, self.ctx, signals)
        now = self.ctx.clock.now()
        duty = []
        for roster_id, schedule in self.ctx.schedules.items():
            current = schedule.on_call(now)
            upcoming = schedule.next_change(now)
            duty.append(
                {
                    "roster": next((r.name for r in self.config.rosters if r.id == roster_id), roster_id),
                    "holders": [
                        (level, current.holders.get(level)) for level in ("titulaire", "suppleant", "cadre")
                    ],
                    "next": upcoming.at if upcoming is not None else None,
                }
            )
        messages = await list_messages(vigie.db, OutboxFilter(limit=15))
        return {
            "signals": [(s, views.get(s.id) if s.id is not None else None) for s in signals],
            "summary": lambda view: view.summary(self.ctx) if view is not None else "",
            "duty": duty,
            "messages": messages,
        }

    async def fingerprint(self) -> tuple[Any, ...]:
        """What changes when anything shown changes: a new history line, a message queued or
        delivered."""
        async with self.vigie.db.read_session() as session:
            events = (await session.exec(select(sa.func.max(SignalEventRow.id)))).one()
            logged = (await session.exec(select(sa.func.max(EntryRow.id)))).one()
            outbox = (
                await session.exec(
                    select(
                        sa.func.max(OutboxMessageRow.id),
                        sa.func.count().filter(
                            col(OutboxMessageRow.state).in_(["delivered", "sent", "failed"])
                        ),
                    )
                )
            ).one()
        return (events, logged, *outbox)

    async def crisis(self, reference: str) -> dict[str, Any] | None:
        """Everything the crisis page shows."""
        async with self.vigie.db.read_session() as session:
            crisis = await crisis_store.get_crisis(session, reference)
            if crisis is None or crisis.id is None:
                return None
            log_entries = await crisis_store.entries(session, crisis.id)
            held = await crisis_store.functions(session, crisis.id)
            members = await crisis_store.members(session, crisis.id)
            rooms = await crisis_store.rooms(session, crisis.id)
            points = await crisis_store.points(session, crisis.id)
        now = self.ctx.clock.now()
        upcoming = next((p for p in reversed(points) if p.validated_at is None), None)
        draft_text = (await self.vigie.crisis.points.show(crisis.reference)).text if upcoming else ""
        actions = point_draft.open_entries(log_entries, EntryKind.ACTION)
        corrected = {e.refers_to for e in log_entries if e.kind == EntryKind.CORRECTION.value}
        return {
            "crisis": crisis,
            "entries": log_entries,
            "corrected": corrected,
            "kind_label": lambda kind: (
                ENTRY_KIND_LABELS_FR.get(EntryKind(kind), kind) if self.words.lang == "fr" else kind
            ),
            "functions": [(f.function, f.person_id) for f in held],
            "members": members,
            "rooms": rooms,
            "actions": [(a, a.due_at is not None and a.due_at < now) for a in actions],
            "point": upcoming,
            "point_in": self.age_until(upcoming.due_at) if upcoming else "",
            "point_late": upcoming is not None and upcoming.due_at < now,
            "draft": draft_text,
            "sections": point_draft.SECTIONS,
            "people": [(p.id, p.name) for p in self.config.people],
            "cell_functions": [f.value for f in CELL_FUNCTIONS],
            "function_label": lambda f: (
                FUNCTION_LABELS_FR.get(Function(f), f) if self.words.lang == "fr" else f
            ),
        }

    async def rota(self) -> dict[str, Any]:
        """The coming four weeks of each roster, with the overrides that change who holds what."""
        now = self.ctx.clock.now()
        until = now + ROTA_AHEAD
        rosters = []
        for roster_id, schedule in self.ctx.schedules.items():
            roster = self.config.roster(roster_id)
            rows = [
                (start, end, [held.holders.get(level) for level in LEVEL_ORDER], held.off_hours)
                for start, end, held in schedule.segments(now, until)
            ]
            configured = [
                o.model_copy(update={"start": self.aware(o.start), "end": self.aware(o.end)})
                for o in (roster.overrides if roster else [])
                if self.aware(o.end) >= now
            ]
            rosters.append(
                {
                    "id": roster_id,
                    "name": roster.name if roster else roster_id,
                    "rows": rows,
                    "overrides": configured,
                    "weeks": self.weeks(schedule, now),
                }
            )
        async with self.vigie.db.read_session() as session:
            extra = (
                await session.exec(select(RosterOverrideRow).where(col(RosterOverrideRow.end) >= now))
            ).all()
        return {"rosters": rosters, "extra": list(extra), "levels": LEVEL_ORDER}

    def weeks(self, schedule: Any, now: datetime) -> list[list[dict[str, Any]]]:
        """Four calendar weeks from this Monday: each day, who holds each level at noon, and
        whether that changed during the day (a hand-over, an override)."""
        zone = self.ctx.zone
        today = now.astimezone(zone).date()
        monday = today - timedelta(days=today.weekday())
        weeks = []
        for week in range(4):
            days = []
            for offset in range(7):
                day = monday + timedelta(days=week * 7 + offset)
                noon = datetime.combine(day, datetime.min.time().replace(hour=12), zone)
                start = datetime.combine(day, datetime.min.time(), zone)
                held = schedule.on_call(noon).holders
                changes = [b for b in schedule.boundaries(start, start + timedelta(days=1))]
                days.append(
                    {
                        "date": day,
                        "today": day == today,
                        "past": day < today,
                        "holders": [held.get(level) for level in LEVEL_ORDER],
                        "change": any(
                            not schedule.on_call(b).same_holders(schedule.on_call(start)) for b in changes
                        ),
                    }
                )
            weeks.append(days)
        return weeks

    def aware(self, when: datetime) -> datetime:
        """A configured time without an offset is the desk's local time."""
        return when if when.tzinfo is not None else when.replace(tzinfo=self.ctx.zone)

    def age_until(self, when: datetime) -> str:
        minutes = int((when - self.ctx.clock.now()).total_seconds() // 60)
        if minutes < 0:
            return self.words("late_by", delay=self.age(when))
        return self.words("due_in", delay=self.words("hours", h=minutes // 60, m=minutes % 60))

    # --- signing in ---------------------------------------------------------------------

    async def send_link(self, request: Request, identifier: str) -> None:
        client = request.client.host if request.client else "?"
        if not self.attempts.allow(f"id:{identifier.strip().lower()}", f"ip:{client}"):
            log.warning("console_login_throttled", client=client)
            return
        person_id = find_person(self.config, identifier)
        if person_id is None:
            log.info("console_login_unknown", client=client)
            return
        token, _ = self.links.make(person_id)
        public = self.config.desk.public_url or str(request.base_url).rstrip("/")
        link = f"{public.rstrip('/')}{PREFIX}/entrer/{token}"
        now = self.ctx.clock.now()
        text = self.words("login.message", desk=self.config.desk.name, link=link)
        async with self.vigie.db.transaction() as session:
            notify(
                session,
                self.ctx,
                person_id,
                text,
                kind="console_login",
                signal_id=None,
                key=f"login:{token[-16:]}",
                now=now,
            )
        self.vigie.dispatcher.poke()
        log.info("console_login_link_sent", person=person_id)


def console_app(vigie: Vigie) -> ASGIApp:
    secret = console_secret()
    console = Console(vigie, secret)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.vigie = vigie
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    w = console.words

    @app.middleware("http")
    async def _signed_in_only(request: Request, call_next: Any) -> Response:
        """Every page but sign-in and the static files needs a session: without one, a page
        goes to sign-in and an action is refused."""
        path = request.scope.get("path", "")
        if not path.startswith(PUBLIC):
            person = console.person_of(request)
            if person is None:
                return console.to_login(request)
            request.state.person = person
        response: Response = await call_next(request)
        return response

    @app.get("/login")
    async def login_form(request: Request, suite: str = "") -> Response:
        return console.page(request, "login.html", suite=suite if suite.startswith(PREFIX) else "")

    @app.post("/login")
    async def login(request: Request, identifier: str = Form(""), suite: str = Form("")) -> Response:
        await console.send_link(request, identifier[:200])
        return console.page(request, "login.html", sent=True, suite="")

    @app.get("/entrer/{token}")
    async def confirm(request: Request, token: str) -> Response:
        claim = console.links.read(token)
        if claim is None or await console.spent.handled([claim.nonce]):
            return console.page(request, "login.html", expired=True, status=410, suite="")
        return console.page(request, "confirm.html", token=token, who=vigie.engine.ctx.name(claim.person_id))

    @app.post("/entrer/{token}")
    async def enter(request: Request, token: str) -> Response:
        claim = console.links.read(token)
        if (
            claim is None
            or await console.spent.handled([claim.nonce])
            or vigie.config.person(claim.person_id) is None
        ):
            return console.page(request, "login.html", expired=True, status=410, suite="")
        now = vigie.clock.now()
        await console.spent.mark(claim.nonce, now)
        request.session.clear()
        request.session.update({"person": claim.person_id, "until": now.timestamp() + SESSION_TTL})
        log.info("console_signed_in", person=claim.person_id)
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse(f"{PREFIX}/login", status_code=303)

    @app.get("/")
    async def home(request: Request) -> Response:
        return console.page(request, "home.html", **await console.board())

    @app.get("/fragments/board")
    async def board(request: Request) -> Response:
        return console.page(request, "_board.html", **await console.board())

    @app.get("/live")
    async def live(request: Request) -> Response:

        async def changes() -> AsyncIterator[dict[str, str]]:
            seen = await console.fingerprint()
            while not await request.is_disconnected():
                await asyncio.sleep(LIVE_POLL)
                try:
                    now = await console.fingerprint()
                except Exception:  # the store blinked: look again at the next round
                    continue
                if now != seen:
                    seen = now
                    yield {"event": "changed", "data": "1"}

        return EventSourceResponse(changes(), ping=15)

    @app.get("/signaux/{reference}")
    async def signal_page(request: Request, reference: str) -> Response:
        found = await get_signal(vigie.db, reference)
        if found is None:
            return console.page(request, "message.html", status=404, text=w("not_found", reference=reference))
        signal, events = found
        views = await ladder_views(vigie.db, vigie.engine.ctx, [signal])
        return console.page(
            request,
            "signal.html",
            signal=signal,
            events=events,
            view=views.get(signal.id) if signal.id is not None else None,
            summary=lambda v: v.summary(vigie.engine.ctx) if v else "",
        )

    @app.post("/signaux")
    async def raise_signal(
        request: Request, title: str = Form(""), body: str = Form(""), severity: str = Form("")
    ) -> Response:
        person: str = request.state.person
        if not title.strip():
            return console.page(request, "message.html", status=422, text=w("raise.title") + " ?")
        chosen = Severity(severity) if severity in {s.value for s in Severity} else None
        receipt = await vigie.inbound.raise_signal(
            SignalDraft(
                title=title.strip()[:300],
                body=body.strip() or None,
                severity=chosen,
                origin=Origin(OriginChannel.WEB, address=person, person_id=person),
                reporter=vigie.engine.ctx.name(person),
            )
        )
        return RedirectResponse(f"{PREFIX}/signaux/{receipt.reference}", status_code=303)

    @app.post("/signaux/{reference}/{action}")
    async def act(request: Request, reference: str, action: str, note: str = Form("")) -> Response:
        person: str = request.state.person
        inbound = vigie.inbound
        if action == "ack":
            reply = await inbound.respond(person, reference, Answer.ACK, "web")
        elif action == "escalate":
            reply = await inbound.respond(person, reference, Answer.ESCALATE, "web")
        elif action == "close":
            reply = await inbound.close(person, reference, note.strip() or None, "web")
        else:
            return console.page(request, "message.html", status=404, text=action)
        if request.headers.get("hx-request"):
            return console.said(request, reply)
        return console.page(request, "message.html", status=answer_status(reply), text=reply.text)

    # --- crises -----------------------------------------------------------------------

    @app.get("/crises")
    async def crises(request: Request) -> Response:
        async with vigie.db.read_session() as session:
            found = await crisis_store.list_crises(session, None, 100)
        return console.page(request, "crises.html", crises=found)

    @app.get("/crises/{reference}")
    async def crisis_page(request: Request, reference: str) -> Response:
        data = await console.crisis(reference)
        if data is None:
            return console.page(
                request, "message.html", status=404, text=w("crisis.not_found", reference=reference)
            )
        return console.page(request, "crisis.html", **data)

    @app.get("/fragments/crises/{reference}")
    async def crisis_fragment(request: Request, reference: str) -> Response:
        data = await console.crisis(reference)
        if data is None:
            return console.page(
                request, "_said.html", status=404, text=w("crisis.not_found", reference=reference), ok=False
            )
        return console.page(request, "_crisis.html", **data)

    async def command(request: Request, person: str, name: str, args: str) -> Response:
        reply = await vigie.inbound.crisis_command(name, args, Speaker(person, "web"))
        return console.said(request, reply)

    @app.post("/crises/{reference}/entrees")
    async def add_entry(
        request: Request,
        reference: str,
        kind: str = Form("info"),
        text: str = Form(""),
        owner: str = Form(""),
        due: str = Form(""),
    ) -> Response:
        person: str = request.state.person
        if kind not in ("info", "decision", "action", "demande"):
            return console.page(request, "_said.html", status=422, text=kind, ok=False)
        said = text.strip()
        if owner.strip():
            said = f"{said} @{owner.strip()}" if kind == "action" else f"@{owner.strip()} {said}"
        if due.strip() and kind == "action":
            said = f"{said} échéance {due.strip()}"
        reply = await vigie.inbound.crisis_command(kind, f"{reference} {said}", Speaker(person, "web"))
        if reply.ok:  # what is written here is posted in the rooms, as an SMS to the cell is
            await vigie.cell.echo(reference, f"Console — {reply.text}")
            vigie.dispatcher.poke()
        return console.said(request, reply)

    @app.post("/crises/{reference}/role")
    async def assign(
        request: Request, reference: str, function: str = Form(""), holder: str = Form("")
    ) -> Response:
        person: str = request.state.person
        return await command(request, person, "role", f"{reference} {function} {holder}")

    @app.post("/crises/{reference}/point")
    async def amend_point(
        request: Request, reference: str, section: str = Form(""), text: str = Form("")
    ) -> Response:
        person: str = request.state.person
        if section not in point_draft.SECTIONS or not text.strip():
            return console.page(request, "_said.html", status=422, text=w("point.usage"), ok=False)
        return await command(request, person, "point", f"{reference} {section} {text.strip()}")

    @app.post("/crises/{reference}/point/valider")
    async def validate_point(request: Request, reference: str) -> Response:
        person: str = request.state.person
        return await command(request, person, "point", f"{reference} valider")

    @app.post("/crises/{reference}/verifier")
    async def verify(request: Request, reference: str) -> Response:
        _, verdict = await vigie.cell.verify(reference)
        text = (
            w("verify.ok", count=verdict.count)
            if verdict.ok
            else w("verify.broken", problem=verdict.problem or "?")
        )
        return console.page(request, "_said.html", text=text, ok=verdict.ok)

    @app.get("/crises/{reference}/export.{fmt}")
    async def export(request: Request, reference: str, fmt: str) -> Response:
        names = {p.id: p.name for p in vigie.config.people}
        async with vigie.db.read_session() as session:
            record = await load_record(session, reference, names, vigie.engine.ctx.zone)
        if record is None or fmt not in ("pdf", "csv"):
            return console.page(
                request, "message.html", status=404, text=w("crisis.not_found", reference=reference)
            )
        data, media = (
            (to_pdf(record, vigie.clock.now()), "application/pdf")
            if fmt == "pdf"
            else (to_csv(record), "text/csv; charset=utf-8")
        )
        name = f"{record.crisis.reference}.{fmt}"
        return Response(
            data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    # --- astreinte and exercices ------------------------------------------------------------

    @app.get("/astreinte")
    async def rota(request: Request, feed: str = "") -> Response:
        return console.page(request, "astreinte.html", **await console.rota(), feed=feed)

    @app.post("/astreinte/calendrier")
    async def my_feed(request: Request, roster: str = Form("")) -> Response:
        person: str = request.state.person
        if vigie.feeds is None:
            return console.page(request, "message.html", status=409, text=w("feed.off"))
        try:
            issued = await create_feed(
                vigie.db, vigie.engine.ctx, vigie.feeds, person, roster or None, person, vigie.clock.now()
            )
        except FeedError as exc:
            return console.page(request, "message.html", status=409, text=exc.message)
        public = vigie.config.desk.public_url or str(request.base_url).rstrip("/")
        return console.page(request, "astreinte.html", **await console.rota(), feed=issued.url(public))

    @app.get("/exercices")
    async def drills(request: Request) -> Response:
        done = await vigie.drills.last(20)
        return console.page(
            request,
            "exercices.html",
            coming=await vigie.drills.coming(),
            done=[(d, drill_report.text(vigie.engine.ctx, d)) for d in done],
        )

    @app.get("/exercices/tendance.png")
    async def drill_chart(request: Request) -> Response:
        done = await vigie.drills.last(50)
        return Response(
            await asyncio.to_thread(drill_report.chart_png, vigie.engine.ctx, done), media_type="image/png"
        )

    https = (vigie.config.desk.public_url or "").startswith("https://")
    sessions = SessionMiddleware(
        app,
        secret_key=secret,
        session_cookie="vigie_console",
        max_age=SESSION_TTL,
        same_site="lax",
        https_only=https,
    )
    return asgi_csrf(sessions, signing_secret=secret, cookie_name="vigie_csrf", always_set_cookie=True)
