"""The one way in for what people say and do, whatever the channel.

Adapters only translate: a Telegram button, a Slack button, an SMS reply code, a voice key and an
e-mail link all become ``respond(person, reference, Answer.ACK, channel)``; a chat message
becomes ``handle_message(person, text, origin, replying_to)``; a sender becomes a person through
``person_for(channel, address)``. This module decides, commits, and wakes the workers, so that no
adapter holds a business rule or forgets to deliver what it caused (GoAlert's
``notification.Receiver`` is the model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from bot.config import VigieConfig
from bot.desk_commands import DeskCommands
from bot.domain import ChannelKind
from bot.grammar import is_ack_reply, parse_command
from bot.intake import IntakeService, Origin, Receipt, SignalDraft
from bot.outbox import send_reply
from bot.permissions import function_refusal, token_refusal
from bot.settings import ApiToken
from escalation.actions import ActionError, SignalActions, signal_for_code
from escalation.context import PagingContext
from escalation.delivery import OutboxDispatcher


class Answer(StrEnum):
    """What a paged person answers, on any channel."""

    ACK = "ack"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class Reply:
    """What to tell the person back, in the desk's language."""

    text: str
    ok: bool = True  # False: refused (already taken, closed, unknown…); nothing changed
    changed: bool = False
    reference: str | None = None
    code: str | None = None  # why it was refused (not_found, already_taken…), for HTTP statuses


# Where each channel keeps a person's address in the directory.
_ADDRESS_OF = {
    ChannelKind.TELEGRAM: lambda c: c.telegram_id,
    ChannelKind.SLACK: lambda c: c.slack_id,
    ChannelKind.SMS: lambda c: c.phone,
    ChannelKind.VOICE: lambda c: c.phone,
    ChannelKind.EMAIL: lambda c: c.email,
}


