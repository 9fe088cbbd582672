"""Logging set-up that keeps secrets out of every line, whatever code logs them.

Two formats: readable text (the default) and, with `LOG_FORMAT=json`, one JSON object per line
(timestamp, level, logger, message, and the job id, server id and Apiframe request id where
known). The job and server come from the context of the task that logs: each job's task sets
them once with `log_context`, and every line it logs, wherever the code is, carries them.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Final, Literal

REDACTED = "[redacted]"
LogFormat = Literal["text", "json"]

_context: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "hailuo_log_context", default=None
)


def log_context(**fields: object) -> None:
    """Attach fields (job_id, guild_id, apiframe_request_id) to every log line of the current
    task from now on."""
    _context.set({**(_context.get() or {}), **fields})


class Throttled:
    """At most one line per `every` seconds from one source of repeated warnings (a flood of
    forged webhooks, a starved pool): the lines held back are counted in the next one, so a
    flood costs a line a minute, not a line a request."""

    def __init__(
        self, logger: logging.Logger, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._every = every
        self._clock = clock
        self._last = float("-inf")
        self.held_back = 0

    def warning(self, message: str, *args: object) -> None:
        now = self._clock()
        if now - self._last < self._every:
            self.held_back += 1
            return
        if self.held_back:
            message += f" (and {self.held_back} more like it in the last {self._every:.0f} s)"
        self._logger.warning(message, *args)
        self._last, self.held_back = now, 0


class AddContext(logging.Filter):
    """Copies the task's job context onto each record (an explicit `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


# Secrets that are not settings: the reply tokens Discord gives with every interaction, in the
# URLs discord.py logs at DEBUG and in event payloads. Whoever holds one can answer as the bot.
TOKEN_PATTERNS: Final = (
    (re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9_.\-]{16,}"), r"\1[redacted]"),
    (re.compile(r"""(["']token["']\s*:\s*["'])[^"']+"""), r"\1[redacted]"),
)


class RedactSecrets(logging.Filter):
    """Replaces each secret with a marker in the message, its arguments and any traceback:
    the settings' secrets, and the interaction tokens of every request."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in TOKEN_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
            # Formatters would render the traceback again from exc_info, secrets and all.
            record.exc_info = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def formatter(style: LogFormat) -> logging.Formatter:
    if style == "json":
        from pythonjsonlogger.json import JsonFormatter  # noqa: PLC0415 - for LOG_FORMAT=json only

        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "timestamp",
                "levelname": "level",
                "name": "logger",
                "exc_info": "traceback",
            },
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    return logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s")


def configure_logging(level: str, secrets: Iterable[str], style: LogFormat = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(style))
    handler.addFilter(AddContext())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # discord.py's gateway and login chatter is noise at INFO.
    for chatty in ("discord.gateway", "discord.client"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
