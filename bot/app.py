"""Composition root: builds the service from settings and configuration (its ASGI app: bot.web)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import migrate
from bot.channel_health import ChannelHealth
from bot.channels import Adapter, Channel, ChannelAdapter, RoomChannel
from bot.clock import Clock, SystemClock
from bot.config import VigieConfig
from bot.crisis.cell import CrisisCell
from bot.crisis.points import UPWARD_KIND
from bot.crisis.rooms import RoomKeeper
from bot.crisis.services import CrisisServices, build_crisis
from bot.db import Database
from bot.desk_commands import DeskCommands
from bot.diffusion.partners import sync_config as sync_partners
from bot.diffusion.service import KIND as DIFFUSION_KIND
from bot.diffusion.service import Diffusions
from bot.directory import sync_directory
from bot.domain import ChannelKind
from bot.drills.service import Drills
from bot.heartbeats.deadman import DeadMansSwitch
from bot.heartbeats.selfcheck import SelfCheck
from bot.heartbeats.service import Heartbeats
from bot.inbound import Inbound
from bot.intake import IntakeService
from bot.metrics import Metrics
from bot.models import OutboxMessageRow
from bot.rounds import RoundWorker
from bot.settings import ApiToken, Settings, api_tokens
from bot.supervision import AdapterSupervisor
from escalation.actions import SignalActions
from escalation.calendar import CalendarJobs, CalendarService
from escalation.channel_notices import tell_officers
from escalation.context import PagingContext
from escalation.delivery import OutboxDispatcher
from escalation.engine import EscalationEngine
from escalation.feeds import FeedSigner
from escalation.leadership import MATRIX_SYNC_KEY, Leadership
from escalation.maintenance import Maintenance
from escalation.paging import failover

log = structlog.get_logger("vigie")


@dataclass
class Vigie:
    """Everything a running instance holds. Adapters see only the ``bot.ports.Core`` part of it
    (config, clock, db, inbound)."""

    settings: Settings
    config: VigieConfig
    clock: Clock
    db: Database
    intake: IntakeService
    engine: EscalationEngine
    actions: SignalActions
    dispatcher: OutboxDispatcher
    # The same delivery, for diffusion messages only: mails and chats in one lane, the paced SMS
    # and calls in another (a batch of mails never holds back an SMS due now).
    diffusion_lanes: tuple[OutboxDispatcher, ...]
    calendar: CalendarService
    commands: DeskCommands
    cell: CrisisCell
    crisis: CrisisServices  # the cell, its points, follow-up, closure and RETEX
    inbound: Inbound
    metrics: Metrics
    tokens: list[ApiToken]
    health: ChannelHealth
    supervisor: AdapterSupervisor
    feeds: FeedSigner | None  # None: VIGIE_FEED_SECRET unset, no calendar feeds
    rooms: RoomKeeper  # creates the crisis rooms on the platforms that have rooms
    diffusions: Diffusions  # national messages relayed to the partners
    diffusion_worker: RoundWorker
    drills: Drills  # exercise drills on the real ladder
    drill_worker: RoundWorker
    heartbeats: Heartbeats  # sources that must ping; a silent one is an alert
    maintenance: Maintenance  # sources whose pages are held for a while
    selfcheck: SelfCheck  # stalled work told to the duty officers
    heartbeat_worker: RoundWorker
    watchdog: DeadMansSwitch | None = None  # pings the desk's dead-man's switch
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def adapters(self) -> list[Adapter]:
        """Channel adapters with a life of their own (Telegram polling, Slack socket…)."""
        return self.supervisor.adapters

    def plug(self, adapter: Adapter) -> None:
        """Add a channel adapter: started and stopped with the service, its webhooks routed
        (``routes()``), and — when it also delivers (a ``Channel``) — used on its channel."""
        self.adapters.append(adapter)
        if isinstance(adapter, ChannelAdapter):
            self.dispatcher.channels[adapter.name] = adapter

    async def settle(self, rounds: int = 50) -> None:
        """Run timers and deliveries until nothing is due (tests and one-shot CLI commands)."""
        for _ in range(rounds):
            done = await self.engine.run_due() + await self.rooms.run_once()
            done += await self.diffusions.run_due() + await self.drills.run_due()
            done += await self.heartbeats.run_due() + await self.maintenance.run_due()
            for lane in self.diffusion_lanes:
                done += await lane.run_once()
            if not (done + await self.dispatcher.run_once()):
                return

    async def start(self, *, background: bool = True) -> None:
        """Raises ChannelStartError when a channel cannot start for a reason other than its
        provider being unreachable; the caller then stops the service."""
        await migrate.upgrade(self.db)
        await sync_directory(self.db, self.config, self.clock)
        await sync_partners(self.db, self.config, self.clock.now())
        await self.supervisor.start()
        if background:
            self._tasks.append(asyncio.create_task(self.dispatcher.run_forever(), name="outbox-dispatcher"))
            for lane in self.diffusion_lanes:
                self._tasks.append(
                    asyncio.create_task(lane.run_forever(), name=f"outbox-dispatcher-{lane.lane}")
                )
            self._tasks.append(
                asyncio.create_task(self.engine.run_forever(after_round=self.dispatcher.poke), name="engine")
            )
            self._tasks.append(asyncio.create_task(self.calendar.run_forever(), name="calendar"))
            self._tasks.append(asyncio.create_task(self.rooms.run_forever(), name="crisis-rooms"))
            self._tasks.append(asyncio.create_task(self.diffusion_worker.run_forever(), name="diffusions"))
            self._tasks.append(asyncio.create_task(self.drill_worker.run_forever(), name="drills"))
            self._tasks.append(asyncio.create_task(self.heartbeat_worker.run_forever(), name="heartbeats"))
            if self.watchdog is not None:
                pinging = RoundWorker(
                    "watchdog",
                    self.watchdog.ping,
                    lambda: None,
                    interval=self.watchdog.cfg.every.total_seconds(),
                )
                self._tasks.append(asyncio.create_task(pinging.run_forever(), name="watchdog"))
        log.info("vigie_started", database=self.db.dialect, desk=self.config.desk.name)

    async def stop(self, grace: float = 6.0) -> None:
        """Let the message being sent finish (the claimed rest goes back to the queue), then stop
        the workers, the channels and the store, in that order."""
        self.dispatcher.stop_soon()
        for lane in self.diffusion_lanes:
            lane.stop_soon()
        dispatcher = [t for t in self._tasks if t.get_name().startswith("outbox-dispatcher")]
        if dispatcher:
            done, _ = await asyncio.wait(dispatcher, timeout=grace)
            if not done:
                log.warning("delivery_interrupted_at_shutdown")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.supervisor.stop()
        await self.db.dispose()
        log.info("vigie_stopped")


def feed_signer(settings: Settings) -> FeedSigner | None:
    secret = settings.feed_secret.get_secret_value().strip() if settings.feed_secret else ""
    return FeedSigner(secret) if secret else None


def build_channels(config: VigieConfig) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if config.channels.console.enabled:
        from handlers.console import ConsoleChannel

        channels["console"] = ConsoleChannel()
    return channels


def heartbeat_round(config: VigieConfig) -> float:
    """How often the monitors are looked at: often enough for the shortest grace (10 s at most)."""
    graces = [h.grace.total_seconds() for h in config.heartbeats]
    return max(0.5, min([10.0, *(g / 4 for g in graces)]))


def build(
    settings: Settings, config: VigieConfig, clock: Clock | None = None, *, adapters: bool = True
) -> Vigie:
    """The service. ``adapters=False`` for one-shot commands: they only touch the store, and the
    running service delivers what they queue (no second Telegram poller, no second SMTP listener)."""
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    metrics = Metrics()
    health = ChannelHealth(metrics)
    ctx = PagingContext(config, clock, health)
    engine = EscalationEngine(db, ctx, metrics)

    async def on_failure(session: AsyncSession, row: OutboxMessageRow, reason: str, now: datetime) -> None:
        if row.kind == UPWARD_KIND:  # a point de situation the relay refused
            await crisis.points.upward_failed(session, row, reason, now)
            return
        if row.kind == DIFFUSION_KIND:  # a partner's channel refused: its next step at once
            await diffusions.failed(session, row, reason, now)
            diffusion_worker.poke()
            return
        await failover(session, ctx, row, reason, now)
        engine.poke()

    dispatcher = OutboxDispatcher(db, ctx, build_channels(config), on_failure=on_failure, metrics=metrics)
    phones = ("sms", "voice")
    others = tuple(kind.value for kind in ChannelKind if kind.value not in phones)
    diffusion_lanes = (
        OutboxDispatcher(
            db,
            ctx,
            {},
            on_failure=on_failure,
            batch=50,
            lane="diffusion",
            only=others,
            pace={"email": timedelta(seconds=1 / config.diffusion.mail_per_second)},
            background=True,  # thousands of mails give way to the pages' writes
            metrics=metrics,
        ),
        OutboxDispatcher(
            db,
            ctx,
            {},
            on_failure=on_failure,
            batch=1,
            lane="diffusion-phone",
            only=phones,
            # A few small writes a second, which must keep the pace: not in the background.
            pace=dict.fromkeys(phones, timedelta(seconds=1 / config.diffusion.sms_per_second)),
            metrics=metrics,
        ),
    )
    for lane in diffusion_lanes:
        lane.channels = dispatcher.channels  # one set of channels: the adapters plug in once
    intake = IntakeService(
        db,
        clock,
        config.desk,
        hooks=[engine.start_runs],
        on_accepted=lambda d, r: metrics.signal_accepted(d.origin.channel.value, r.created, d.is_exercise),
    )
    actions = SignalActions(db, ctx)
    commands = DeskCommands(config, db, intake, actions, ctx)
    cell = CrisisCell(config, db, ctx, actions)
    crisis = build_crisis(cell)
    diffusions = Diffusions(config, db, ctx)
    drills = Drills(config, db, ctx, intake, cell, diffusions=diffusions)
    heartbeats = Heartbeats(config, db, ctx, intake, actions)
    maintenance = Maintenance(config, db, ctx)

    selfcheck = SelfCheck(config, db, ctx, metrics)

    async def watch_sources() -> int:
        """Silent sources raise their signal; expired maintenance windows end and say so; Vigie
        checks its own work."""
        return await heartbeats.run_due() + await maintenance.run_due() + await selfcheck.run_due()

    inbound = Inbound(
        config,
        ctx,
        intake,
        actions,
        commands,
        dispatcher,
        engine.poke,
        dispatcher.poke,
        crisis,
        diffusions,
        drills,
        maintenance,
    )

    def poke_diffusion_lanes() -> None:
        for lane in diffusion_lanes:
            lane.poke()

    diffusion_worker = RoundWorker(
        "diffusions", diffusions.run_due, poke_diffusion_lanes, interval=2.0, drain=True
    )

    async def channel_notice(channel: str, back: bool, since: datetime, error: str | None) -> None:
        await tell_officers(db, ctx, channel, back=back, since=since, now=clock.now(), error=error)
        dispatcher.poke()

    supervisor = AdapterSupervisor(
        health,
        clock,
        on_change=channel_notice,
        on_up=dispatcher.poke,
        reconnect_max=config.channels.reconnect_max,
    )
    vigie = Vigie(
        settings=settings,
        config=config,
        clock=clock,
        db=db,
        intake=intake,
        engine=engine,
        actions=actions,
        commands=commands,
        cell=cell,
        inbound=inbound,
        dispatcher=dispatcher,
        diffusion_lanes=diffusion_lanes,
        calendar=CalendarService(CalendarJobs(db, ctx), Leadership(db), poke=dispatcher.poke),
        metrics=metrics,
        tokens=api_tokens(config, settings),
        health=health,
        supervisor=supervisor,
        feeds=feed_signer(settings),
        crisis=crisis,
        rooms=RoomKeeper(cell, {}, dispatcher.poke, crisis.due),
        diffusions=diffusions,
        diffusion_worker=diffusion_worker,
        drills=drills,
        drill_worker=RoundWorker("drills", drills.run_due, dispatcher.poke),
        heartbeats=heartbeats,
        maintenance=maintenance,
        selfcheck=selfcheck,
        heartbeat_worker=RoundWorker(
            "sources", watch_sources, dispatcher.poke, interval=heartbeat_round(config)
        ),
        watchdog=DeadMansSwitch(config.watchdog, config.desk.name) if config.watchdog else None,
    )
    inbound.also_wake(vigie.rooms.poke)
    inbound.also_wake(vigie.diffusion_worker.poke)
    inbound.also_wake(vigie.drill_worker.poke)
    inbound.also_wake(poke_diffusion_lanes)
    channels = config.channels
    if not adapters:
        return vigie
    if channels.telegram.enabled:
        from handlers.telegram import TelegramAdapter

        vigie.plug(TelegramAdapter(vigie, channels.telegram))
    if channels.slack.enabled:
        from handlers.slack import SlackAdapter

        vigie.plug(SlackAdapter(vigie, channels.slack))
    if channels.matrix.enabled:
        from handlers.matrix import MatrixAdapter

        sync_lease = Leadership(db, key=MATRIX_SYNC_KEY)
        vigie.plug(MatrixAdapter(vigie, channels.matrix, lease=sync_lease, on_health=supervisor.report))
    if channels.twilio.enabled:
        from handlers.twilio_account import TwilioAccount
        from handlers.twilio_sms import TwilioSmsChannel

        account = TwilioAccount(channels.twilio, config.desk.public_url)
        vigie.plug(TwilioSmsChannel(vigie, account))
        if channels.twilio.voice:
            from handlers.twilio_voice import TwilioVoiceChannel

            vigie.plug(TwilioVoiceChannel(vigie, account))
    if channels.email.enabled:
        from handlers.email_out import EmailChannel

        vigie.plug(EmailChannel(vigie, channels.email))
    if channels.mailbox.enabled:
        from handlers.email_in import AlertMailbox

        vigie.plug(AlertMailbox(vigie, channels.mailbox))
    for adapter in vigie.adapters:
        if isinstance(adapter, RoomChannel):
            vigie.rooms.rooms[adapter.name] = adapter
    return vigie
