"""The one way in for what people say and do, whatever the channel.

Adapters only translate: a Telegram button, a Slack button, an SMS reply code, a voice key and an
e-mail link all become ``respond(person, reference, Answer.ACK, channel)``; a chat message
becomes ``handle_message(person, text, origin, replying_to)``; a sender becomes a person through
``person_for(channel, address)``. This module decides, commits, and wakes the workers, so that no
adapter holds a business rule or forgets to deliver what it caused (GoAlert's
``notification.Receiver`` is the model).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from bot.config import VigieConfig
from bot.crisis import store as crisis_store
from bot.crisis.cell import CellError, CellReply
from bot.crisis.commands import CRISIS_COMMANDS, SELF_LOGGED, CrisisCommands, Speaker, is_closing
from bot.crisis.models import EntryKind
from bot.crisis.services import CrisisServices
from bot.crisis.store import EntryDraft
from bot.desk_commands import DeskCommands
from bot.diffusion.service import DiffusionCommands, DiffusionError, Diffusions
from bot.domain import ChannelKind, OriginChannel
from bot.drills.service import Drills
from bot.grammar import is_ack_reply, is_join_reply, parse_command
from bot.intake import IntakeService, Origin, Receipt, SignalDraft
from bot.outbox import send_reply
from bot.permissions import function_refusal, token_refusal
from bot.settings import ApiToken
from bot.texts import t
from escalation.actions import ActionError, SignalActions, signal_for_code
from escalation.context import PagingContext
from escalation.delivery import OutboxDispatcher
from escalation.maintenance import Maintenance


class Answer(StrEnum):
    """What a paged person answers, on any channel."""

    ACK = "ack"
    ESCALATE = "escalate"
    JOIN = "join"  # a member called to a crisis cell joins it (the reference is the crisis's)


@dataclass(frozen=True)
class Reply:
    """What to tell the person back, in the desk's language."""

    text: str
    ok: bool = True  # False: refused (already taken, closed, unknown…); nothing changed
    changed: bool = False
    reference: str | None = None
    code: str | None = None  # why it was refused (not_found, already_taken…), for HTTP statuses
    room: bool = False  # said in a crisis room: everyone there should read the answer


# Where each channel keeps a person's address in the directory.
_ADDRESS_OF = {
    ChannelKind.TELEGRAM: lambda c: c.telegram_id,
    ChannelKind.SLACK: lambda c: c.slack_id,
    ChannelKind.SMS: lambda c: c.phone,
    ChannelKind.VOICE: lambda c: c.phone,
    ChannelKind.EMAIL: lambda c: c.email,
    ChannelKind.MATRIX: lambda c: c.matrix_id,
}


