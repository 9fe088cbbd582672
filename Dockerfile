# hailuo-bot: a slim image that runs as an unprivileged user and keeps its SQLite file on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/hailuo-bot.sqlite3 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080

RUN useradd --create-home --uid 10001 hailuo \
    && mkdir /data && chown hailuo:hailuo /data

WORKDIR /app
# The pinned versions first, so that a code change does not reinstall the dependencies.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-deps .

USER hailuo
VOLUME ["/data"]
# The HTTP server: /healthz, /readyz, /metrics, and Apiframe's webhooks when they are on.
EXPOSE 8080
# Asks /readyz on whatever HTTP_PORT the bot was given (the probe reads the same settings).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "health"]

# SIGTERM (docker stop) makes the bot stop taking work, save state and exit.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
