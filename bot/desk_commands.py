"""What the duty desk's chat commands do, whatever the channel (the grammar: bot/grammar.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, func, select

from bot.config import VigieConfig
from bot.db import Database
from bot.domain import STATUS_LABELS_FR, RunState, SignalStatus
from bot.durations import parse_duration
from bot.intake import IntakeService, Origin, SignalDraft
from bot.models import LadderRunRow, PageRow, RosterOverrideRow, SignalRow
from bot.permissions import function_refusal
from bot.signals import find_reference, get_signal
from bot.texts import t
from escalation.actions import ActionError, SignalActions
from escalation.context import PagingContext
from escalation.oncall import format_oncall, oncall_view
from escalation.overrides import refresh_overrides
from escalation.paging import notify


@dataclass(frozen=True)
class CommandReply:
    text: str
    changed: bool = False  # something was committed: the workers should look now


class DeskCommands:
    def __init__(
        self,
        config: VigieConfig,
        db: Database,
        intake: IntakeService,
        actions: SignalActions,
        ctx: PagingContext,
    ) -> None:
        self.config, self.db, self.intake, self.actions, self.ctx = config, db, intake, actions, ctx

    async def run(
        self, person_id: str, name: str, args: str, origin: Origin, spelled: str = ""
    ) -> CommandReply:
        handler = {
            "help": self._help,
            "signal": self._signal,
            "ack": self._ack,
            "escalate": self._escalate,
            "status": self._status,
            "oncall": self._oncall,
            "relay": self._relay,
        }.get(name)
        if handler is None:
            return CommandReply(t("cmd.unknown", self.lang, spelled=spelled or name))
        try:
            return await handler(person_id, args, origin)
        except ActionError as exc:
            return CommandReply(exc.message)

    def _refused(self, person_id: str, command: str) -> CommandReply | None:
        refusal = function_refusal(self.config, person_id, command)
        return CommandReply(refusal) if refusal else None

    @property
    def lang(self) -> str:
        return self.config.desk.language

    def _reference(self, args: str, usage: str) -> str:
        reference = find_reference(args)
        if reference is None:
            raise ActionError("usage", t("cmd.reference_needed", self.lang, usage=usage))
        return reference

    async def _help(self, person_id: str, args: str, origin: Origin) -> CommandReply:
        return CommandReply(t("cmd.help", self.lang))

    async def _signal(self, person_id: str, args: str, origin: Origin) -> CommandReply:
        text = args.strip()
        if not text:
            return CommandReply(t("cmd.signal_needed", self.lang))
        title, _, body = text.partition("\n")
        person = self.config.person(person_id)
        receipt = await self.intake.accept(
            SignalDraft(
                title=title.strip()[:500],
                body=body.strip() or None,
                source=origin.channel.value,
                reporter=person.name if person else person_id,
                origin=origin,
            )
        )
        return CommandReply(receipt.text(self.config.desk.language), changed=True)

    async def _ack(self, person_id: str, args: str, origin: Origin) -> CommandReply:
        reference = self._reference(args, "/prendre PFR-2026-000042")
        result = await self.actions.acknowledge(reference, person_id, channel=origin.channel.value)
        return CommandReply(result.message, changed=result.changed)

    async def _escalate(self, person_id: str, args: str, origin: Origin) -> CommandReply:
        reference = self._reference(args, "/escalader PFR-2026-000042")
        result = await self.actions.escalate(reference, person_id)
        return CommandReply(result.message, changed=True)

    def close_arguments(self, args: str) -> tuple[str, str | None]:
        """``/clore <réf> [motif]``: the reference and the note (the closing itself, with its
        permission check, is ``bot.inbound.Inbound.close``, as on every other way in)."""
        reference = self._reference(args, "/clore PFR-2026-000042 [motif]")
        at = args.upper().find(reference)
        return reference, (args[:at] + args[at + len(reference) :]).strip() or None

    async def _status(self, person_id: str, args: str, origin: Origin) -> CommandReply:
        reference = find_reference(args)
        if reference is not None:
            found = await get_signal(self.db, reference)
            if found is None:
                return CommandReply(t("action.not_found", self.lang, reference=reference))
            signal, events = found
            lines = [await self._line(signal)]
            lines += [f"  {self.ctx.local(e.at, '%d/%m %H:%M')} {e.message}" for e in events[-8:]]
            return CommandReply("\n".join(lines))
        # Exercises are hidden unless asked (« /signaux exercices »): they are no real work.
        exercises = args.strip().lower() in ("exercice", "exercices", "exercise", "exercises")
        async with self.db.read_session() as session:
            signals = (
                await session.exec(
                    select(SignalRow)
                    .where(SignalRow.status != SignalStatus.CLOS.value, SignalRow.is_exercise == exercises)
                    .order_by(col(SignalRow.received_at).desc())
                    .limit(15)
                )
            ).all()
            hidden = 0
            if not exercises:
                hidden = (
                    await session.exec(
                        select(func.count()).where(
                            SignalRow.status != SignalStatus.CLOS.value, col(SignalRow.is_exercise)
                        )
                    )
                ).one()
        note = [t("cmd.exercises_hidden", self.lang, count=hidden)] if hidden else []
        if not signals:
            return CommandReply("\n".join([t("cmd.no_open_signal", self.lang), *note]))
        count = f"{len(signals)}{'+' if len(signals) == 15 else ''}"
        lines = [t("cmd.open_exercises" if exercises else "cmd.open_signals", self.lang, count=count)]
        lines += [await self._line(s) for s in signals]
        return CommandReply("\n".join([*lines, *note]))

    async def _line(self, signal: SignalRow) -> str:
        status = STATUS_LABELS_FR.get(SignalStatus(signal.status), signal.status)
        received = self.ctx.local(signal.received_at, "%d/%m %H:%M")
        head = f"{signal.reference} · {received} · {status} · « {signal.title} »"
        if signal.acknowledged_by:
            return t("cmd.line.taken", self.lang, head=head, name=self.ctx.name(signal.acknowledged_by))
        async with self.db.read_session() as session:
            run = (
                await session.exec(select(LadderRunRow).where(LadderRunRow.signal_id == signal.id))
            ).first()
            if run is None:
                return t("cmd.line.no_ladder", self.lang, head=head)
            paged = (
                await session.exec(
                    select(PageRow.person_id).where(
                        PageRow.run_id == run.id,
                        PageRow.step_index == run.step_index,
                        PageRow.pass_index == run.pass_index,
                    )
                )
            ).all()
        ladder = self.config.ladder(run.ladder_id)
        steps = len(ladder.steps) if ladder else "?"
        if run.state == RunState.EXHAUSTED:
            return t("cmd.line.unanswered", self.lang, head=head)
        who = ", ".join(self.ctx.name(p) for p in paged) or t("cmd.nobody", self.lang)
        return t("cmd.line.step", self.lang, head=head, step=run.step_index + 1, steps=steps, names=who)

    async def _oncall(self, person_id: str, args: str, origin: Origin) -> CommandReply:
        now = self.ctx.clock.now()
        await refresh_overrides(self.db, self.ctx, now)
        return CommandReply(format_oncall(self.ctx, oncall_view(self.ctx, now)))

    async def _relay(self, person_id: str, args: str, origin: Origin) -> CommandReply:
        if refused := self._refused(person_id, "relais"):
            return refused
        ladder = self.config.default_ladder()
        roster = self.config.roster(ladder.roster) if ladder and ladder.roster else None
        roster = roster or (self.config.rosters[0] if self.config.rosters else None)
        if roster is None:
            return CommandReply(t("cmd.relay.no_roster", self.lang))
        now = self.ctx.clock.now()
        await refresh_overrides(self.db, self.ctx, now)
        schedule = self.ctx.schedules[roster.id]
        if args.strip():
            try:
                end = now + parse_duration(args.strip())
            except ValueError as exc:
                return CommandReply(t("cmd.relay.bad_duration", self.lang, error=exc))
            if end - now > timedelta(days=31):
                return CommandReply(t("cmd.relay.too_long", self.lang))
        else:
            following = schedule.handovers(now, now + roster.period)
            end = following[0].at if following else now + roster.period
        previous = schedule.on_call(now).titulaire
        async with self.db.transaction() as session:
            session.add(
                RosterOverrideRow(
                    roster_id=roster.id,
                    level="titulaire",
                    person_id=person_id,
                    start=now,
                    end=end,
                    created_by=person_id,
                    created_at=now,
                    reason="relais",
                )
            )
            until = self.ctx.local(end, "%d/%m %H:%M")
            if previous and previous != person_id:
                notify(
                    session,
                    self.ctx,
                    previous,
                    t(
                        "cmd.relay.notice",
                        self.lang,
                        name=self.ctx.name(person_id),
                        roster=roster.name,
                        until=until,
                    ),
                    kind="relay",
                    signal_id=None,
                    key=f"relay:{roster.id}:{int(now.timestamp())}",
                    now=now,
                )
        await refresh_overrides(self.db, self.ctx, now)
        return CommandReply(t("cmd.relay.done", self.lang, roster=roster.name, until=until), changed=True)
