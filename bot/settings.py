"""Process settings from the environment (``VIGIE_…``): where things are, and the secrets."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain import Scope

if TYPE_CHECKING:
    from bot.config import VigieConfig

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///vigie.db"


@dataclass(frozen=True)
class ApiToken:
    """One API token; ``name`` is what logs and routes refer to, never the secret.

    Tokens of the configuration (``api_tokens``) have scopes and the people they may act for;
    the older ``VIGIE_API_TOKENS`` form gives full-scope tokens that may act for anyone."""

    name: str
    secret: str
    scopes: frozenset[Scope] = frozenset(Scope)
    act_as: frozenset[str] | None = None  # None: anyone
    legacy: bool = False  # from VIGIE_API_TOKENS

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.secret.encode()).hexdigest()[:8]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes

    def may_act_for(self, person_id: str | None) -> bool:
        """Whether this token may act in that person's name (None: in nobody's, the desk's)."""
        if Scope.PAGING_ACT not in self.scopes:
            return False
        return self.act_as is None or person_id in self.act_as


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore")

    config: Path = Path("config/vigie.yaml")
    database_url: str = DEFAULT_DATABASE_URL
    # Comma-separated; each item is ``token`` or ``name:token``.
    api_tokens: SecretStr | None = None
    # Signs the per-person calendar feed addresses (/ical/…); changing it revokes them all.
    feed_secret: SecretStr | None = None
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
        tokens.append(ApiToken(name=name.strip(), secret=secret.strip(), legacy=True))
    return tokens


def api_tokens(cfg: VigieConfig, settings: Settings) -> list[ApiToken]:
    """The configured tokens whose secret the environment holds, then the VIGIE_API_TOKENS ones
    (a configured token without its secret is reported by ``token_secrets``, not served)."""
    tokens: list[ApiToken] = []
    for entry in cfg.api_tokens:
        secret = os.environ.get(entry.variable, "").strip()
        if secret:
            act_as = None if entry.anyone else frozenset(entry.act_as)
            tokens.append(ApiToken(entry.name, secret, frozenset(entry.scopes), act_as))
    return tokens + settings.tokens()


def token_secrets(cfg: VigieConfig) -> list[tuple[str, str, bool]]:
    """(token name, variable, set?) for every configured API token."""
    return [(t.name, t.variable, bool(os.environ.get(t.variable, "").strip())) for t in cfg.api_tokens]


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
    if ch.matrix.enabled:
        needed.append(("matrix", ch.matrix.token_env, "jeton d'accès du compte du bot"))
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
