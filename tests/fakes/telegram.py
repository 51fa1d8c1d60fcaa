"""A local Telegram Bot API server: the real routes, parameters, envelopes and errors.

Vigie's real python-telegram-bot talks to it over a socket. Tests act as Telegram users
(``send_text``, ``reply``, ``press``) and read what each chat shows (``chat``), including edits.
Every result it returns is checked against the Bot API description in ../shared/specs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.specs import telegram_problems, telegram_spec

BOT_ID = 7000000001


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


@dataclass
class Call:
    method: str
    params: dict[str, Any]


@dataclass
class FakeTelegram:
    token: str
    calls: list[Call] = field(default_factory=list)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    # method -> errors to answer, one per call, before succeeding again
    failures: dict[str, list[ApiError]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    # Seconds each sendMessage takes (a slow Bot API), to catch a message in flight.
    send_delay: float = 0.0

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._new = asyncio.Condition()
        self.bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "Vigie", "username": "vigie_pfr_bot"}
        # Forum supergroups: chat id -> title; their topics: (chat id, thread id) -> name.
        self.groups: dict[int, str] = {}
        self.topics: dict[tuple[int, int], dict[str, Any]] = {}
        self.pinned: list[tuple[int, int]] = []
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self._handle, methods=["GET", "POST"])])

    # --- the API --------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        kind = request.headers.get("content-type", "")
        if "json" in kind:
            params.update(await request.json())
        elif "form" in kind:
            params.update(dict(await request.form()))
        for key, value in list(params.items()):
            # Form values are strings; nested objects come as JSON text.
            if isinstance(value, str) and value[:1] in "[{" and key != "text":
                params[key] = json.loads(value)
            elif (
                isinstance(value, str)
                and value.lstrip("-").isdigit()
                and key not in ("text", "callback_data")
            ):
                params[key] = int(value)
        return params

    async def _handle(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        method = request.path_params["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params))
        spec = telegram_spec()["methods"].get(method)
        handler = getattr(self, f"_m_{method}", None)
        if spec is None or handler is None:
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        try:
            missing = [f["name"] for f in spec.get("fields", []) if f["required"] and f["name"] not in params]
            if missing:
                raise ApiError(400, f"Bad Request: {missing[0]} is empty")
            if self.failures.get(method):
                raise self.failures[method].pop(0)
            result = await handler(params)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.code)
        returns = spec["returns"][0]
        problems = telegram_problems(returns, result)
        assert not problems, f"fake {method} answered a shape the Bot API never gives: {problems}"
        return JSONResponse({"ok": True, "result": result})

    async def _m_getMe(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getUpdates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset, timeout = int(p.get("offset", 0)), float(p.get("timeout", 0))
        limit = int(p.get("limit", 100))
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        async with self._new:
            while not self._updates and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._new.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
        return self._updates[:limit]

    async def _m_setWebhook(self, p: dict[str, Any]) -> bool:
        self.webhook = {"url": p["url"], "secret_token": p.get("secret_token")}
        return True

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _m_getWebhookInfo(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self.groups:
            return {"id": chat_id, "type": "supergroup", "title": self.groups[chat_id], "is_forum": True}
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        user = self.users.get(chat_id)
        if user is None:
            raise ApiError(400, "Bad Request: chat not found")
        return {"id": chat_id, "type": "private", "first_name": user["first_name"]}

    def _store(self, chat_id: int, text: str, sender: dict[str, Any], **extra: Any) -> dict[str, Any]:
        ids = self._message_ids.setdefault(chat_id, itertools.count(1))
        message = {
            "message_id": next(ids),
            "from": sender,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
            **extra,
        }
        self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.send_delay:
            await asyncio.sleep(self.send_delay)
        if not str(p["text"]).strip():
            raise ApiError(400, "Bad Request: message text is empty")
        extra: dict[str, Any] = {}
        if "reply_markup" in p:
            extra["reply_markup"] = p["reply_markup"]
        reply = p.get("reply_parameters") or {}
        if reply.get("message_id") and (int(p["chat_id"]), reply["message_id"]) in self.messages:
            extra["reply_to_message"] = dict(self.messages[(int(p["chat_id"]), reply["message_id"])])
        if p.get("message_thread_id"):
            thread = int(p["message_thread_id"])
            if (int(p["chat_id"]), thread) not in self.topics:
                raise ApiError(400, "Bad Request: message thread not found")
            extra.update(message_thread_id=thread, is_topic_message=True)
        return self._store(int(p["chat_id"]), str(p["text"]), self.bot_user, **extra)

    def _own(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((int(p["chat_id"]), int(p["message_id"])))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    async def _m_editMessageText(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._own(p)
        if message["text"] == p["text"] and message.get("reply_markup") == p.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"] = str(p["text"])
        message["edit_date"] = int(time.time())
        if "reply_markup" in p:
            message["reply_markup"] = p["reply_markup"]
        else:
            message.pop("reply_markup", None)
        return message

    async def _m_editMessageReplyMarkup(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._own(p)
        message["reply_markup"] = p.get("reply_markup") or {"inline_keyboard": []}
        return message

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> bool:
        return True

    async def _m_sendChatAction(self, p: dict[str, Any]) -> bool:
        self._chat(int(p["chat_id"]))
        return True

    async def _m_createForumTopic(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = int(p["chat_id"])
        if chat not in self.groups:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        thread = 100 + len(self.topics)
        topic = {"message_thread_id": thread, "name": str(p["name"])[:128], "icon_color": 7322096}
        self.topics[(chat, thread)] = {**topic, "closed": False}
        return topic

    async def _m_closeForumTopic(self, p: dict[str, Any]) -> bool:
        self.topics[(int(p["chat_id"]), int(p["message_thread_id"]))]["closed"] = True
        return True

    async def _m_pinChatMessage(self, p: dict[str, Any]) -> bool:
        self._own(p)
        self.pinned.append((int(p["chat_id"]), int(p["message_id"])))
        return True

    # --- acting as Telegram users ---------------------------------------------------------

    def user(self, user_id: int, first_name: str) -> dict[str, Any]:
        """A person who has started a private chat with the bot."""
        self.users[user_id] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "fr",
        }
        return self.users[user_id]

    async def _push(self, update: dict[str, Any]) -> None:
        problems = telegram_problems("Update", update)
        assert not problems, problems
        if self.webhook is not None:
            headers = {}
            if self.webhook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
            async with httpx.AsyncClient() as client:
                answer = await client.post(self.webhook["url"], json=update, headers=headers)
                answer.raise_for_status()
            return
        async with self._new:
            self._updates.append(update)
            self._new.notify_all()

    async def send_text(
        self, user_id: int, text: str, reply_to: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        user = self.users[user_id]
        extra: dict[str, Any] = {}
        if text.startswith("/"):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if reply_to is not None:
            extra["reply_to_message"] = dict(reply_to)
        message = self._store(user_id, text, user, **extra)
        await self._push({"update_id": next(self._update_ids), "message": message})
        return message

    async def press(self, user_id: int, message: dict[str, Any], data: str) -> None:
        query = {
            "id": str(next(self._callback_ids)),
            "from": self.users[user_id],
            "message": dict(message),
            "chat_instance": f"ci{user_id}",
            "data": data,
        }
        await self._push({"update_id": next(self._update_ids), "callback_query": query})

    def forum(self, chat_id: int, title: str) -> None:
        """A forum supergroup the bot administers (it may create topics and pin)."""
        self.groups[chat_id] = title

    def topic_named(self, chat_id: int, prefix: str) -> int | None:
        return next(
            (t for (c, t), v in self.topics.items() if c == chat_id and v["name"].startswith(prefix)), None
        )

    def in_topic(self, chat_id: int, thread: int) -> list[dict[str, Any]]:
        """What the bot posted in a forum topic, oldest first."""
        return [
            m
            for (c, _), m in sorted(self.messages.items())
            if c == chat_id and m.get("message_thread_id") == thread and m["from"]["id"] == BOT_ID
        ]

    async def post_in_topic(self, user_id: int, chat_id: int, thread: int, text: str) -> dict[str, Any]:
        """A member writes in a forum topic (the bot, an administrator, receives every message)."""
        extra: dict[str, Any] = {"message_thread_id": thread, "is_topic_message": True}
        if text.startswith("/"):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        message = self._store(chat_id, text, self.users[user_id], **extra)
        await self._push({"update_id": next(self._update_ids), "message": message})
        return message

    async def edit_in_topic(self, message: dict[str, Any], text: str) -> None:
        edited = {**message, "text": text, "edit_date": int(time.time())}
        self.messages[(message["chat"]["id"], message["message_id"])] = edited
        await self._push({"update_id": next(self._update_ids), "edited_message": edited})

    async def deliver_again(self, message: dict[str, Any]) -> None:
        """The same update twice (Telegram redelivers when it did not get its answer)."""
        await self._push({"update_id": next(self._update_ids), "message": message})

    def chat(self, chat_id: int) -> list[dict[str, Any]]:
        """What the chat shows now, oldest first (edits applied)."""
        return [m for (cid, _), m in sorted(self.messages.items()) if cid == chat_id]

    def from_bot(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.chat(chat_id) if m["from"]["id"] == BOT_ID]

    def answered_callbacks(self) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == "answerCallbackQuery"]

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]
