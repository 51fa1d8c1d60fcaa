"""A local Slack Web API, plus helpers that call Vigie as Slack does (signed requests).

The real slack-sdk/slack-bolt talk to it over a socket. Answers follow the OpenAPI
description in ../shared/specs (checked on every call).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import httpx
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes.specs import slack_problems, slack_required_params

BOT_USER, BOT_ID, TEAM = "UVIGIEBOT", "BVIGIE01", "T0PFR0001"


@dataclass
class FakeSlack:
    token: str
    signing_secret: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    deactivated: set[str] = field(default_factory=set)
    # method -> seconds of Retry-After to answer once (ratelimited)
    ratelimit: dict[str, int] = field(default_factory=dict)
    responses: list[dict[str, Any]] = field(default_factory=list)  # posted to response_url
    # method -> how many times to answer 500 before working again
    server_errors: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.pins: list[tuple[str, str]] = []
        self._ts = itertools.count(1)
        self.url = ""  # set once served, for response_url
        # Socket Mode: the app-level token, envelopes to push, acknowledgements received.
        self.app_token = "xapp-1-test"
        self.socket_connected = asyncio.Event()
        self.acks: list[dict[str, Any]] = []
        self._envelopes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._handle, methods=["GET", "POST"]),
                Route("/respond/{token}", self._respond, methods=["POST"]),
                WebSocketRoute("/link", self._socket),
            ]
        )

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        kind = request.headers.get("content-type", "")
        if "json" in kind:
            params.update(await request.json())
        elif "form" in kind:
            params.update(dict(await request.form()))
        for key in ("blocks", "attachments"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        if method == "apps.connections.open":
            # Socket Mode. Missing from the 2021 OpenAPI file; documented by Slack as
            # {"ok": true, "url": "wss://…"}, called with the app-level token.
            if request.headers.get("authorization") != f"Bearer {self.app_token}":
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            ws_url = self.url.replace("http://", "ws://") + "/link"
            return JSONResponse({"ok": True, "url": ws_url})
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self._answer(method, {"ok": False, "error": "invalid_auth"})
        if self.server_errors.get(method):
            self.server_errors[method] -= 1
            return JSONResponse({"ok": False, "error": "internal_error"}, status_code=500)
        if method in self.ratelimit:
            retry = self.ratelimit.pop(method)
            return JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": str(retry)}
            )
        missing = [p for p in slack_required_params(method) if p not in params]
        if missing:
            return self._answer(method, {"ok": False, "error": f"missing_argument:{missing[0]}"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._answer(method, {"ok": False, "error": "unknown_method"})
        return self._answer(method, handler(params))

    def _answer(self, method: str, body: dict[str, Any]) -> JSONResponse:
        problems = slack_problems(method, body)
        assert not problems, f"fake {method} answered a shape Slack never gives: {problems}"
        return JSONResponse(body)

    async def _respond(self, request: Request) -> JSONResponse:
        self.responses.append(await request.json())
        return JSONResponse({"ok": True})

    async def _socket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "connection_info": {"app_id": "AVIGIE"},
                "debug_info": {"host": "fake", "approximate_connection_time": 3600},
            }
        )
        self.socket_connected.set()

        async def push() -> None:
            while True:
                await websocket.send_json(await self._envelopes.get())

        pusher = asyncio.create_task(push())
        try:
            while True:
                self.acks.append(await websocket.receive_json())
        except WebSocketDisconnect:
            pass
        finally:
            pusher.cancel()

    def _slash_payload(
        self, user_id: str, command: str, text: str, channel: str | None = None
    ) -> dict[str, str]:
        """A slash command as Slack sends it, over HTTP (form fields) or Socket Mode (payload);
        typed in a DM with the app unless ``channel`` is given."""
        return {
            "token": "legacy",
            "team_id": TEAM,
            "channel_id": channel or "D" + user_id[1:],
            "user_id": user_id,
            "user_name": self.users.get(user_id, {}).get("name", "x"),
            "command": command,
            "text": text,
            "response_url": f"{self.url}/respond/{next(self._ts)}",
            "trigger_id": f"trig{time.time_ns()}",
            "api_app_id": "AVIGIE",
        }

    async def socket_slash(self, user_id: str, command: str, text: str = "") -> str:
        """Deliver a slash command through Socket Mode; returns the envelope id to await."""
        envelope_id = f"env-{time.time_ns()}"
        payload = self._slash_payload(user_id, command, text)
        await self._envelopes.put(
            {
                "envelope_id": envelope_id,
                "type": "slash_commands",
                "payload": payload,
                "accepts_response_payload": True,
            }
        )
        return envelope_id

    # --- Web API methods ----------------------------------------------------------

    def _m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://pfr.slack.com/",
            "team": "PFR",
            "user": "vigie",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
        }

    def _m_conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        user = str(p.get("users", "")).split(",")[0]
        if user in self.deactivated:
            return {"ok": False, "error": "user_disabled"}
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + user[1:]}}

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p["channel"])
        if channel.startswith("D") and "U" + channel[1:] in self.deactivated:
            return {"ok": False, "error": "account_inactive"}
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"type": "message", "text": p.get("text", ""), "ts": ts, "bot_id": BOT_ID, "user": BOT_USER}
        if p.get("blocks"):
            message["blocks"] = p["blocks"]
        if p.get("thread_ts"):
            message["thread_ts"] = p["thread_ts"]
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (str(p["channel"]), str(p["ts"]))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        message = self.messages[key]
        message["text"] = p.get("text", message["text"])
        message["blocks"] = p.get("blocks", [])
        message["edited"] = {"user": BOT_USER, "ts": f"{int(time.time())}.000000"}
        shown = {k: v for k, v in message.items() if k in ("text", "user", "bot_id", "type", "attachments")}
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message["text"], "message": shown}

    def _m_conversations_create(self, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p.get("name", ""))
        if any(c.get("name") == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        if not name or len(name) > 80 or name != name.lower() or any(ch in name for ch in " .,éèàç"):
            return {"ok": False, "error": "invalid_name_specials"}
        channel = {
            "id": f"C{len(self.channels) + 1:08d}",
            "name": name,
            "is_channel": True,
            "created": int(time.time()),
            "creator": BOT_USER,
            "members": [BOT_USER],
            "topic": {"value": "", "creator": "", "last_set": 0},
        }
        self.channels[channel["id"]] = channel
        return {"ok": True, "channel": channel}

    def _m_conversations_invite(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(p.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        for user in str(p.get("users", "")).split(","):
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
            if user not in channel["members"]:
                channel["members"].append(user)
        return {"ok": True, "channel": channel}

    def _m_conversations_setTopic(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(p.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        channel["topic"] = {
            "value": str(p.get("topic", "")),
            "creator": BOT_USER,
            "last_set": int(time.time()),
        }
        return {"ok": True, "channel": channel}

    def _m_pins_add(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (str(p.get("channel")), str(p.get("timestamp")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.pins.append(key)
        return {"ok": True}

    def _m_conversations_archive(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(p.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        channel["is_archived"] = True
        return {"ok": True}

    def _m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p["channel"]), str(p["ts"])
        thread = [
            m
            for (c, t), m in sorted(self.messages.items())
            if c == channel and (t == ts or m.get("thread_ts") == ts)
        ]
        return {"ok": True, "messages": thread, "has_more": False}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_users_lookupByEmail(self, p: dict[str, Any]) -> dict[str, Any]:
        for user in self.users.values():
            if user.get("profile", {}).get("email") == p["email"]:
                return {"ok": True, "user": user}
        return {"ok": False, "error": "users_not_found"}

    # --- people and what they see ---------------------------------------------------

    def user(self, user_id: str, name: str, email: str | None = None) -> None:
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "profile": {"email": email or f"{name}@example.org"},
        }

    def dm(self, user_id: str) -> list[dict[str, Any]]:
        channel = "D" + user_id[1:]
        return [m for (c, _), m in sorted(self.messages.items(), key=lambda kv: kv[0][1]) if c == channel]

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for block in message.get("blocks", []):
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                out.append((element["text"]["text"], element["action_id"]))
        return out

    # --- calling Vigie as Slack does ------------------------------------------------------

    def sign(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(timestamp=ts, body=body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}

    async def _post(
        self, url: str, body: str, content_type: str, headers: dict[str, str] | None
    ) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(
                url,
                content=body.encode(),
                headers={"Content-Type": content_type, **(headers or self.sign(body))},
            )

    async def slash(
        self,
        url: str,
        user_id: str,
        command: str,
        text: str = "",
        headers: dict[str, str] | None = None,
        channel: str | None = None,
    ) -> httpx.Response:
        form = self._slash_payload(user_id, command, text, channel)
        return await self._post(
            url, urllib.parse.urlencode(form), "application/x-www-form-urlencoded", headers
        )

    def _press_payload(
        self, user_id: str, message: dict[str, Any], action_id: str, channel: str | None = None
    ) -> dict[str, Any]:
        element = next(
            e
            for b in message["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action_id
        )
        where = channel or "D" + user_id[1:]  # a DM unless pressed in a channel
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user_id},
            "api_app_id": "AVIGIE",
            "trigger_id": f"trig{time.time_ns()}",
            "response_url": f"{self.url}/respond/{next(self._ts)}",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": where},
            "channel": {"id": where},
            "message": message,
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "page",
                    "value": element["value"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        return payload

    async def press(
        self, url: str, user_id: str, message: dict[str, Any], action_id: str, channel: str | None = None
    ) -> httpx.Response:
        payload = self._press_payload(user_id, message, action_id, channel)
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        return await self._post(url, body, "application/x-www-form-urlencoded", None)

    def _dm_envelope(self, user_id: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": "message",
            "channel_type": "im",
            "channel": "D" + user_id[1:],
            "user": user_id,
            "text": text,
            "ts": f"{time.time():.6f}",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        envelope = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "AVIGIE",
            "type": "event_callback",
            "event_id": f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
        return envelope

    async def dm_event(
        self, url: str, user_id: str, text: str, thread_ts: str | None = None
    ) -> httpx.Response:
        envelope = self._dm_envelope(user_id, text, thread_ts)
        return await self._post(url, json.dumps(envelope), "application/json", None)

    def in_channel(self, channel: str) -> list[dict[str, Any]]:
        """What Vigie posted in a channel, oldest first."""
        return [m for (c, _), m in sorted(self.messages.items()) if c == channel and m.get("bot_id")]

    def channel_named(self, prefix: str) -> dict[str, Any] | None:
        return next((c for c in self.channels.values() if c["name"].startswith(prefix)), None)

    def _channel_envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "AVIGIE",
            "type": "event_callback",
            "event_id": f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }

    async def channel_message(
        self,
        url: str,
        user_id: str,
        channel: str,
        text: str,
        *,
        files: list[dict[str, Any]] | None = None,
        retries: int = 0,
    ) -> tuple[str, list[httpx.Response]]:
        """A person writes in a channel; Slack delivers the event, then ``retries`` more times
        (``X-Slack-Retry-Num``), as it does when it thinks a delivery was lost."""
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        event: dict[str, Any] = {
            "type": "message",
            "channel_type": "channel",
            "channel": channel,
            "user": user_id,
            "text": text,
            "ts": ts,
        }
        if files:
            event["subtype"] = "file_share"
            event["files"] = files
        self.messages[(channel, ts)] = dict(event)
        body = json.dumps(self._channel_envelope(event))
        answers = []
        for attempt in range(retries + 1):
            extra = (
                {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"} if attempt else {}
            )
            answers.append(await self._post(url, body, "application/json", {**self.sign(body), **extra}))
        return ts, answers

    async def channel_edit(self, url: str, user_id: str, channel: str, ts: str, text: str) -> httpx.Response:
        before = dict(self.messages[(channel, ts)])
        edited = {**before, "text": text, "edited": {"user": user_id, "ts": f"{time.time():.6f}"}}
        self.messages[(channel, ts)] = edited
        event = {
            "type": "message",
            "subtype": "message_changed",
            "channel_type": "channel",
            "channel": channel,
            "hidden": True,
            "ts": f"{time.time():.6f}",
            "message": edited,
            "previous_message": before,
        }
        return await self._post(url, json.dumps(self._channel_envelope(event)), "application/json", None)

    async def channel_delete(self, url: str, channel: str, ts: str) -> httpx.Response:
        before = self.messages.pop((channel, ts))
        event = {
            "type": "message",
            "subtype": "message_deleted",
            "channel_type": "channel",
            "channel": channel,
            "hidden": True,
            "ts": f"{time.time():.6f}",
            "deleted_ts": ts,
            "previous_message": before,
        }
        return await self._post(url, json.dumps(self._channel_envelope(event)), "application/json", None)

    # --- the same through Socket Mode -----------------------------------------------------

    async def _socket_push(self, kind: str, payload: dict[str, Any]) -> str:
        envelope_id = f"env-{time.time_ns()}"
        await self._envelopes.put(
            {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": False}
        )
        return envelope_id

    async def socket_press(self, user_id: str, message: dict[str, Any], action_id: str) -> str:
        return await self._socket_push("interactive", self._press_payload(user_id, message, action_id))

    async def socket_dm(self, user_id: str, text: str) -> str:
        return await self._socket_push("events_api", self._dm_envelope(user_id, text))
