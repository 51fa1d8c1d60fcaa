"""Paging one step of a ladder, notifying people, and failing over between their channels."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import LEVELS, Ladder, NotifyRule, Person
from bot.domain import CATEGORY_LABELS_FR, Category, ChannelKind, MessageState, PageState, RunState
from bot.history import add_event
from bot.models import LadderRunRow, OutboxMessageRow, PageRow, SignalRow, table_of
from bot.outbox import OutgoingMessage, enqueue, queue
from bot.texts import t
from escalation.context import PagingContext
from escalation.timers import cancel_pending, schedule_step

# Message states in which a channel may still reach the person.
LIVE_STATES = (MessageState.PENDING, MessageState.SENDING, MessageState.SENT, MessageState.DELIVERED)


def exercise_prefix(ctx: PagingContext, signal: SignalRow) -> str:
    return t("exercise.prefix", ctx.lang) if signal.is_exercise else ""


def page_text(
    ctx: PagingContext, signal: SignalRow, level: str | None, step: int, steps: int, pass_index: int
) -> str:
    category = signal.category or "autre"
    if ctx.lang == "fr":
        category = CATEGORY_LABELS_FR.get(Category(category), category)
    details = t(
        "page.details",
        ctx.lang,
        severity=signal.severity or "non évaluée",
        category=category,
        received=ctx.local(signal.received_at, "%d/%m à %H:%M"),
    )
    body = f"\n{signal.body[:300]}" if signal.body else ""
    national = (signal.attributes or {}).get("national")
    if signal.category == Category.MESSAGE_NATIONAL.value and isinstance(national, dict):
        # The relay is one command away, text and attachments included.
        body += "\n" + t("page.relay", ctx.lang, reference=signal.reference)
        if national.get("nature") == "action":
            body += "\n" + t("page.action", ctx.lang, reference=signal.reference)
    return t(
        "page.text",
        ctx.lang,
        prefix=exercise_prefix(ctx, signal),
        reference=signal.reference,
        title=signal.title,
        details=details,
        role=ctx.level_label(level),
        step=step + 1,
        steps=steps,
        pass_note=t("page.pass", ctx.lang, number=pass_index + 1) if pass_index else "",
        body=body,
    )


def page_actions(ctx: PagingContext) -> list[dict[str, str]]:
    return [
        {"id": "ack", "label": t("action.ack", ctx.lang)},
        {"id": "escalate", "label": t("action.escalate", ctx.lang)},
    ]


def usable_rules(ctx: PagingContext, person: Person, channels: list[Any] | None) -> list[NotifyRule]:
    rules = [NotifyRule(channel=c) for c in channels] if channels else list(person.notify)
    enabled = set(ctx.config.channels.enabled())
    return [r for r in rules if r.channel in enabled and person.address(r.channel)]


def notices(
    ctx: PagingContext,
    person_id: str,
    text: str,
    *,
    kind: str,
    signal_id: int | None,
    key: str,
    channels: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> list[OutgoingMessage]:
    """What telling one person something takes: on the given channels or else their first
    usable one."""
    person = ctx.config.person(person_id)
    if person is None:
        return []
    enabled = set(ctx.config.channels.enabled())
    if channels:
        chosen = [ChannelKind(c) for c in channels if c in enabled and person.address(ChannelKind(c))]
    else:
        # A notice goes on the first channel that can deliver now; if none can, it waits on
        # the first one (delivery holds it until that channel is back).
        usable = usable_rules(ctx, person, None)
        up = [r for r in usable if ctx.health.available(r.channel)]
        first = up or usable
        chosen = [first[0].channel] if first else []
    return [
        OutgoingMessage(
            channel=str(channel),
            kind=kind,
            text=text,
            recipient_person_id=person_id,
            recipient_address=person.address(ChannelKind(channel)),
            signal_id=signal_id,
            idempotency_key=f"{key}:{person_id}:{channel}",
            data=data or {},
        )
        for channel in dict.fromkeys(chosen)
    ]


def notify(
    session: AsyncSession,
    ctx: PagingContext,
    person_id: str,
    text: str,
    *,
    kind: str,
    signal_id: int | None,
    key: str,
    now: datetime,
    channels: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> list[OutboxMessageRow]:
    """Tell one person something (``notices``); the rows, for a caller that adjusts them."""
    found = notices(
        ctx, person_id, text, kind=kind, signal_id=signal_id, key=key, channels=channels, data=data
    )
    return [enqueue(session, message, now=now) for message in found]


def notify_officers(
    session: AsyncSession,
    ctx: PagingContext,
    text: str,
    *,
    kind: str,
    key: str,
    now: datetime,
    signal_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Tell every duty officer (``duty_officers``), each on their first usable channel; how
    many messages were queued (in bulk when the session collects, bot.bulk: no row is returned)."""
    found = [
        message
        for officer in ctx.config.officers()
        for message in notices(ctx, officer, text, kind=kind, signal_id=signal_id, key=key, data=data)
    ]
    for message in found:
        queue(session, message, now=now)
    return len(found)


