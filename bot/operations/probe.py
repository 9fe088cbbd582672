"""`python -m bot health`: ask the running bot's `/readyz`, for a container's HEALTHCHECK or a
supervisor's probe. It reads the same settings as the bot (the environment, then `.env`), so
the probe follows `HTTP_PORT` and `HTTP_HOST` wherever the owner sets them.

Exit code 0 when the bot is ready; 1 with one line saying what is not (or that nothing
answers). Standard library only: it runs every few seconds and must start fast.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Final, TextIO

from bot.settings import ServiceSettings

PROBE_TIMEOUT: Final = 4.0
# A server listening on every address is asked on loopback.
WILDCARDS: Final = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def readyz_url(settings: ServiceSettings) -> str:
    host = WILDCARDS.get(settings.http_host, settings.http_host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}/readyz"


def probe(settings: ServiceSettings, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if not settings.http_port:
        print(
            "hailuo-bot: the HTTP server is off (HTTP_PORT=0), so there is nothing to probe: "
            "set HTTP_PORT to a port",
            file=err,
        )
        return 1
    url = readyz_url(settings)
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:  # noqa: S310 - http only
            response.read()
    except urllib.error.HTTPError as exc:
        print(f"hailuo-bot: not ready: {_not_ready(exc)}", file=err)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"hailuo-bot: nothing answers at {url} ({reason}): is the bot running?", file=err)
        return 1
    print("ready", file=out)
    return 0


def _not_ready(error: urllib.error.HTTPError) -> str:
    """The parts that are not ok, from the body of a 503."""
    try:
        parts = json.loads(error.read()).get("parts", {})
    except (ValueError, AttributeError, OSError):
        return f"HTTP {error.code}"
    failing = [f"{part}: {state}" for part, state in parts.items() if state != "ok"]
    return "; ".join(failing) or f"HTTP {error.code}"
