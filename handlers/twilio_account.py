"""One Twilio account shared by the SMS and voice channels: REST client and webhook signatures."""

from __future__ import annotations

import aiohttp
import structlog
from fastapi import Request
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels import DeliveryOutcome, DeliveryResult
from bot.config import TwilioConfig
from bot.settings import env_secret as secret

log = structlog.get_logger("vigie.twilio")

# Twilio errors that mean the number itself is wrong or refuses our messages.
BAD_NUMBER = {
    21211: "numéro invalide",
    21214: "numéro injoignable",
    21217: "numéro invalide",
    21408: "pays non autorisé",
    21610: "le destinataire a répondu STOP",
    21612: "numéro non joignable par SMS",
    21614: "ce numéro n'est pas un mobile",
}


def failure(exc: Exception, address: str | None) -> DeliveryResult:
    """What a failed Twilio call means for delivery: retry, or give up (and warn the desk)."""
    if isinstance(exc, TwilioRestException):
        detail = f"Twilio {exc.status} ({exc.code}) : {exc.msg}"
        if exc.status >= 500 or exc.status == 429:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=detail)
        warning = BAD_NUMBER.get(int(exc.code or 0))
        return DeliveryResult(
            DeliveryOutcome.PERMANENT,
            error=detail,
            desk_warning=f"{warning} ({address})" if warning else None,
        )
    return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"Twilio injoignable : {exc}")


# What the REST calls can raise: API errors, and the network.
TWILIO_ERRORS = (TwilioRestException, aiohttp.ClientError, TimeoutError, OSError)


class TwilioAccount:
    def __init__(self, cfg: TwilioConfig, public_url: str | None) -> None:
        self.cfg = cfg
        sid = secret(cfg.account_sid_env, "Twilio activé mais sans identifiant de compte")
        token = secret(cfg.auth_token_env, "Twilio activé mais sans jeton d'authentification")
        self.http = AsyncTwilioHttpClient()
        self.client = Client(sid, token, http_client=self.http)
        self.client.api.base_url = cfg.base_url.rstrip("/")  # read on every request
        self.validator = RequestValidator(token)
        self.public = (public_url or "").rstrip("/")
        self._closed = False

    async def verified(self, request: Request) -> dict[str, str] | None:
        """The form Twilio posted, if its signature matches the public URL it called."""
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = f"{self.public}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        if not self.validator.validate(url, form, request.headers.get("x-twilio-signature", "")):
            log.warning("twilio_signature_refused", path=request.url.path)
            return None
        return form

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.http.close()