def resolve_targets(
    ctx: PagingContext, ladder: Ladder, targets: list[str], now: datetime
) -> tuple[list[tuple[str, str | None]], list[str]]:
    """People to page for a step, with the level they hold, and the levels nobody holds."""
    holders: dict[str, str | None] = {}
    if ladder.roster is not None and ladder.roster in ctx.schedules:
        holders = ctx.schedules[ladder.roster].on_call(now).holders
    people: dict[str, str | None] = {}
    vacant: list[str] = []
    for target in targets:
        if target in LEVELS:
            pid = holders.get(target)
            if pid is None:
                vacant.append(target)
            elif pid not in people:
                people[pid] = target
        elif target not in people:
            people[target] = None
    return list(people.items()), vacant


@dataclass
class PlannedPage:
    """One person to page at a step; ``id`` once ``insert_pages`` has stored it."""

    person_id: str
    level: str | None
    person: Person | None
    rules: list[NotifyRule]
    id: int | None = None

    @property
    def reachable(self) -> bool:
        return self.person is not None and bool(self.rules)


@dataclass
class StepPlan:
    """The pages of one step, planned but not yet stored (``insert_pages``)."""

    run: LadderRunRow
    signal: SignalRow
    ladder: Ladder
    step_index: int
    pass_index: int
    now: datetime
    pages: list[PlannedPage] = field(default_factory=list)
    vacant: list[str] = field(default_factory=list)


def plan_step(
    ctx: PagingContext,
    run: LadderRunRow,
    signal: SignalRow,
    ladder: Ladder,
    step_index: int,
    pass_index: int,
    now: datetime,
) -> StepPlan:
    """First half of paging a step: who, on which channels. A batch of plans shares one insert."""
    step = ladder.steps[step_index]
    targets, vacant = resolve_targets(ctx, ladder, step.page, now)
    plan = StepPlan(run, signal, ladder, step_index, pass_index, now, vacant=vacant)
    for person_id, level in targets:
        person = ctx.config.person(person_id)
        rules = usable_rules(ctx, person, step.channels) if person else []
        plan.pages.append(PlannedPage(person_id, level, person, rules))
    return plan


async def insert_pages(session: AsyncSession, plans: list[StepPlan]) -> None:
    """Store the plans' pages in one statement, each given its id (a Core insert: building an
    ORM object a page cost more than the insert). A page nobody can receive is stored
    unreachable. A step already paged (another instance) breaks the unique key: the caller's
    transaction fails and nothing of it is kept."""
    planned = [(plan, page) for plan in plans for page in plan.pages]
    if not planned:
        return
    table = table_of(PageRow)
    rows = [
        {
            "run_id": plan.run.id,
            "signal_id": plan.signal.id,
            "person_id": page.person_id,
            "level": page.level,
            "step_index": plan.step_index,
            "pass_index": plan.pass_index,
            "created_at": plan.now,
            "state": (PageState.PAGING if page.reachable else PageState.UNREACHABLE).value,
        }
        for plan, page in planned
    ]
    conn = await session.connection()
    stored = await conn.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    for (_, page), (page_id,) in zip(planned, stored.all(), strict=True):
        page.id = page_id


