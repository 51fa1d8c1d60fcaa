"""The crisis half of the service, assembled: the cell, its points de situation, the action
follow-up, the closure and the RETEX, and the runner of their due timers."""

from __future__ import annotations

from dataclasses import dataclass

from bot.crisis import timers
from bot.crisis.cell import CrisisCell
from bot.crisis.closure import CrisisClosure
from bot.crisis.due import DueActions
from bot.crisis.followup import ActionFollowUp
from bot.crisis.points import SituationPoints
from bot.crisis.retex import Retex


@dataclass
class CrisisServices:
    cell: CrisisCell
    points: SituationPoints
    followup: ActionFollowUp
    retex: Retex
    closure: CrisisClosure
    due: DueActions


def build_crisis(cell: CrisisCell) -> CrisisServices:
    points = SituationPoints(cell)
    followup = ActionFollowUp(cell)
    retex = Retex(cell)
    closure = CrisisClosure(cell, retex)
    points.closer = closure.close
    handlers = {
        timers.POINT_PROMPT: points.on_timer,
        timers.POINT_DUE: points.on_timer,
        timers.POINT_LATE: points.on_timer,
        timers.ACTION_DUE: followup.on_timer,
        timers.RETEX_COLD: retex.on_timer,
    }
    due = DueActions(cell.db, cell.ctx.clock, handlers)
    return CrisisServices(cell, points, followup, retex, closure, due)
