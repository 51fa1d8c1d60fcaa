"""A local Twilio REST API (Messages) and helpers that call Vigie's webhooks as Twilio does.

The real twilio library talks to it (``client.api.base_url``); answers follow the 2010-04-01
OpenAPI description in ../shared/specs (checked on every call), and webhook calls are signed
with the account's auth token exactly as Twilio signs them (RequestValidator).
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cache
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.fakes.specs import SPECS


@cache
def message_fields() -> set[str]:
    spec = json.loads((SPECS / "twilio" / "api-v2010.json").read_text(encoding="utf-8"))
    return set(spec["components"]["schemas"]["api.v2010.account.message"]["properties"])


@dataclass
class TwilioError:
    status: int
    code: int
    message: str

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    sent: list[dict[str, Any]] = field(default_factory=list)  # messages accepted (201)
    requests: list[dict[str, Any]] = field(default_factory=list)  # every create request
    failures: list[TwilioError] = field(default_factory=list)  # answered in turn, then success

    def __post_init__(self) -> None:
        self._sids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._messages, methods=["POST"]),
            ]
        )

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    async def _messages(self, request: Request) -> JSONResponse:
        if request.path_params["sid"] != self.account_sid or not self._authorised(request):
            return JSONResponse(TwilioError(401, 20003, "Authenticate").body(), status_code=401)
        form = dict(await request.form())
        self.requests.append(form)
        if "To" not in form or not (form.get("Body") or form.get("MediaUrl")):
            return JSONResponse(TwilioError(400, 21602, "Message body is required.").body(), status_code=400)
        if self.failures:
            error = self.failures.pop(0)
            return JSONResponse(error.body(), status_code=error.status)
        now = format_datetime(datetime.now(UTC))
        sid = f"SM{next(self._sids):032x}"
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "EUR",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        unknown = set(message) - message_fields()
        assert not unknown, f"fake Messages.json answered fields Twilio never gives: {unknown}"
        self.sent.append({**message, "StatusCallback": form.get("StatusCallback")})
        return JSONResponse(message, status_code=201)

    def to(self, number: str) -> list[str]:
        return [m["body"] for m in self.sent if m["to"] == number]

    # --- calling Vigie as Twilio does -----------------------------------------------------

    async def _signed_post(
        self, url: str, params: dict[str, str], signature: str | None = None
    ) -> httpx.Response:
        signature = signature or RequestValidator(self.auth_token).compute_signature(url, params)
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})

    async def inbound_sms(
        self, url: str, from_: str, to: str, body: str, signature: str | None = None
    ) -> httpx.Response:
        params = {
            "MessageSid": f"SMin{next(self._sids):030x}",
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        return await self._signed_post(url, params, signature)

    async def status(self, sid: str, status: str, error_code: str | None = None) -> httpx.Response:
        message = next(m for m in self.sent if m["sid"] == sid)
        params = {
            "MessageSid": sid,
            "MessageStatus": status,
            "AccountSid": self.account_sid,
            "To": message["to"],
            "From": message["from"] or "",
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            params["ErrorCode"] = error_code
        return await self._signed_post(message["StatusCallback"], params)
