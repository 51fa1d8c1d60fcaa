"""Signing in to the duty console: a one-time, short-lived link sent on the person's own channels,
then a signed session cookie (Starlette's ``SessionMiddleware``, itsdangerous underneath).

The login answer never says whether an identifier exists; attempts are limited per identifier and
per address. A link is signed (``URLSafeTimedSerializer``) and holds a nonce that is spent on use,
so a forwarded or replayed link opens nothing. Opening the link only shows a button: mail
security scanners open links before people do.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import deque
from dataclasses import dataclass

import structlog
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bot.config import VigieConfig
from bot.config.types import to_e164

log = structlog.get_logger("vigie.console")

SECRET_ENV = "VIGIE_CONSOLE_SECRET"
LINK_TTL = 15 * 60  # seconds a sign-in link stays valid
SESSION_TTL = 12 * 3600  # a duty shift; then sign in again
ATTEMPTS = 5  # sign-in requests allowed per identifier, and per address, …
WINDOW = 15 * 60  # … within this many seconds


def console_secret() -> str:
    """The secret that signs links, sessions and CSRF tokens. Without ``VIGIE_CONSOLE_SECRET``
    (the demo), one made for this process: sessions then end when it stops."""
    value = os.environ.get(SECRET_ENV, "").strip()
    if value:
        return value
    log.warning("console_secret_ephemeral", hint=f"set {SECRET_ENV} to keep sessions across restarts")
    return secrets.token_urlsafe(32)


def find_person(config: VigieConfig, identifier: str) -> str | None:
    """The directory person an identifier names: their id, e-mail, phone or chat address."""
    wanted = identifier.strip()
    if not wanted:
        return None
    lowered = wanted.lower()
    phone = None
    try:
        phone = to_e164(wanted)
    except ValueError:
        pass
    for person in config.people:
        c = person.contacts
        if lowered in (person.id, str(c.email or "").lower(), str(c.matrix_id or "").lower()):
            return person.id
        if phone is not None and c.phone == phone:
            return person.id
    return None


@dataclass(frozen=True)
class LinkClaim:
    person_id: str
    nonce: str


class SignInLinks:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="vigie-console-sign-in")

    def make(self, person_id: str) -> tuple[str, str]:
        """A token for this person, and its nonce (spent when the link is used)."""
        nonce = secrets.token_urlsafe(12)
        return self._serializer.dumps({"p": person_id, "n": nonce}), nonce

    def read(self, token: str) -> LinkClaim | None:
        try:
            data = self._serializer.loads(token, max_age=LINK_TTL)
        except (SignatureExpired, BadSignature):
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("p"), str)
            or not isinstance(data.get("n"), str)
        ):
            return None
        return LinkClaim(data["p"], data["n"])


class Attempts:
    """A sliding window of sign-in requests per key (identifier, client address)."""

    def __init__(self, allowed: int = ATTEMPTS, window: float = WINDOW) -> None:
        self.allowed, self.window = allowed, window
        self._seen: dict[str, deque[float]] = {}

    def allow(self, *keys: str) -> bool:
        now = time.monotonic()
        queues = [self._seen.setdefault(k, deque()) for k in keys]
        for queue in queues:
            while queue and queue[0] <= now - self.window:
                queue.popleft()
        if any(len(q) >= self.allowed for q in queues):
            return False
        for queue in queues:
            queue.append(now)
        return True
