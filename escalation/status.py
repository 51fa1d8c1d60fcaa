"""Where each signal's ladder stands, for people reading the list of open signals: step n/N and
when the next step is due, or « sans réponse » since when, or taken by whom; who was paged."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import col, select

from bot.db import Database
from bot.domain import RunState, TimerState
from bot.models import LadderRunRow, PageRow, SignalRow, TimerRow
from escalation.context import PagingContext


class LadderState(StrEnum):
    """What a duty officer filters on (``vigie signals --state``, ``?state=``)."""

    EN_COURS = "en-cours"  # the ladder is paging
    SANS_REPONSE = "sans-reponse"  # the ladder ended and nobody took it
    ACQUITTE = "acquitte"  # somebody took it
    CLOS = "clos"  # closed
    SANS_ECHELLE = "sans-echelle"  # no ladder was started (none configured)


_FROM_RUN = {
    RunState.ACTIVE: LadderState.EN_COURS,
    RunState.EXHAUSTED: LadderState.SANS_REPONSE,
    RunState.ACKNOWLEDGED: LadderState.ACQUITTE,
    RunState.RESOLVED: LadderState.CLOS,
}


def run_states(state: LadderState) -> list[str | None]:
    """The ladder-run states (``None``: no run) that a filter on ``state`` keeps."""
    if state is LadderState.SANS_ECHELLE:
        return [None]
    return [run.value for run, view in _FROM_RUN.items() if view is state]


@dataclass
class LadderView:
    state: LadderState
    step: int | None = None  # 1-based, the last step paged
    steps: int | None = None
    round: int | None = None  # 1-based
    next_step_at: datetime | None = None
    since: datetime | None = None  # when the ladder ended (unanswered, taken, closed)
    paged: list[str] = field(default_factory=list)  # person ids, in paging order

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "step": self.step,
            "steps": self.steps,
            "round": self.round,
            "next_step_at": self.next_step_at.isoformat() if self.next_step_at else None,
            "since": self.since.isoformat() if self.since else None,
            "paged": self.paged,
        }

    def summary(self, ctx: PagingContext) -> str:
        """One line in the desk's language, e.g. « étape 2/3, suivante à 03:42 »."""
        fr = ctx.lang == "fr"
        if self.state is LadderState.EN_COURS:
            when = ctx.local(self.next_step_at) if self.next_step_at is not None else None
            if self.step is None:  # the first step is not paged yet (the service pages it)
                return (f"1re étape à {when}" if fr else f"first step at {when}") if when else ""
            text = f"étape {self.step}/{self.steps}" if fr else f"step {self.step}/{self.steps}"
            return text + ((", suivante à " if fr else ", next at ") + when if when else "")
        if self.state is LadderState.SANS_REPONSE:
            when = ctx.local(self.since) if self.since else "?"
            return f"SANS RÉPONSE depuis {when}" if fr else f"UNANSWERED since {when}"
        if self.state is LadderState.ACQUITTE:
            when = ctx.local(self.since) if self.since else "?"
            return f"pris en charge à {when}" if fr else f"taken at {when}"
        if self.state is LadderState.CLOS:
            return "clos" if fr else "closed"
        return "sans échelle" if fr else "no ladder"


async def ladder_views(db: Database, ctx: PagingContext, signals: list[SignalRow]) -> dict[int, LadderView]:
    """The view of each signal's ladder, keyed by signal id (three queries, whatever the count)."""
    ids = [s.id for s in signals if s.id is not None]
    if not ids:
        return {}
    async with db.read_session() as session:
        runs = (await session.exec(select(LadderRunRow).where(col(LadderRunRow.signal_id).in_(ids)))).all()
        run_ids = [r.id for r in runs]
        due = (
            await session.exec(
                select(TimerRow.run_id, TimerRow.due_at)
                .where(col(TimerRow.run_id).in_(run_ids), TimerRow.state == TimerState.PENDING)
                .order_by(col(TimerRow.due_at))
            )
        ).all()
        pages = (
            await session.exec(
                select(PageRow.signal_id, PageRow.person_id)
                .where(col(PageRow.signal_id).in_(ids))
                .order_by(col(PageRow.id))
            )
        ).all()
    next_due: dict[int, datetime] = {}
    for run_id, due_at in due:
        if run_id is not None:
            next_due.setdefault(run_id, due_at)
    paged: dict[int, list[str]] = {}
    for signal_id, person_id in pages:
        people = paged.setdefault(signal_id, [])
        if person_id not in people:
            people.append(person_id)
    views: dict[int, LadderView] = {}
    for run in runs:
        ladder = ctx.config.ladder(run.ladder_id)
        views[run.signal_id] = LadderView(
            state=_FROM_RUN.get(RunState(run.state), LadderState.EN_COURS),
            step=run.step_index + 1 if run.step_index >= 0 else None,
            steps=len(ladder.steps) if ladder else None,
            round=run.pass_index + 1,
            next_step_at=next_due.get(run.id)
            if run.state == RunState.ACTIVE and run.id is not None
            else None,
            since=run.ended_at,
            paged=paged.get(run.signal_id, []),
        )
    for signal in signals:
        if signal.id is not None and signal.id not in views:
            views[signal.id] = LadderView(state=LadderState.SANS_ECHELLE)
    return views