@dataclass(frozen=True)
class RoomMessage:
    """A message of a room, as an adapter hands it in."""

    platform: str  # slack, telegram
    room_id: str  # Slack channel id; "<chat_id>:<message_thread_id>" on Telegram
    key: str  # the platform's message id: one message, one entry
    text: str
    person_id: str | None  # None: someone outside the directory
    author_label: str  # their platform identity, shown when they are not in the directory
    attachments: tuple[dict[str, str], ...] = ()


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
        crisis: CrisisServices,
        diffusions: Diffusions,
        drills: Drills,
        maintenance: Maintenance,
    ) -> None:
        self.config, self.ctx = config, ctx
        self._drills = drills
        self._maintenance = maintenance
        self._intake, self._actions, self._commands = intake, actions, commands
        self._cell = crisis.cell
        self._retex = crisis.retex
        self._diffusions = diffusions
        self._diffusion_commands = DiffusionCommands(diffusions)
        self._hooks: list[Callable[[], None]] = []
        self._rooms: dict[tuple[str, str], str] = {}
        self._crisis_commands = CrisisCommands(config, crisis, self.person_for)
        self._dispatcher = dispatcher
        self._wake_engine, self._wake_delivery = wake_engine, wake_delivery
        self._directory: dict[tuple[ChannelKind, str], str] = {}
        for person in config.people:
            for kind, address_of in _ADDRESS_OF.items():
                address = address_of(person.contacts)
                if address is not None:
                    self._directory[(kind, _key(kind, address))] = person.id

    def also_wake(self, hook: Callable[[], None]) -> None:
        """Another worker to wake when something is committed (the crisis rooms)."""
        self._hooks.append(hook)

    def _wake(self) -> None:
        """Something was committed: step the ladders and deliver now, not at the next poll."""
        self._wake_engine()
        self._wake_delivery()
        for hook in self._hooks:
            hook()

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
        if response is Answer.JOIN:
            if person_id is None:
                return Reply(t("action.who", self.config.desk.language), ok=False, code="unknown_person")
            return self._from_cell(await self._cell.join(person_id, reference, channel))
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

    def _from_cell(self, reply: CellReply) -> Reply:
        if reply.changed:
            self._wake()
        return Reply(
            reply.text, ok=reply.ok, changed=reply.changed, reference=reply.reference, code=reply.code
        )

    def token_refusal(self, token: ApiToken | None, person_id: str | None) -> str | None:
        """Why this API token may not act for that person (None: it may, or no token)."""
        return token_refusal(self.config, token, person_id)

    async def crisis_command(
        self, name: str, args: str, who: Speaker, token: ApiToken | None = None
    ) -> Reply:
        """A crisis-cell command (``/crise``, ``/role``, ``/decision``…), from chat, the CLI or HTTP."""
        if refused := self._refusal(who.person_id, token):
            return refused
        opening = name == "crisis" and not is_closing(args)  # closing is the cell's lead's
        if opening and (refusal := function_refusal(self.config, who.person_id, "crise")):
            return Reply(refusal, ok=False, code="forbidden")
        return self._from_cell(await self._crisis_commands.run(name, args, who))

    async def retex_form(self, person_id: str, reference: str, answers: dict[int, str], via: str) -> Reply:
        """The hot RETEX's e-mail form, answered."""
        try:
            return self._from_cell(await self._retex.answer_form(person_id, reference, answers, via))
        except CellError as exc:
            return Reply(exc.message, ok=False, code=exc.code)

    async def room_message(self, message: RoomMessage) -> Reply | None:
        """A message posted in a room: in a crisis room, it becomes one main-courante entry
        (a typed command: an entry of that type), and a command in it runs; None elsewhere."""
        room = (message.platform, message.room_id)
        reference = await self.crisis_of_room(room)
        if reference is None:
            return None
        parsed = parse_command(message.text)
        person = message.person_id
        if person is not None and parsed is not None and parsed.name in SELF_LOGGED:
            return await self.crisis_command(
                parsed.name, parsed.args, Speaker(person, message.platform, room, message.key)
            )
        author = self.ctx.name(person) if person else message.author_label
        try:
            _, new = await self._cell.log(
                reference,
                EntryDraft(
                    text=message.text,
                    origin=message.platform,
                    author_label=author,
                    author_id=person,
                    external=person is None,
                    attachments=list(message.attachments),
                    platform_key=message.key,
                ),
            )
            if new and self.config.crisis.relay_rooms and parsed is None:
                said = f"{author} ({message.platform.capitalize()}) : {message.text}"
                await self._cell.echo(reference, said, skip=message.platform)
                self._wake()
        except CellError as exc:
            return Reply(exc.message, ok=False, code=exc.code)
        if parsed is None:
            return Reply("", changed=True)  # logged; nothing to answer
        if person is None:
            return Reply(t("crisis.external", self.config.desk.language), ok=False, code="forbidden")
        if parsed.name in CRISIS_COMMANDS:
            return await self.crisis_command(
                parsed.name, parsed.args, Speaker(person, message.platform, room)
            )
        return await self.handle_message(
            person, message.text, Origin(OriginChannel(message.platform), message.room_id, person)
        )

    async def main_courante_message(
        self,
        person_id: str,
        text: str,
        channel: str,
        key: str | None = None,
        attachments: tuple[dict[str, str], ...] = (),
    ) -> Reply | None:
        """An SMS or a mail from a member of an open crisis that starts with its reference (or
        « MC » when they are in one crisis only): a main-courante entry, echoed in the rooms;
        « <réf> OK » joins the cell. None: not for a crisis (the caller goes on as before)."""
        prefix = self.config.crisis.reference_prefix
        stripped = text.strip()
        retex = re.match(r"^(?:RETEX|DEBRIEF)\b[\s:]*(.*)$", stripped, re.I | re.S)
        if retex is not None:  # « RETEX <réponse> »: the next question of their debrief
            return self._from_cell(await self._retex.answer(person_id, retex[1], channel))
        named = crisis_store.parse_crisis_reference(stripped[:40], prefix)
        head = stripped.split(maxsplit=1)[0].upper() if stripped else ""
        if named is None and head not in ("MC", "MC:"):
            return None
        async with self._intake.db.read_session() as session:
            theirs = await crisis_store.open_crises_of(session, person_id)
        refs = {c.reference for c in theirs}
        reference = (
            named if named in refs else (theirs[0].reference if named is None and len(theirs) == 1 else None)
        )
        if reference is None:
            return None
        body = re.sub(rf"^\s*(?:{re.escape(reference)}|MC)\s*:?\s*", "", stripped, count=1, flags=re.I)
        if is_ack_reply(body) or body.lower() in ("rejoins", "je rejoins", "rejoindre"):
            return self._from_cell(await self._cell.join(person_id, reference, channel))
        if not body:
            return Reply(
                t("crisis.text_needed", self.config.desk.language, usage=f"{reference} <texte>"), ok=False
            )
        try:
            entry, new = await self._cell.log(
                reference,
                EntryDraft(
                    text=body,
                    origin=channel,
                    author_label=self.ctx.name(person_id),
                    author_id=person_id,
                    attachments=list(attachments),
                    platform_key=key,
                ),
            )
            if new:
                await self._cell.echo(reference, f"{channel.upper()} — {self.ctx.name(person_id)} : {body}")
        except CellError as exc:
            return Reply(exc.message, ok=False, code=exc.code)
        self._wake()
        lang = self.config.desk.language
        said = t("crisis.logged_in", lang, number=entry.number, reference=reference)
        return Reply(said, changed=True, reference=reference)

    async def crisis_of_room(self, room: tuple[str, str]) -> str | None:
        """The crisis a room belongs to (remembered: a room never changes crisis)."""
        if room in self._rooms:
            return self._rooms[room]
        async with self._intake.db.read_session() as session:
            crisis = await crisis_store.crisis_of_room(session, *room)
        if crisis is None:
            return None
        self._rooms[room] = crisis.reference
        return crisis.reference

    async def is_crisis_room(self, room: tuple[str, str]) -> bool:
        return await self.crisis_of_room(room) is not None

    async def room_change(self, message: RoomMessage, original_key: str, deleted: bool = False) -> bool:
        """An edit (a correction entry with the new text) or a deletion (an entry that says so and
        keeps what was deleted) of a message of a crisis room; False when nothing was logged."""
        async with self._intake.db.read_session() as session:
            crisis = await crisis_store.crisis_of_room(session, message.platform, message.room_id)
            original = await crisis_store.entry_by_key(session, original_key)
        if crisis is None:
            return False
        lang = self.config.desk.language
        platform = message.platform.capitalize()
        # The original may not be logged yet (events race, or it predates the crisis): the
        # change is logged all the same, with what the platform says of it.
        if deleted:
            said = original.text if original is not None else message.text
            key = "crisis.entry.deleted" if original is not None else "crisis.entry.deleted_unknown"
            text = t(key, lang, platform=platform, number=original.number if original else "?", text=said)
        else:
            key = "crisis.entry.corrects" if original is not None else "crisis.entry.corrects_unknown"
            text = t(
                key, lang, platform=platform, number=original.number if original else "?", text=message.text
            )
        person = message.person_id
        try:
            _, new = await self._cell.log(
                crisis.reference,
                EntryDraft(
                    text=text,
                    origin=message.platform,
                    author_label=self.ctx.name(person) if person else message.author_label,
                    author_id=person,
                    external=person is None,
                    kind=EntryKind.CORRECTION,
                    refers_to=original.number if original is not None else None,
                    platform_key=message.key,
                ),
            )
        except CellError:
            return False
        return new

    async def handle_message(
        self,
        person_id: str,
        text: str,
        origin: Origin,
        replying_to: str | None = None,
        room: tuple[str, str] | None = None,
        replied_text: str | None = None,
    ) -> Reply:
        """A chat message from a known person: a command, « ok » in answer to a page (the
        reference it answers), or else a new signal — the single entry point. ``room``: the
        (platform, room id) it was typed in, for the crisis commands."""
        parsed = parse_command(text)
        if parsed is not None and parsed.name in CRISIS_COMMANDS:
            speaker = Speaker(person_id, origin.channel.value, room)
            answer = await self.crisis_command(parsed.name, parsed.args, speaker)
            return replace(answer, room=room is not None and await self.is_crisis_room(room))
        asked = self._retex.question_of(replied_text) if parsed is None else None
        if asked is not None:  # a reply to a RETEX question is its answer, never a new signal
            reference, question = asked
            said = await self._retex.answer(
                person_id, text, origin.channel.value, reference=reference, question=question
            )
            return self._from_cell(said)
        if parsed is None and is_join_reply(text):  # « je rejoins » in answer to a crisis call
            return await self.crisis_command("join", "", Speaker(person_id, origin.channel.value, room))
        if parsed is not None and parsed.name in ("diffuse", "diffusion", "followup"):
            return await self.diffusion_command(person_id, parsed.name, parsed.args)
        if parsed is not None and parsed.name == "drill":
            return await self.drill_command(person_id, parsed.args)
        if parsed is not None and parsed.name == "maintenance":
            return await self.maintenance_command(person_id, parsed.args)
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

    async def diffusion_command(
        self, person_id: str, name: str, args: str, token: ApiToken | None = None
    ) -> Reply:
        """``/diffuser …`` (permission ``diffusion``), ``/diffusion statut|relancer|confirmer``, and
        ``/suite`` (a national message POUR ACTION: its owner may say it is done)."""
        if name == "followup":
            if refused := self._refusal(person_id, token):
                return refused
            denied = self._refusal(person_id, None, "diffusion")
            said = await self._diffusions.national.command(
                person_id,
                args,
                allowed=denied is None,
                refusal=denied.text if denied else "",
                resolve=self._crisis_commands.person,
            )
            if said.changed:
                self._wake()
            return Reply(said.text, ok=said.ok, changed=said.changed, code=said.code)
        if refused := self._refusal(person_id, token, "diffusion"):
            return refused
        commands = self._diffusion_commands
        said = await (commands.diffuse if name == "diffuse" else commands.follow)(person_id, args)
        if said.changed:
            self._wake()
        return Reply(said.text, ok=said.ok, changed=said.changed, reference=said.reference, code=said.code)

    async def drill_command(self, person_id: str, args: str, token: ApiToken | None = None) -> Reply:
        """``/exercice [échelle] [avec-crise]`` (permission ``exercice``): a drill now."""
        if refused := self._refusal(person_id, token, "exercice"):
            return refused
        words = args.split()
        if words and words[0].lower() in ("contacts", "joignabilite", "joignabilité"):
            # « /exercice contacts [personne] »: the test de joignabilité.
            checked = await self._drills.contacts.start(person_id, words[1] if len(words) > 1 else None)
            if checked.ok:
                self._wake()
            return Reply(checked.text, ok=checked.ok, changed=checked.ok)
        crisis = any(w.lower() in ("avec-crise", "crise", "with-crisis", "crisis") for w in words)
        named = [w for w in words if w.lower() not in ("avec-crise", "crise", "with-crisis", "crisis")]
        said = await self._drills.start(person_id, named[0] if named else None, with_crisis=crisis)
        if said.changed:
            self._wake()
        return Reply(said.text, ok=said.ok, changed=said.changed, code=said.code)

    async def maintenance_command(self, person_id: str, args: str, token: ApiToken | None = None) -> Reply:
        """``/maintenance [<source> <durée> [motif] | fin <source>]``: reading is for everyone,
        starting or ending a window needs the ``maintenance`` permission."""
        if args.strip() and (refused := self._refusal(person_id, token, "maintenance")):
            return refused
        said = await self._maintenance.command(person_id, args)
        if said.changed:
            self._wake()
        return Reply(said.text, ok=said.ok, changed=said.changed, code=said.code)

    async def contact_confirmed(self, probe_id: int, channel: str, addresses: set[str] | None) -> Reply:
        """A contact under test answered: its button, its call's key 1, its mail's link."""
        said = await self._drills.contacts.confirm(probe_id, channel, addresses)
        return Reply(said.text, ok=said.ok, changed=said.ok)

    async def contact_code(self, phone: str, code: int) -> Reply | None:
        """« T12 » by SMS; None when that number was sent no such test."""
        said = await self._drills.contacts.confirm_code(code, phone)
        return Reply(said.text, ok=said.ok, changed=said.ok) if said is not None else None

    async def confirm_receipt(
        self, reference: str, partner_id: str, via: str, *, done: bool = False
    ) -> Reply:
        """A partner confirms a diffusion (its signed link, voice key 1)."""
        try:
            said = await self._diffusions.confirm(reference, partner_id, via, done=done)
        except DiffusionError as exc:
            return Reply(exc.message, ok=False, code=exc.code)
        self._wake()
        return Reply(said.text, ok=said.ok, changed=said.changed, reference=said.reference)

    async def diffusion_chat(
        self, reference: str, platform: str, addresses: set[str], *, by: str, done: bool = False
    ) -> Reply:
        """A partner's « Je confirme la réception » (« Action réalisée ») button in a chat."""
        try:
            said = await self._diffusions.confirm_in_chat(reference, platform, addresses, by=by, done=done)
        except DiffusionError as exc:
            return Reply(exc.message, ok=False, code=exc.code)
        if said.changed:
            self._wake()
        return Reply(said.text, ok=said.ok, changed=said.changed, reference=said.reference, code=said.code)

    async def diffusion_mail(self, reference: str, sender: str, text: str) -> Reply | None:
        """A partner's mail reply quoting a diffusion's reference; None if the sender is none of
        its partners."""
        said = await self._diffusions.confirm_by_mail(reference, sender, text)
        if said is None:
            return None
        if said.changed:
            self._wake()
        return Reply(said.text, ok=said.ok, changed=said.changed, reference=said.reference, code=said.code)

    async def diffusion_code(self, phone: str, code: int, *, done: bool = False) -> Reply:
        """« D7 » (« D7 FAIT ») by SMS from a partner's on-call phone."""
        said = await self._diffusions.confirm_by_phone(code, phone, done=done)
        if said.changed:
            self._wake()
        return Reply(said.text, ok=said.ok, changed=said.changed, reference=said.reference, code=said.code)

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
