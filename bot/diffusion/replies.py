"""What a diffusion command answers, and how it refuses."""

from __future__ import annotations

from dataclasses import dataclass


class DiffusionError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class DiffusionReply:
    text: str
    ok: bool = True
    changed: bool = False
    reference: str | None = None
    code: str | None = None
