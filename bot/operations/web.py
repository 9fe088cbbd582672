"""The bot's one HTTP server: health for the owner's supervisor, metrics for Prometheus, and
Apiframe's webhooks, on one port.

- `GET /healthz`: 200 while the process runs.
- `GET /readyz`: 200 only when every check the bot registers passes (the gateway is READY, the
  database takes a write, the job runner beats); otherwise 503. Either way the JSON body names
  each part and its state, and nothing secret. Probed at most every few seconds.
- `GET /metrics`: Prometheus' text format, from memory; with a token set, only for
  `Authorization: Bearer`.

`POST /apiframe/webhook` trusts nothing it is sent. A delivery must carry a valid
`X-Webhook-Signature` (HMAC-SHA256 of the raw body, keyed with the raw SHA-256 digest of the
API key, as `sha256=<hex>` or bare hex, compared in constant time) or it gets 401 and changes
nothing; any malformed header or body is a 4xx, never a 500 (a body is at most
`WEBHOOK_MAX_BYTES`, a JSON object nested at most `WEBHOOK_MAX_DEPTH` deep). Refusals are counted
in /metrics and logged at most once a minute. A signed delivery is only news: it wakes the
job's watcher, which asks Apiframe for the job itself, so a repeated, late or out-of-order
delivery can never charge, refund or deliver twice, and one identical to a delivery already
handled (the same job and status: a retry, or a captured body replayed) is acknowledged without
any work. An unknown job gets 200 (Apiframe must not retry it forever) and is ignored.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

from aiohttp import web

from bot.apiframe.webhooks import signature_valid
from bot.errors import StartupFailed
from bot.logs import Throttled
from bot.metrics import CONTENT_TYPE, Metrics
from bot.settings import Secret

log = logging.getLogger(__name__)

WEBHOOK_PATH: Final = "/apiframe/webhook"
WEBHOOK_MAX_BYTES: Final = 64 * 1024
WEBHOOK_MAX_DEPTH: Final = 16  # Apiframe's deliveries nest three or four levels
HEARD_KEPT: Final = 4096  # deliveries remembered, to acknowledge a repeat without work
SIGNATURE_HEADER: Final = "X-Webhook-Signature"

# (Apiframe job id, status, progress) -> whether the job is one of this bot's.
# True: the job is the bot's; False: it is not (ignored); None: the bot is still starting, and
# the delivery is refused with 503 so that it may come again.
NewsHandler = Callable[[str, str, int | None], Awaitable[bool | None]]
# An archived video's file by its public name (None: no such video, or not to be shown).
VideoFinder = Callable[[str], Awaitable[Path | None]]
VIDEOS_PATH: Final = "/videos"
PUBLIC_NAME: Final = re.compile(r"[A-Za-z0-9_-]{32,64}")
# Each readiness check: None when healthy, else a short reason.
ReadinessCheck = Callable[[], Awaitable[str | None]]
READINESS_TIMEOUT: Final = 3.0
# /readyz answers from a probe this many seconds old at most: a poller (or anyone, where the
# port is published) cannot make the bot take its database's write lock on every request.
READINESS_CACHE: Final = 5.0


class WebServer:
    """An aiohttp application on `host:port`; port 0 in the settings means no server."""

    def __init__(self, host: str, port: int, *, metrics: Metrics | None = None) -> None:
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=WEBHOOK_MAX_BYTES)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self._runner: web.AppRunner | None = None
        self._checks: dict[str, ReadinessCheck] = {}
        self._probing = asyncio.Lock()
        self._probed_at = float("-inf")
        self._last_parts: dict[str, str] = {}
        self._metrics = metrics
        self.webhooks_accepted = 0
        self.webhooks_refused = 0
        self._heard: OrderedDict[tuple[str, str, int | None], None] = OrderedDict()
        self._refused_log = Throttled(log, every=60.0)

    def add_readiness(self, part: str, check: ReadinessCheck) -> None:
        self._checks[part] = check

    def add_metrics(self, metrics: Metrics, token: Secret | None) -> None:
        """Serve `/metrics` from what is kept in memory: a scrape never queries the database
        (the gauges from it are brought up to date in the background)."""
        expected = None if token is None else f"Bearer {token.get_secret_value()}".encode()

        async def scrape(request: web.Request) -> web.Response:
            given = request.headers.get("Authorization", "").encode()
            if expected is not None and not hmac.compare_digest(given, expected):
                return web.json_response(
                    {"error": "a bearer token is required"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

        self.app.router.add_get("/metrics", scrape)

    def add_videos(self, find: VideoFinder) -> None:
        """Serve archived videos at `/videos/<name>.mp4`, by their unguessable names only:
        HEAD and byte ranges (players seek), the right content type, nothing else listed."""

        async def serve(request: web.Request) -> web.StreamResponse:
            name = request.match_info["name"]
            path = await find(name) if PUBLIC_NAME.fullmatch(name) else None
            if path is None or not path.is_file():
                return web.json_response({"error": "no such video"}, status=404)
            return web.FileResponse(
                path,
                headers={
                    "Content-Type": "video/mp4",
                    # Never kept by a shared cache: a deleted video must not be served from one.
                    "Cache-Control": "private, max-age=3600",
                    "X-Content-Type-Options": "nosniff",
                },
            )

        # GET answers HEAD too (aiohttp adds it), with the same headers and no body.
        self.app.router.add_get(VIDEOS_PATH + "/{name}.mp4", serve)

    def mount(self, prefix: str, app: web.Application) -> None:
        """Serve another application under `prefix` (the dashboard)."""
        self.app.add_subapp(prefix, app)

    def add_webhook(self, signing_key: bytes, on_news: NewsHandler) -> None:
        async def receive(request: web.Request) -> web.Response:
            return await self._receive(request, signing_key, on_news)

        self.app.router.add_post(WEBHOOK_PATH, receive)

    @property
    def bound_port(self) -> int:
        """The port actually listened on (useful when 0 asked the system for one)."""
        if self._runner is None or not self._runner.addresses:
            return 0
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise StartupFailed(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror}): is the bot already "
                "running (python -m bot health)? If so, it needs no second copy; if not, set "
                "HTTP_PORT to a free port, or 0 to turn the HTTP server off"
            ) from None
        log.info("HTTP server listening on %s:%d", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    @staticmethod
    async def _healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        parts = await self._readiness()
        ready = all(state == "ok" for state in parts.values())
        return web.json_response(
            {"status": "ready" if ready else "not ready", "parts": parts},
            status=200 if ready else 503,
        )

    async def _readiness(self) -> dict[str, str]:
        """Each part's state, probed at most once every `READINESS_CACHE` seconds however often
        it is asked (a probe takes the database's write lock), and by one request at a time."""
        async with self._probing:
            if time.monotonic() - self._probed_at < READINESS_CACHE:
                return self._last_parts
            parts: dict[str, str] = {}
            for part, check in self._checks.items():
                try:
                    async with asyncio.timeout(READINESS_TIMEOUT):
                        problem = await check()
                except TimeoutError:
                    problem = f"no answer within {READINESS_TIMEOUT:.0f} s"
                except Exception as exc:  # noqa: BLE001 - a failing check is the answer
                    problem = f"check failed: {type(exc).__name__}"
                parts[part] = "ok" if problem is None else problem
            if self._metrics is not None:
                self._metrics.readiness_probes.inc()
            self._last_parts, self._probed_at = parts, time.monotonic()
            return parts

    async def _receive(
        self, request: web.Request, signing_key: bytes, on_news: NewsHandler
    ) -> web.Response:
        if (request.content_length or 0) > WEBHOOK_MAX_BYTES:
            return self._refuse(413, "body too large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(413, "body too large")
        if not signature_valid(signing_key, body, request.headers.get(SIGNATURE_HEADER)):
            return self._refuse(401, "bad signature")
        payload = parsed(body)
        if payload is None:
            return self._refuse(400, "not a JSON object of a sane depth")
        job_id, status = payload.get("jobId"), payload.get("status")
        if not isinstance(job_id, str) or not isinstance(status, str):
            return self._refuse(400, "no jobId or status")
        progress = payload.get("progress")
        if not isinstance(progress, int) or not 0 <= progress <= 100:
            progress = None
        news = (job_id, status, progress)
        if news in self._heard:
            # Delivered again (Apiframe retries; a captured body replayed): known already.
            self._count("duplicate")
            return web.json_response({"received": True})
        known = await on_news(job_id, status, progress)
        if known is None:
            return self._refuse(503, "the bot is still starting")
        self._heard[news] = None
        while len(self._heard) > HEARD_KEPT:
            self._heard.popitem(last=False)
        self.webhooks_accepted += 1
        self._count("accepted")
        if not known:
            log.info(
                "webhook for Apiframe job %s, which is not (yet) one of this bot's; ignored", job_id
            )
        return web.json_response({"received": True})

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.webhooks.labels(result).inc()

    def _refuse(self, status: int, why: str) -> web.Response:
        """A refused delivery: counted, and logged at most once a minute (a flood of forged
        requests is a count in /metrics and a line a minute, not a line each)."""
        self.webhooks_refused += 1
        self._count("refused")
        self._refused_log.warning("refused webhook deliveries: %s (HTTP %d)", why, status)
        return web.json_response({"error": why}, status=status)


def parsed(body: bytes) -> dict[str, object] | None:
    """The body as a JSON object, or None for anything else: not JSON, not an object, or
    nested deeper than any webhook of Apiframe's (which would exhaust the parser's stack)."""
    if json_depth(body) > WEBHOOK_MAX_DEPTH:
        return None
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (strings skipped), in one pass."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest
