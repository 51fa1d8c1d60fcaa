"""One Twilio account shared by the SMS and voice channels: REST client and webhook signatures.

The REST client's aiohttp session needs the running event loop: it is opened in ``start()``
(by the first channel that starts) and closed when the last one stops.
"""

from __future__ import annotations

import aiohttp
import structlog
from fastapi import Request
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels import DeliveryOutcome, DeliveryResult, ProviderUnreachable
from bot.config import TwilioConfig
from bot.settings import env_secret as secret
from handlers.http_common import bounded

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
REQUEST_TIMEOUT = 30.0


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
        self.sid = secret(cfg.account_sid_env, "Twilio activé mais sans identifiant de compte")
        self.token = secret(cfg.auth_token_env, "Twilio activé mais sans jeton d'authentification")
        self.validator = RequestValidator(self.token)
        self.public = (public_url or "").rstrip("/")
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None
        self._users = 0

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("Twilio client used before start()")
        return self._client

    async def start(self) -> None:
        """Open the session (once for SMS and voice) and check the credentials."""
        self._users += 1
        if self._client is None:
            self._http = AsyncTwilioHttpClient(timeout=REQUEST_TIMEOUT)
            self._client = Client(self.sid, self.token, http_client=self._http)
            self._client.api.base_url = self.cfg.base_url.rstrip("/")  # read on every request
        try:
            await self._client.api.v2010.accounts(self.sid).fetch_async()
        except TwilioRestException as exc:
            if exc.status >= 500 or exc.status == 429:
                raise ProviderUnreachable(f"Twilio {exc.status} : {exc.msg}") from exc
            raise RuntimeError(f"Twilio refuse le compte ({exc.status} {exc.code}) : {exc.msg}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderUnreachable(f"Twilio injoignable : {type(exc).__name__}: {exc}") from exc

    async def verified(self, request: Request) -> dict[str, str] | None:
        """The form Twilio posted, if its signature matches the public URL it called (the body is
        bounded before anything is hashed; over the limit: 413)."""
        request = await bounded(request)
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = f"{self.public}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        if not self.validator.validate(url, form, request.headers.get("x-twilio-signature", "")):
            log.warning("twilio_signature_refused", path=request.url.path)
            return None
        return form

    async def stop(self) -> None:
        """Called by each channel that started (or tried to): the last one closes the session."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._http is not None:
            http, self._http, self._client = self._http, None, None
            await http.close()
