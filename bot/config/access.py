"""API tokens: who each one is, what it may do, and for whom it may act. Secrets stay in the
environment (``env``); the file only names them."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from bot.config.types import SLUG, StrictModel
from bot.domain import Scope

ANYONE = "*"


class ApiTokenConfig(StrictModel):
    name: str = Field(pattern=SLUG, max_length=64)
    # The environment variable holding the secret; default VIGIE_TOKEN_<NAME>.
    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    scopes: list[Scope] = Field(min_length=1)
    # The people this token may act for (paging:act), or « * » for anyone.
    act_as: list[str] = Field(default_factory=list)

    @field_validator("scopes")
    @classmethod
    def _no_repeat(cls, value: list[Scope]) -> list[Scope]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _act_as_needs_scope(self) -> ApiTokenConfig:
        acts = Scope.PAGING_ACT in self.scopes
        if acts and not self.act_as:
            raise ValueError(
                "la portée paging:act demande act_as : les personnes pour qui ce jeton agit (ou « * »)"
            )
        if self.act_as and not acts:
            raise ValueError("act_as sans la portée paging:act n'a pas d'effet : ajoutez paging:act")
        return self

    @property
    def variable(self) -> str:
        return self.env or "VIGIE_TOKEN_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    @property
    def anyone(self) -> bool:
        return ANYONE in self.act_as
