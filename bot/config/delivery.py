"""Delivery: time-outs, retries and per-contact rate limits."""

from __future__ import annotations

from datetime import timedelta

from pydantic import (
    Field,
)

from bot.config.types import Duration, StrictModel
from bot.domain import ChannelKind


class RateLimit(StrictModel):
    count: int = Field(ge=1)
    per: Duration
    # Merge messages waiting for the same contact into one (SMS); false: only delay them
    # (chat, where a page keeps its own buttons).
    merge: bool = True


def _default_rate_limits() -> dict[ChannelKind, RateLimit]:
    # Telegram allows about one message per second to one chat.
    return {ChannelKind.TELEGRAM: RateLimit(count=1, per=timedelta(seconds=1), merge=False)}


def _default_room_rate_limits() -> dict[ChannelKind, RateLimit]:
    # Telegram allows about 20 messages a minute in one group (all its topics together): posts
    # beyond wait, merged into one (never dropped).
    return {ChannelKind.TELEGRAM: RateLimit(count=20, per=timedelta(minutes=1), merge=True)}


class DeliveryConfig(StrictModel):
    # A page not delivered within this time fails over to the person's next channel.
    timeout: Duration = timedelta(minutes=2)
    # A message claimed by an instance that has not reported on it after this long: that
    # instance died (kill -9, power cut) and the message is looked at again.
    claim_lease: Duration = timedelta(minutes=5)
    # Quick in-process retries of a transient failure (tenacity), then durable back-off.
    retries: int = Field(default=3, ge=1, le=10)
    max_attempts: int = Field(default=6, ge=1, le=50)
    # Messages handed to the providers at once (to different people or channels; one person's
    # messages on one channel always leave in order).
    parallel: int = Field(default=8, ge=1, le=64)
    # Per contact and channel, e.g. sms: {count: 1, per: 1m}. Never drops: delays or merges.
    rate_limits: dict[ChannelKind, RateLimit] = Field(default_factory=_default_rate_limits)
    # Posts into crisis rooms, per group ("<chat>:<topic>" rooms of one chat count together).
    room_rate_limits: dict[ChannelKind, RateLimit] = Field(default_factory=_default_room_rate_limits)
