"""The HTTP listener's own pages: who may read the metrics and the API documentation."""

from __future__ import annotations

from typing import Literal

from bot.config.types import StrictModel

# open: anyone who reaches the listener; token: a valid API token (Authorization: Bearer);
# off: not served at all.
Exposure = Literal["open", "token", "off"]


class HttpConfig(StrictModel):
    # Prometheus scrapes without credentials by convention: keep the listener private (or set
    # token, and give Prometheus a bearer token).
    metrics: Exposure = "open"
    # /docs, /redoc and /openapi.json: the API's description, no data.
    docs: Exposure = "open"