def emit_step(session: AsyncSession, ctx: PagingContext, plan: StepPlan) -> None:
    """Second half, once the pages are stored: notifications, history, and what comes next.
    The run's step is the caller's to record (the engine writes a batch's runs at once)."""
    run, signal, now = plan.run, plan.signal, plan.now
    step_index, pass_index = plan.step_index, plan.pass_index
    assert run.id is not None and signal.id is not None
    step = plan.ladder.steps[step_index]
    steps = len(plan.ladder.steps)
    reached: list[str] = []
    for page in plan.pages:
        person, rules = page.person, page.rules
        if person is None or not rules:  # stored unreachable (insert_pages)
            channels = ", ".join(person.channels) if person else "?"
            add_event(
                session,
                signal.id,
                "unreachable",
                t(
                    "event.unreachable",
                    ctx.lang,
                    name=ctx.name(page.person_id),
                    reason=t("event.no_usable_channel", ctx.lang, channels=channels),
                ),
                now,
                actor=page.person_id,
            )
            continue
        text = page_text(ctx, signal, page.level, step_index, steps, pass_index)
        for sequence, rule in enumerate(rules):
            queue(
                session,
                OutgoingMessage(
                    channel=rule.channel.value,
                    kind="page",
                    text=text,
                    recipient_person_id=page.person_id,
                    recipient_address=person.address(rule.channel),
                    signal_id=signal.id,
                    idempotency_key=f"page:{run.id}:{pass_index}:{step_index}:{page.person_id}:{rule.channel.value}",
                    not_before=now + rule.after if rule.after else None,
                    data={
                        "actions": page_actions(ctx),
                        "reference": signal.reference,
                        "title": signal.title,
                        "code": signal.seq,  # what an SMS reply quotes: « 42 », « 42E »
                        "exercise": signal.is_exercise,
                        "level": page.level,
                        "step": step_index,
                        "pass": pass_index,
                    },
                    page_id=page.id,
                    sequence=sequence,
                ),
                now=now,
            )
        reached.append(ctx.name(page.person_id) + (f" ({ctx.level_label(page.level)})" if page.level else ""))

    pass_note = t("page.pass", ctx.lang, number=pass_index + 1) if pass_index else ""
    data = {"step": step_index, "pass": pass_index, "vacant": plan.vacant}
    if reached:
        message = t(
            "event.step",
            ctx.lang,
            step=step_index + 1,
            steps=steps,
            pass_note=pass_note,
            names=", ".join(reached),
        )
        add_event(session, signal.id, "step", message, now, data=data)
        schedule_step(session, run.id, step_index + 1, pass_index, now + step.wait, now)
        return
    detail = ", ".join(t("event.level_vacant", ctx.lang, level=ctx.level_label(v)) for v in plan.vacant)
    add_event(
        session,
        signal.id,
        "step_empty",
        t("event.step_empty", ctx.lang, step=step_index + 1, steps=steps, detail=detail or "injoignables"),
        now,
        data=data,
    )
    # Nobody could be paged at this step: do not make the signal wait for nothing.
    schedule_step(session, run.id, step_index + 1, pass_index, now, now)


async def failover(
    session: AsyncSession, ctx: PagingContext, message: OutboxMessageRow, reason: str, now: datetime
) -> None:
    """A page notification failed for good: try the person's next channel at once, and when the
    whole step is unreachable, escalate at once."""
    if message.page_id is None or message.signal_id is None:
        return
    page = await session.get(PageRow, message.page_id)
    run = await session.get(LadderRunRow, page.run_id) if page else None
    if page is None or run is None:
        return
    name = ctx.name(page.person_id)
    add_event(
        session,
        message.signal_id,
        "delivery_failed",
        t("event.delivery_failed", ctx.lang, name=name, channel=message.channel, reason=reason),
        now,
        actor=page.person_id,
        channel=message.channel,
    )
    if run.state != RunState.ACTIVE:
        return
    following = (
        await session.exec(
            select(OutboxMessageRow)
            .where(OutboxMessageRow.page_id == page.id, OutboxMessageRow.state == MessageState.PENDING.value)
            .where(col(OutboxMessageRow.sequence) > message.sequence)
            .order_by(col(OutboxMessageRow.sequence))
        )
    ).first()
    if following is not None:
        if following.not_before is None or following.not_before > now:
            following.not_before = now
            session.add(following)
            add_event(
                session,
                message.signal_id,
                "failover",
                t("event.failover", ctx.lang, channel=following.channel, name=name),
                now,
                actor=page.person_id,
                channel=following.channel,
            )
        return
    live = (
        await session.exec(
            select(OutboxMessageRow.id).where(
                OutboxMessageRow.page_id == page.id,
                col(OutboxMessageRow.state).in_(LIVE_STATES),
                OutboxMessageRow.id != message.id,
            )
        )
    ).first()
    if live is not None:
        return
    page.state = PageState.UNREACHABLE
    session.add(page)
    add_event(
        session,
        message.signal_id,
        "unreachable",
        t("event.unreachable", ctx.lang, name=name, reason=reason),
        now,
        actor=page.person_id,
    )
    siblings = (
        await session.exec(
            select(PageRow.state).where(
                PageRow.run_id == run.id,
                PageRow.pass_index == page.pass_index,
                PageRow.step_index == page.step_index,
                PageRow.id != page.id,
            )
        )
    ).all()
    is_current = (page.pass_index, page.step_index) == (run.pass_index, run.step_index)
    if is_current and all(state == PageState.UNREACHABLE for state in siblings):
        assert run.id is not None
        await cancel_pending(session, run.id, now)
        schedule_step(session, run.id, page.step_index + 1, page.pass_index, now, now)
        add_event(
            session,
            message.signal_id,
            "escalated",
            t("event.all_unreachable", ctx.lang, step=page.step_index + 1),
            now,
        )
