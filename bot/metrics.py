"""Prometheus metrics, on a registry of the app's own (several apps may live in one test process)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The *_created series only add noise to every scrape.
disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # python_gc_*: `vigie` holds the collector off while it loads (bot.launch); these show
        # it runs again once the service is up, and what its collections cost.
        GCCollector(registry=self.registry)
        self.signals_received = Counter(
            "vigie_signals_received_total",
            "Signals received, by source channel, outcome (new signal or attached duplicate) and "
            "whether it is an exercise (drills count apart from real signals)",
            ["source", "outcome", "exercise"],
            registry=self.registry,
        )
        self.intake_latency = Histogram(
            "vigie_intake_latency_seconds",
            "Time from request to committed signal",
            ["source"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self.intake_failures = Counter(
            "vigie_intake_failures_total",
            "Intake requests refused because the store was unavailable",
            ["source"],
            registry=self.registry,
        )

        self.messages_sent = Counter(
            "vigie_messages_sent_total",
            "Messages handed to their channel, by channel, kind (page, notice, receipt…) and "
            "whether they are about an exercise",
            ["channel", "kind", "exercise"],
            registry=self.registry,
        )

        self.selfcheck = Gauge(
            "vigie_selfcheck_problems",
            "What Vigie's self-check finds stalled: overdue ladder steps, messages stuck in sending, "
            "channels whose last deliveries all failed (0: all well)",
            ["check"],
            registry=self.registry,
        )

        self.timer_lateness = Histogram(
            "vigie_ladder_step_lateness_seconds",
            "How late each ladder step ran against its due time",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
            registry=self.registry,
        )

        self.channel_up = Gauge(
            "vigie_channel_up",
            "1 when the channel's provider answers, 0 while it is degraded (Vigie keeps retrying)",
            ["channel"],
            registry=self.registry,
        )
        self.channel_outages = Counter(
            "vigie_channel_outages_total",
            "Times a channel's provider became unreachable",
            ["channel"],
            registry=self.registry,
        )

    def signal_accepted(self, source: str, created: bool, exercise: bool) -> None:
        self.signals_received.labels(
            source, "new" if created else "duplicate", "true" if exercise else "false"
        ).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
