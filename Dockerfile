FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIGIE_HOST=0.0.0.0 VIGIE_PORT=8080 \
    VIGIE_DATABASE_URL=sqlite+aiosqlite:////data/vigie.db \
    VIGIE_CONFIG=/app/config/vigie.yaml

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
# The versions CI tested, hashes checked; then Vigie itself without re-resolving.
RUN pip install --no-cache-dir -r requirements.lock
COPY bot ./bot
COPY handlers ./handlers
COPY escalation ./escalation
RUN pip install --no-cache-dir --no-deps . && useradd --system --home /app vigie && mkdir /data && chown vigie /data
COPY config ./config

USER vigie
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["vigie", "serve"]
