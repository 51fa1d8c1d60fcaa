"""A local Twilio REST API (Messages) and helpers that call Vigie's webhooks as Twilio does.

The real twilio library talks to it (``client.api.base_url``); answers follow the 2010-04-01
OpenAPI description in ../shared/specs (checked on every call), and webhook calls are signed
with the account's auth token exactly as Twilio signs them (RequestValidator).
"""

from __future__ import annotations

import base64
import itertools
import json
import time
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
def _schemas() -> dict[str, Any]:
    return json.loads((SPECS / "twilio" / "api-v2010.json").read_text(encoding="utf-8"))["components"][
        "schemas"
    ]


def message_fields() -> set[str]:
    return set(_schemas()["api.v2010.account.message"]["properties"])


def call_fields() -> set[str]:
    return set(_schemas()["api.v2010.account.call"]["properties"])


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
    invalid: set[str] = field(default_factory=set)  # numbers Twilio refuses (21211) for SMS and calls
    calls: list[dict[str, Any]] = field(default_factory=list)  # calls placed (201)

    def __post_init__(self) -> None:
        self._sids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._messages, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Calls.json", self._calls, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}.json", self._account, methods=["GET"]),
            ]
        )
        self.account_fetches = 0

    def account_fields(self) -> set[str]:
        return set(_schemas()["api.v2010.account"]["properties"])

    async def _account(self, request: Request) -> JSONResponse:
        """Fetch an Account: what Vigie calls at start to check the credentials."""
        if request.path_params["sid"] != self.account_sid or not self._authorised(request):
            return JSONResponse(TwilioError(401, 20003, "Authenticate").body(), status_code=401)
        self.account_fetches += 1
        now = format_datetime(datetime.now(UTC))
        account = {
            "auth_token": self.auth_token,
            "date_created": now,
            "date_updated": now,
            "friendly_name": "PFR",
            "owner_account_sid": self.account_sid,
            "sid": self.account_sid,
            "status": "active",
            "subresource_uris": {},
            "type": "Full",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}.json",
        }
        assert not set(account) - self.account_fields(), "fake Account answered unknown fields"
        return JSONResponse(account)

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
        if form["To"] in self.invalid:
            error = TwilioError(400, 21211, f"The 'To' number {form['To']} is not a valid phone number.")
            return JSONResponse(error.body(), status_code=400)
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
        # When it reached us (the benchmark measures the pace of diffusion SMS with it).
        self.sent.append(
            {**message, "StatusCallback": form.get("StatusCallback"), "received_at": time.time()}
        )
        return JSONResponse(message, status_code=201)

    async def _calls(self, request: Request) -> JSONResponse:
        if request.path_params["sid"] != self.account_sid or not self._authorised(request):
            return JSONResponse(TwilioError(401, 20003, "Authenticate").body(), status_code=401)
        form = dict(await request.form())
        self.requests.append(form)
        if "To" not in form or not (form.get("Url") or form.get("Twiml")):
            return JSONResponse(TwilioError(400, 21205, "Url parameter is required.").body(), status_code=400)
        if form["To"] in self.invalid:
            error = TwilioError(400, 21211, f"The 'To' number {form['To']} is not a valid phone number.")
            return JSONResponse(error.body(), status_code=400)
        if self.failures:
            error = self.failures.pop(0)
            return JSONResponse(error.body(), status_code=error.status)
        now = format_datetime(datetime.now(UTC))
        sid = f"CA{next(self._sids):032x}"
        call = {
            "account_sid": self.account_sid,
            "answered_by": None,
            "api_version": "2010-04-01",
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": form.get("From"),
            "from_formatted": form.get("From"),
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "EUR",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {},
            "to": form["To"],
            "to_formatted": form["To"],
            "trunk_sid": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
        }
        unknown = set(call) - call_fields()
        assert not unknown, f"fake Calls.json answered fields Twilio never gives: {unknown}"
        self.calls.append(
            {
                **call,
                "Url": form.get("Url"),
                "StatusCallback": form.get("StatusCallback"),
                "MachineDetection": form.get("MachineDetection"),
            }
        )
        return JSONResponse(call, status_code=201)

    def _call_params(self, call: dict[str, Any], **extra: str) -> dict[str, str]:
        return {
            "CallSid": call["sid"],
            "AccountSid": self.account_sid,
            "From": call["from"] or "",
            "To": call["to"],
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
            **extra,
        }

    async def answer(self, call: dict[str, Any], answered_by: str = "human") -> str:
        """The callee picks up: Twilio fetches the TwiML; returns it."""
        params = self._call_params(call, CallStatus="in-progress", AnsweredBy=answered_by)
        answer = await self._signed_post(call["Url"], params)
        answer.raise_for_status()
        return answer.text

    async def keypress(self, action_url: str, call: dict[str, Any], digits: str) -> str:
        """The callee presses keys during a <Gather>: Twilio posts them to its action URL."""
        params = self._call_params(call, CallStatus="in-progress", Digits=digits)
        answer = await self._signed_post(action_url, params)
        answer.raise_for_status()
        return answer.text

    async def call_status(self, call: dict[str, Any], status: str) -> httpx.Response:
        return await self._signed_post(call["StatusCallback"], self._call_params(call, CallStatus=status))

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
