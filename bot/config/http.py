"""The HTTP listener's own pages: who may read the metrics and the API documentation."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from bot.config.types import Duration, StrictModel

# open: anyone who reaches the listener; token: a valid API token (Authorization: Bearer);
# off: not served at all.
Exposure = Literal["open", "token", "off"]


class HttpConfig(StrictModel):
    # Prometheus scrapes without credentials by convention: keep the listener private (or set
    # token, and give Prometheus a bearer token).
    metrics: Exposure = "open"
    # /docs, /redoc and /openapi.json: the API's description, no data.
    docs: Exposure = "open"
    # How long an idle kept-alive connection stays open. Above the clients' own idle timeouts
    # (Go's HTTP client, so Alertmanager: 90 s; nginx upstreams: 60 s), so that the client always
    # closes first: else a request sent on a connection the server is closing fails unanswered.
    keep_alive: Duration = timedelta(seconds=120)
