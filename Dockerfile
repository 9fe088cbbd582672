# hailuo-bot: a slim image that runs as an unprivileged user and keeps its SQLite file on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/hailuo-bot.sqlite3 \
    HTTP_HOST=0.0.0.0

RUN useradd --create-home --uid 10001 hailuo \
    && mkdir /data && chown hailuo:hailuo /data

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install .

USER hailuo
VOLUME ["/data"]
# The HTTP server: /healthz, and Apiframe's webhooks when APIFRAME_WEBHOOK_URL is set.
EXPOSE 8080

# SIGTERM (docker stop) makes the bot stop taking work, save state and exit.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
