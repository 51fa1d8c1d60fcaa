"""Channels: Telegram, Slack, Twilio SMS and voice, e-mail, the alerte mailbox.

Secrets are named by their environment variables, never written here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import (
    EmailStr,
    Field,
    model_validator,
)

from bot.config.types import MATRIX_ID, Duration, PhoneNumber, StrictModel
from bot.domain import ChannelKind


class ConsoleChannel(StrictModel):
    enabled: bool = True


class TelegramConfig(StrictModel):
    enabled: bool = False
    # Environment variable holding the bot token (from @BotFather). Never the token itself.
    token_env: str = "VIGIE_TELEGRAM_TOKEN"
    # Bot API base URL, the token is appended: tests and air-gapped sites point it elsewhere.
    base_url: str = "https://api.telegram.org/bot"
    # polling: works behind a firewall; webhook: Telegram calls desk.public_url/telegram/webhook.
    mode: Literal["polling", "webhook"] = "polling"
    # Long-poll wait of getUpdates; also how long stopping the service may wait for it.
    poll_timeout: Duration = timedelta(seconds=10)
    webhook_secret_env: str = "VIGIE_TELEGRAM_WEBHOOK_SECRET"
    # Forum supergroup where crisis rooms are opened as topics (the bot must be admin there).
    crisis_chat_id: int | None = None


class SlackConfig(StrictModel):
    enabled: bool = False
    token_env: str = "VIGIE_SLACK_BOT_TOKEN"  # xoxb-…
    signing_secret_env: str = "VIGIE_SLACK_SIGNING_SECRET"
    # Web API base URL: tests and air-gapped sites point it elsewhere.
    base_url: str = "https://slack.com/api/"
    # Socket Mode: no public URL needed; an app-level token (xapp-…) instead of HTTP events.
    socket_mode: bool = False
    app_token_env: str = "VIGIE_SLACK_APP_TOKEN"


class TwilioConfig(StrictModel):
    """SMS through Twilio. Webhooks (inbound SMS, delivery status) are called on
    desk.public_url: /twilio/sms and /twilio/status."""

    enabled: bool = False
    account_sid_env: str = "VIGIE_TWILIO_ACCOUNT_SID"
    auth_token_env: str = "VIGIE_TWILIO_AUTH_TOKEN"
    # REST API base URL: tests and air-gapped sites point it elsewhere.
    base_url: str = "https://api.twilio.com"
    # The desk's number: pages come from it, and SMS sent to it are signals or replies.
    sms_from: PhoneNumber | None = None
    # Voice pages (calls read in French, keys 1/2/9); from voice_from, else sms_from.
    voice: bool = True
    voice_from: PhoneNumber | None = None


class EmailConfig(StrictModel):
    """Pages and notices by e-mail (aiosmtplib), with signed links to take or escalate."""

    enabled: bool = False
    smtp_host: str = "localhost"
    smtp_port: int = 587
    # starttls (port 587), tls (implicit, port 465) or none (a local relay only).
    security: Literal["starttls", "tls", "none"] = "starttls"
    username_env: str | None = "VIGIE_SMTP_USERNAME"
    password_env: str | None = "VIGIE_SMTP_PASSWORD"
    from_address: EmailStr = "vigie@localhost.localdomain"
    # Secret that signs the links in e-mails (environment variable).
    link_secret_env: str = "VIGIE_LINK_SECRET"
    link_ttl: Duration = timedelta(hours=24)
    # Sessions with the relay kept open at once (mails in flight); the name given in EHLO
    # (None: the machine's own, looked up once).
    sessions: int = Field(default=4, ge=1, le=32)
    helo_hostname: str | None = None


class MailboxConfig(StrictModel):
    """The "alerte" mailbox: an SMTP receiver; each mail is a signal (or a reply to one)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2525
    addresses: list[EmailStr] = Field(default_factory=list)
    max_bytes: int = 10 * 1024 * 1024


class MatrixConfig(StrictModel):
    """Tchap, or any Matrix homeserver (matrix-nio): pages in direct rooms, intake, crisis rooms."""

    enabled: bool = False
    # The homeserver's client API (Tchap: the one of the bot account's domain).
    homeserver: str = Field(default="https://matrix.agent.tchap.gouv.fr", pattern=r"^https?://")
    user_id: str | None = Field(default=None, pattern=MATRIX_ID)  # @vigie-…:agent.tchap.gouv.fr
    # Environment variable holding the bot account's access token. Never the token itself.
    token_env: str = "VIGIE_MATRIX_TOKEN"
    # Long-poll wait of /sync; also how long stopping the service may wait for it.
    sync_timeout: Duration = timedelta(seconds=30)
    # End-to-end encryption (Tchap's private rooms): the bot's keys live in store_dir, which
    # must be kept (and backed up) with the bot's device; losing it makes old messages unreadable.
    encryption: bool = True
    store_dir: str = "var/matrix-store"
    # Open a Matrix room for each crisis (name, topic, alias #crise-…, members invited).
    crisis_rooms: bool = True

    @model_validator(mode="after")
    def _account(self) -> MatrixConfig:
        if self.enabled and not self.user_id:
            raise ValueError("channels.matrix.user_id : l'identifiant du compte du bot (@vigie:serveur)")
        return self


class ChannelsConfig(StrictModel):
    console: ConsoleChannel = Field(default_factory=ConsoleChannel)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    twilio: TwilioConfig = Field(default_factory=TwilioConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    mailbox: MailboxConfig = Field(default_factory=MailboxConfig)
    matrix: MatrixConfig = Field(default_factory=MatrixConfig)
    # A provider unreachable at start leaves its channel degraded; it is tried again with
    # exponential back-off (random jitter), at most this long between two attempts.
    reconnect_max: Duration = timedelta(seconds=60)

    def enabled(self) -> list[ChannelKind]:
        kinds = []
        if self.console.enabled:
            kinds.append(ChannelKind.CONSOLE)
        if self.telegram.enabled:
            kinds.append(ChannelKind.TELEGRAM)
        if self.slack.enabled:
            kinds.append(ChannelKind.SLACK)
        if self.twilio.enabled:
            kinds.append(ChannelKind.SMS)
            if self.twilio.voice:
                kinds.append(ChannelKind.VOICE)
        if self.email.enabled:
            kinds.append(ChannelKind.EMAIL)
        if self.matrix.enabled:
            kinds.append(ChannelKind.MATRIX)
        return kinds
