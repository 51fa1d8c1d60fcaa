"""The crisis cell's chat commands, parsed (the grammar's names: bot/grammar.py) and run on the
cell: ``/crise``, ``/role``, ``/roles``, ``/rejoindre``, and the typed entries ``/decision``,
``/action``, ``/demande``, ``/info``, ``/fait``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.config import ORSAN_PLANS, VigieConfig
from bot.crisis.cell import CellError, CellReply, function_named
from bot.crisis.models import ENTRY_KIND_LABELS_FR, EntryKind
from bot.crisis.store import EntryDraft

if TYPE_CHECKING:
    from bot.crisis.services import CrisisServices
from bot.domain import CELL_FUNCTIONS, FUNCTION_LABELS_FR, ChannelKind, Function
from bot.durations import parse_due
from bot.signals import find_reference
from bot.texts import t

CRISIS_COMMANDS = {
    "crisis",
    "role",
    "roles",
    "join",
    "decision",
    "action",
    "demande",
    "info",
    "done",
    "phase",
    "point",
    "actions",
    "retex",
}
TYPED_COMMANDS = {"decision", "action", "demande", "info", "done"}  # each gives an entry of its type
# Typed in a room, these log their own entry (or none): the message is not logged as well.
SELF_LOGGED = TYPED_COMMANDS | {"point", "phase", "actions", "roles"}
CLOSING_WORDS = ("clore", "close", "fermer", "cloturer", "clôturer")


def is_closing(args: str) -> bool:
    """``/crise clore [motif]`` (not an opening)."""
    return bool(args.split()) and args.split()[0].lower() in CLOSING_WORDS


TYPED = {
    "decision": EntryKind.DECISION,
    "action": EntryKind.ACTION,
    "demande": EntryKind.DEMANDE,
    "info": EntryKind.INFORMATION,
}
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>|@([\w.-]+)")


@dataclass(frozen=True)
class Speaker:
    """Who typed a command, where: ``room`` is (platform, room id) when typed in a crisis room;
    ``key`` the platform message id (one message, one entry)."""

    person_id: str
    channel: str
    room: tuple[str, str] | None = None
    key: str | None = None


class CrisisCommands:
    def __init__(
        self,
        config: VigieConfig,
        crisis: CrisisServices,
        person_for: Callable[[ChannelKind | str, str | int | None], str | None],
    ) -> None:
        self.config, self.cell = config, crisis.cell
        self.points, self.retex = crisis.points, crisis.retex
        self._person_for = person_for  # bot.inbound.Inbound.person_for

    @property
    def lang(self) -> str:
        return self.config.desk.language

    async def run(self, name: str, args: str, who: Speaker) -> CellReply:
        try:
            if name == "crisis" and is_closing(args):
                reason = args.split(maxsplit=1)[1] if len(args.split()) > 1 else ""
                reference = await self.cell.which(who.person_id, reason, who.room)
                reason = re.sub(rf"^\s*{re.escape(reference)}\b", "", reason, flags=re.I).strip()
                return await self.points.ask_closure(who.person_id, reference, reason)
            if name == "retex":
                return await self.retex.answer(who.person_id, args, who.channel)
            if name in ("phase", "point", "actions"):
                reference = await self.cell.which(who.person_id, args, who.room)
                rest = re.sub(rf"^\s*{re.escape(reference)}\b", "", args, flags=re.I).strip()
                if name == "phase":
                    return await self.points.phase(who.person_id, reference, rest)
                if name == "actions":
                    return await self.points.actions(reference)
                return await self.points.command(who.person_id, who.channel, reference, rest, who.key)
            if name == "crisis":
                return await self._open(args, who)
            if name == "join":
                reference = await self.cell.which(who.person_id, args, who.room)
                return await self.cell.join(who.person_id, reference, who.channel)
            if name == "roles":
                reference = await self.cell.which(who.person_id, args, who.room)
                return CellReply(await self.cell.roles_text(reference))
            if name == "role":
                return await self._role(args, who)
            if name == "done":
                return await self._done(args, who)
            return await self._typed(TYPED[name], args, who)
        except CellError as exc:
            return CellReply(exc.message, ok=False, code=exc.code)

    async def _open(self, args: str, who: Speaker) -> CellReply:
        words = args.split()
        signals: list[str] = []
        plan: str | None = None
        exercise = False
        rest: list[str] = []
        for word in words:
            reference = find_reference(word)
            if reference is not None and not rest:
                signals.append(reference)
            elif word.upper() in ORSAN_PLANS and plan is None and not rest:
                plan = word.upper()
            elif word.lower() in ("exercice", "exercise") and not rest:
                exercise = True
            else:
                rest.append(word)
        return await self.cell.open(
            who.person_id, " ".join(rest), signals, plan, who.channel, exercise=exercise
        )

    def person(self, who: str) -> str | None:
        """A person named by id, full name, first name, Slack mention or @id."""
        mention = _MENTION.fullmatch(who.strip())
        if mention and mention[1]:
            return self._person_for(ChannelKind.SLACK, mention[1])
        key = (mention[2] if mention else who).strip().lower()
        for person in self.config.people:
            if key in (person.id.lower(), person.name.lower()):
                return person.id
        firsts = [p.id for p in self.config.people if p.name.lower().split()[0] == key]
        return firsts[0] if len(firsts) == 1 else None

    async def _role(self, args: str, who: Speaker) -> CellReply:
        reference = await self.cell.which(who.person_id, args, who.room)
        text = re.sub(rf"\b{re.escape(reference)}\b", "", args, flags=re.I).strip()
        words = text.split()
        function: Function | None = None
        taken = 0
        for size in (3, 2, 1):
            if len(words) >= size and (found := function_named(" ".join(words[:size]))) is not None:
                function, taken = found, size
                break
        target = " ".join(words[taken:]).strip()
        if function is None or not target:
            names = ", ".join(FUNCTION_LABELS_FR[f] if self.lang == "fr" else f.value for f in CELL_FUNCTIONS)
            return CellReply(t("crisis.usage.role", self.lang, functions=names), ok=False, code="usage")
        if target == "-":
            return await self.cell.assign(who.person_id, reference, function, None)
        person_id = self.person(target)
        if person_id is None:
            return CellReply(
                t("crisis.unknown_person", self.lang, who=target), ok=False, code="unknown_person"
            )
        return await self.cell.assign(who.person_id, reference, function, person_id)

    def _draft(self, who: Speaker, kind: EntryKind, text: str, **extra: object) -> EntryDraft:
        return EntryDraft(
            text=text,
            origin=who.channel,
            author_label=self.cell.ctx.name(who.person_id),
            author_id=who.person_id,
            kind=kind,
            platform_key=who.key,
            **extra,  # type: ignore[arg-type]
        )

    async def _typed(self, kind: EntryKind, args: str, who: Speaker) -> CellReply:
        reference = await self.cell.which(who.person_id, args, who.room)
        text = re.sub(rf"^\s*{re.escape(reference)}\b", "", args, flags=re.I).strip()
        if not text:
            usage = {
                "decision": "/decision <texte>",
                "action": "/action <texte> @responsable [échéance 16h30]",
                "demande": "/demande @destinataire <texte>",
                "information": "/info <texte>",
            }[kind.value]
            return CellReply(t("crisis.text_needed", self.lang, usage=usage), ok=False, code="usage")
        extra: dict[str, object] = {}
        if kind in (EntryKind.ACTION, EntryKind.DEMANDE):
            mention = _MENTION.search(text)
            named = self.person(mention[0]) if mention else None
            label = self.cell.ctx.name(named) if named else (mention[0].lstrip("@") if mention else None)
            extra["owner" if kind is EntryKind.ACTION else "recipient"] = label
        if kind is EntryKind.ACTION:
            text, due = parse_due(text, self.cell.ctx.clock.now(), self.cell.ctx.zone)
            extra["due_at"] = due
        entry, _ = await self.cell.log(reference, self._draft(who, kind, text, **extra))
        label = ENTRY_KIND_LABELS_FR[kind] if self.lang == "fr" else kind.value
        said = t("crisis.logged", self.lang, number=entry.number, kind=label)
        return CellReply(f"{said} {self.cell.ctx.name(who.person_id)} : {entry.text}", changed=True)

    async def _done(self, args: str, who: Speaker) -> CellReply:
        reference = await self.cell.which(who.person_id, args, who.room)
        text = re.sub(rf"\b{re.escape(reference)}\b", "", args, flags=re.I).strip()
        found = re.match(r"^n?°?\s*(\d+)\s*(.*)$", text, re.S)
        if found is None:
            return CellReply(
                t("crisis.text_needed", self.lang, usage="/fait <n° de l'action> [note]"), ok=False
            )
        number, note = int(found[1]), found[2].strip()
        summary = t("crisis.entry.done", self.lang, number=number, note=f" : {note}" if note else "")
        draft = self._draft(who, EntryKind.FAIT, summary, refers_to=number)
        return await self.cell.done(reference, number, draft)
