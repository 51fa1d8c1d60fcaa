"""Process settings from the environment (``VIGIE_…``): where things are, and the secrets."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.config import VigieConfig

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///vigie.db"


@dataclass(frozen=True)
class ApiToken:
    """One intake token; ``name`` is what logs and routes refer to, never the secret."""

    name: str
    secret: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()[:8]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore")

    config: Path = Path("config/vigie.yaml")
    database_url: str = DEFAULT_DATABASE_URL
    # Comma-separated; each item is ``token`` or ``name:token``.
    api_tokens: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    log_format: str = "json"

    def tokens(self) -> list[ApiToken]:
        if self.api_tokens is None:
            return []
        return parse_tokens(self.api_tokens.get_secret_value())


def parse_tokens(raw: str) -> list[ApiToken]:
    tokens: list[ApiToken] = []
    for index, item in enumerate((part.strip() for part in raw.split(",")), start=1):
        if not item:
            continue
        name, sep, secret = item.partition(":")
        if not sep:
            name, secret = f"token{index}", item
        if not secret:
            raise ValueError(f"VIGIE_API_TOKENS: l'élément n°{index} n'a pas de jeton après « {name}: »")
        tokens.append(ApiToken(name=name.strip(), secret=secret.strip()))
    return tokens


class MissingSecret(RuntimeError):
    """A channel is enabled but the environment variable holding its secret is empty."""


def env_secret(env: str, what: str) -> str:
    value = os.environ.get(env, "").strip()
    if not value:
        raise MissingSecret(
            f"{what} : la variable d'environnement {env} est vide ou absente "
            f"(the environment variable {env} is empty or missing)."
        )
    return value


def channel_secrets(cfg: VigieConfig) -> list[tuple[str, str, str, bool]]:
    """(channel, variable, what it holds, set?) for every secret the enabled channels need."""
    ch = cfg.channels
    needed: list[tuple[str, str, str]] = []
    if ch.telegram.enabled:
        needed.append(("telegram", ch.telegram.token_env, "jeton du bot"))
        if ch.telegram.mode == "webhook":
            needed.append(("telegram", ch.telegram.webhook_secret_env, "secret du webhook"))
    if ch.slack.enabled:
        needed.append(("slack", ch.slack.token_env, "jeton du bot xoxb-…"))
        needed.append(("slack", ch.slack.signing_secret_env, "signing secret"))
        if ch.slack.socket_mode:
            needed.append(("slack", ch.slack.app_token_env, "jeton d'application xapp-…"))
    if ch.twilio.enabled:
        needed.append(("twilio", ch.twilio.account_sid_env, "identifiant du compte AC…"))
        needed.append(("twilio", ch.twilio.auth_token_env, "jeton d'authentification"))
    if ch.email.enabled:
        needed.append(("email", ch.email.link_secret_env, "secret des liens signés"))
    return [(c, env, what, bool(os.environ.get(env, "").strip())) for c, env, what in needed]


def optional_env(env: str | None) -> str | None:
    value = os.environ.get(env, "").strip() if env else ""
    return value or None


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async drivers we ship."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    return url
