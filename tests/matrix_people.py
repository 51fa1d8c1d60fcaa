"""People on Matrix, for the device scripts: each has a matrix-nio client of their own that syncs
with the real homeserver, accepts the rooms it is invited to, decrypts what it can, and keeps
what it saw, so a test reads like someone's Element screen."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    Event,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessage,
    RoomSendResponse,
    SyncResponse,
)

from tests.matrix_homeserver import Homeserver, MatrixUser

_numbers = itertools.count(1)


def unique(localpart: str) -> str:
    """A fresh account name: the homeserver lives for the whole session, rooms and all."""
    return f"{localpart}-{next(_numbers)}-{uuid.uuid4().hex[:4]}"


@dataclass
class Seen:
    room_id: str
    event: Event

    @property
    def content(self) -> dict[str, Any]:
        return dict(self.event.source.get("content") or {})

    @property
    def body(self) -> str:
        return str(self.content.get("body", ""))

    @property
    def event_id(self) -> str:
        return self.event.event_id


class MatrixPerson:
    def __init__(
        self, server: Homeserver, user: MatrixUser, store: Path, *, encryption: bool = False
    ) -> None:
        self.server, self.user, self.encryption = server, user, encryption
        store.mkdir(parents=True, exist_ok=True)
        self.client = AsyncClient(
            server.url,
            user.user_id,
            device_id=user.device_id,
            store_path=str(store) if encryption else "",
            config=AsyncClientConfig(encryption_enabled=encryption, store_sync_tokens=False),
        )
        self.seen: list[Seen] = []
        self.read: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()

    @property
    def user_id(self) -> str:
        return self.user.user_id

    async def start(self) -> MatrixPerson:
        self.client.restore_login(self.user.user_id, self.user.device_id, self.user.access_token)
        if self.encryption:
            await self.client.keys_upload()
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._synced.wait(), 20)
        return self

    async def __aenter__(self) -> MatrixPerson:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def _run(self) -> None:
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed key request: the next round tries again
                print(f"{self.user_id}: {exc!r}")
                await asyncio.sleep(0.2)

    async def _round(self) -> None:
        if True:
            response = await self.client.sync(timeout=300, full_state=not self._synced.is_set() or None)
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(0.2)
                return
            for room_id in response.rooms.invite:
                await self.client.join(room_id)
            for room_id, info in response.rooms.join.items():
                for event in info.timeline.events:
                    if isinstance(event, Event) and event.sender != self.user_id:
                        self.seen.append(Seen(room_id, event))
            if self.encryption:
                self._decrypt_late()
                await self.client.send_to_device_messages()
                if self.client.should_upload_keys:
                    await self.client.keys_upload()
                if self.client.should_query_keys:
                    await self.client.keys_query()
                if self.client.should_claim_keys:
                    await self.client.keys_claim(self.client.get_users_for_key_claiming())
            self._synced.set()

    def _decrypt_late(self) -> None:
        """A message whose room key came after it (in a later to-device message): read now."""
        for seen in self.seen:
            if isinstance(seen.event, MegolmEvent):
                seen.event.room_id = seen.room_id
                with contextlib.suppress(Exception):
                    seen.event = self.client.decrypt_event(seen.event)

    async def expect(self, *fragments: str, within: float = 15.0) -> Seen:
        """The next unread message from someone else that holds every fragment."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for seen in self.seen:
                if seen.event_id in self.read or not isinstance(seen.event, RoomMessage):
                    continue
                if all(f in seen.body for f in fragments):
                    self.read.add(seen.event_id)
                    return seen
            if asyncio.get_running_loop().time() > deadline:
                bodies = [s.body or type(s.event).__name__ for s in self.seen if s.event_id not in self.read]
                raise AssertionError(f"{self.user_id} expected {fragments}, has {bodies}")
            await asyncio.sleep(0.05)

    async def expect_edit_of(self, event_id: str, fragment: str, within: float = 15.0) -> Seen:
        """An ``m.replace`` of that message whose new text holds the fragment."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for seen in self.seen:
                relates = seen.content.get("m.relates_to") or {}
                new = seen.content.get("m.new_content") or {}
                if relates.get("rel_type") == "m.replace" and relates.get("event_id") == event_id:
                    if fragment in str(new.get("body", "")):
                        self.read.add(seen.event_id)
                        return seen
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.user_id}: no edit of {event_id} with {fragment!r}")
            await asyncio.sleep(0.05)

    def undecrypted(self) -> list[Seen]:
        return [s for s in self.seen if isinstance(s.event, MegolmEvent)]

    async def send(self, room_id: str, content: dict[str, Any], kind: str = "m.room.message") -> str:
        if self.encryption and room_id not in self.client.rooms:
            await asyncio.sleep(0.5)
        sent = await self.client.room_send(room_id, kind, content, ignore_unverified_devices=True)
        assert isinstance(sent, RoomSendResponse), sent
        return sent.event_id

    async def say(self, room_id: str, text: str, *, reply_to: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": text}
        if reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send(room_id, content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        relates = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room_id, {"m.relates_to": relates}, kind="m.reaction")

    async def edit(self, room_id: str, event_id: str, text: str) -> str:
        return await self.send(
            room_id,
            {
                "msgtype": "m.text",
                "body": f"* {text}",
                "m.new_content": {"msgtype": "m.text", "body": text},
                "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
            },
        )

    async def redact(self, room_id: str, event_id: str) -> None:
        await self.client.room_redact(room_id, event_id, reason="erreur")

    async def open_direct(self, other: str) -> str:
        """A direct room with someone (the bot), as Element's « Nouvelle discussion »."""
        made = await self.client.room_create(is_direct=True, invite=[other])
        assert isinstance(made, RoomCreateResponse), made
        return made.room_id