class Inbound:
    def __init__(
        self,
        config: VigieConfig,
        ctx: PagingContext,
        intake: IntakeService,
        actions: SignalActions,
        commands: DeskCommands,
        dispatcher: OutboxDispatcher,
        wake_engine: Callable[[], None],
        wake_delivery: Callable[[], None],
    ) -> None:
        self.config, self.ctx = config, ctx
        self._intake, self._actions, self._commands = intake, actions, commands
        self._dispatcher = dispatcher
        self._wake_engine, self._wake_delivery = wake_engine, wake_delivery
        self._directory: dict[tuple[ChannelKind, str], str] = {}
        for person in config.people:
            for kind, address_of in _ADDRESS_OF.items():
                address = address_of(person.contacts)
                if address is not None:
                    self._directory[(kind, _key(kind, address))] = person.id

    def _wake(self) -> None:
        """Something was committed: step the ladders and deliver now, not at the next poll."""
        self._wake_engine()
        self._wake_delivery()

    def person_for(self, channel: ChannelKind | str, address: str | int | None) -> str | None:
        """The directory person behind a platform address (Telegram user id, Slack member id,
        phone number, e-mail address), or None for someone the desk does not know."""
        if address is None or address == "":
            return None
        kind = ChannelKind(channel)
        return self._directory.get((kind, _key(kind, address)))

    def name(self, person_id: str | None) -> str:
        return self.ctx.name(person_id)

    def _refusal(
        self, person_id: str | None, token: ApiToken | None, action: str | None = None
    ) -> Reply | None:
        """The permission rules, the same on every way in: an API token acts only for the people
        it names; a guarded action (``clore``) needs one of the functions allowed to do it."""
        refusal = token_refusal(self.config, token, person_id)
        if refusal is None and action is not None and person_id is not None:
            refusal = function_refusal(self.config, person_id, action)
        return Reply(refusal, ok=False, code="forbidden") if refusal else None

    async def respond(
        self,
        person_id: str | None,
        reference: str,
        response: Answer,
        channel: str,
        token: ApiToken | None = None,
    ) -> Reply:
        """A paged person takes the signal or asks for the next step (an escalation may come from
        nobody in particular: the desk's API or CLI). ``token``: the API token the request came
        with, when someone acts in that person's name."""
        if refused := self._refusal(person_id, token):
            return replace(refused, reference=reference)
        try:
            if response is Answer.ACK:
                if person_id is None:
                    raise ActionError("unknown_person", "Précisez qui prend en charge.")
                result = await self._actions.acknowledge(reference, person_id, channel=channel)
            else:
                result = await self._actions.escalate(reference, person_id)
        except ActionError as exc:
            return Reply(exc.message, ok=False, reference=reference, code=exc.code)
        self._wake()
        return Reply(result.message, changed=result.changed, reference=result.reference)

    async def respond_to_code(self, person_id: str, code: int, response: Answer, channel: str) -> Reply:
        """The same, naming the signal by its short code (SMS « 42 », « 42E »); only for a signal
        that person was paged for."""
        reference, paged = await signal_for_code(self._intake.db, self.ctx, code, person_id)
        if reference is None or not paged:
            return Reply(
                f"le code {code} ne correspond à aucune alerte qui vous a été envoyée. Rien n'a été fait.",
                ok=False,
            )
        return await self.respond(person_id, reference, response, channel)

    async def close(
        self, person_id: str, reference: str, note: str | None, channel: str, token: ApiToken | None = None
    ) -> Reply:
        """Close a signal (its ladder stops, the people paged are told), if that person's
        functions allow it (``permissions.clore``)."""
        if refused := self._refusal(person_id, token, "clore"):
            return replace(refused, reference=reference)
        try:
            result = await self._actions.resolve(reference, person_id, note)
        except ActionError as exc:
            return Reply(exc.message, ok=False, reference=reference, code=exc.code)
        self._wake()
        return Reply(result.message, changed=result.changed, reference=result.reference)

    async def handle_message(
        self, person_id: str, text: str, origin: Origin, replying_to: str | None = None
    ) -> Reply:
        """A chat message from a known person: a command, « ok » in answer to a page (the
        reference it answers), or else a new signal — the single entry point."""
        parsed = parse_command(text)
        if parsed is not None and parsed.name == "close":
            try:
                reference, note = self._commands.close_arguments(parsed.args)
            except ActionError as exc:
                return Reply(exc.message, ok=False, code=exc.code)
            return await self.close(person_id, reference, note, origin.channel.value)
        if parsed is not None:
            reply = await self._commands.run(person_id, parsed.name, parsed.args, origin, parsed.spelled)
        elif replying_to is not None and is_ack_reply(text):
            reply = await self._commands.run(person_id, "ack", replying_to, origin)
        else:
            reply = await self._commands.run(person_id, "signal", text, origin)
        if reply.changed:
            self._wake()
        return Reply(reply.text, changed=reply.changed)

    async def raise_signal(self, draft: SignalDraft) -> Receipt:
        """A signal from outside a chat (SMS to the desk, mail to the alerte mailbox)."""
        receipt = await self._intake.accept(draft)
        if receipt.created:
            self._wake_engine()  # its ladder starts
        if receipt.queued_reply:
            self._wake_delivery()  # its receipt goes out
        return receipt

    async def add_to_signal(
        self, reference: str, origin: Origin, message: str, data: dict[str, Any]
    ) -> Receipt | None:
        """More about a known signal (a mail replying to its receipt): into its history."""
        receipt = await self._intake.add_message(reference, origin, message, data)
        if receipt is not None:
            self._wake()
        return receipt

    async def send_reply(self, channel: str, address: str, text: str, person_id: str | None = None) -> None:
        """Answer someone on the channel they wrote from, through the outbox (retried, never lost)."""
        await send_reply(self._intake.db, self.ctx.clock.now(), channel, address, text, person_id)
        self._wake()

    async def delivery_report(
        self, channel: str, provider_id: str, status: str, error: str | None = None
    ) -> bool:
        """A provider's delivery report (Twilio status callback…); False for an unknown message."""
        return await self._dispatcher.provider_status(channel, provider_id, status, error)


def _key(kind: ChannelKind, address: str | int) -> str:
    text = str(address).strip()
    return text.lower() if kind is ChannelKind.EMAIL else text
