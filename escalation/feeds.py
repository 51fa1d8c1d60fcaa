"""Per-person calendar feeds a calendar app can subscribe to: ``/ical/<id>-<signature>.ics``.

A calendar app cannot send a bearer header, so the address itself is the credential. It is
signed (HMAC-SHA256 with VIGIE_FEED_SECRET over the feed's id, person, roster and creation
time): a guessed or altered address is refused without a lookup that could tell it from a real
one, and a stolen database holds no usable address. Each feed reveals one roster, and is revoked
one by one (``revoked_at``) or all at once by changing the secret. Removing the person from the
directory, or from the roster, also ends it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from bot.clock import utc
from bot.db import Database
from bot.models import CalendarFeedRow
from escalation.context import PagingContext
from escalation.oncall import roster_ics
from escalation.overrides import refresh_overrides

FEED_SECRET_ENV = "VIGIE_FEED_SECRET"
_TOKEN = re.compile(r"^(?P<id>[1-9][0-9]{0,11})-(?P<sig>[A-Za-z0-9_-]{32})$")


class FeedError(Exception):
    """A feed that cannot be made or found, with the French reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class IssuedFeed:
    row: CalendarFeedRow
    token: str

    def url(self, base: str | None) -> str:
        path = f"/ical/{self.token}.ics"
        return f"{base.rstrip('/')}{path}" if base else path


class FeedSigner:
    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def token(self, row: CalendarFeedRow) -> str:
        message = f"vigie-feed:{row.id}:{row.person_id}:{row.roster_id}:{utc(row.created_at).isoformat()}"
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()[:24]
        return f"{row.id}-{base64.urlsafe_b64encode(digest).decode()}"

    def matches(self, row: CalendarFeedRow, token: str) -> bool:
        return hmac.compare_digest(self.token(row).encode(), token.encode())


def feed_id(token: str) -> int | None:
    """The feed's id in a well-formed token, else None (no lookup for garbage)."""
    found = _TOKEN.match(token)
    return int(found["id"]) if found else None


def _rosters_of(ctx: PagingContext, person_id: str) -> list[str]:
    return [r.id for r in ctx.config.rosters if person_id in r.members()]


async def create_feed(
    db: Database,
    ctx: PagingContext,
    signer: FeedSigner,
    person_id: str,
    roster_id: str | None,
    created_by: str,
    now: datetime,
) -> IssuedFeed:
    person = ctx.config.person(person_id)
    if person is None:
        raise FeedError("unknown_person", f"Personne inconnue « {person_id} » (absente de people).")
    theirs = _rosters_of(ctx, person_id)
    if roster_id is None:
        if len(theirs) != 1:
            listed = ", ".join(theirs) or "aucun"
            raise FeedError(
                "roster_needed",
                f"Précisez le tableau d'astreinte (--roster) : {person.name} figure dans : {listed}.",
            )
        roster_id = theirs[0]
    if ctx.config.roster(roster_id) is None:
        raise FeedError("unknown_roster", f"Tableau d'astreinte inconnu « {roster_id} ».")
    if roster_id not in theirs:
        raise FeedError(
            "not_a_member",
            f"{person.name} ne figure pas dans le tableau « {roster_id} » : pas de calendrier à lui donner.",
        )
    async with db.transaction() as session:
        row = CalendarFeedRow(person_id=person_id, roster_id=roster_id, created_at=now, created_by=created_by)
        session.add(row)
        await session.flush()
    return IssuedFeed(row, signer.token(row))


async def list_feeds(db: Database, person_id: str | None = None) -> list[CalendarFeedRow]:
    query = select(CalendarFeedRow).order_by(col(CalendarFeedRow.id))
    if person_id is not None:
        query = query.where(CalendarFeedRow.person_id == person_id)
    async with db.read_session() as session:
        return list((await session.exec(query)).all())


async def revoke_feed(db: Database, feed: int, now: datetime) -> tuple[CalendarFeedRow, bool]:
    """Revoke a feed; (its row, whether this call revoked it)."""
    async with db.transaction() as session:
        row = await session.get(CalendarFeedRow, feed)
        if row is None:
            raise FeedError("not_found", f"Aucun calendrier n°{feed}.")
        if row.revoked_at is not None:
            return row, False
        row.revoked_at = now
        session.add(row)
        return row, True


async def feed_calendar(
    db: Database, ctx: PagingContext, signer: FeedSigner, token: str, now: datetime, weeks: int = 8
) -> tuple[CalendarFeedRow, bytes] | None:
    """The feed's calendar, or None for anything that is not a live feed (one answer for all)."""
    feed = feed_id(token)
    if feed is None:
        return None
    async with db.read_session() as session:
        row = await session.get(CalendarFeedRow, feed)
    if row is None or not signer.matches(row, token) or row.revoked_at is not None:
        return None
    if row.roster_id not in _rosters_of(ctx, row.person_id):
        return None  # left the roster or the directory since
    await refresh_overrides(db, ctx, now)
    return row, roster_ics(ctx, row.roster_id, now, weeks)
