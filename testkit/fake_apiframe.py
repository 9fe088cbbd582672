"""A fake Apiframe v2 on 127.0.0.1 that plays scripted jobs and faults.

Request bodies are checked against Apiframe's published OpenAPI schema when `../shared` is
beside the repository (it is in CI); the structural checks below run everywhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from testkit.media import small_mp4

API_KEY = "afk_test_key_0123456789abcdef"
SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "apiframe" / "openapi-v2-hailuo.json"
HAILUO_PARAMS = {"duration", "resolution", "image", "end_image", "prompt_optimizer"}
TOP_LEVEL = {"prompt", "model", "hailuoParams", "webhookUrl", "webhookEvents"}
MODELS = ("hailuo-02", "hailuo-2.3", "hailuo-2.3-fast")
# What this Apiframe bills per variant: the published prices, and for Hailuo 2.3 Fast (whose
# price is not published) less than Hailuo 2.3's, so that an owner's margin shows.
CREDIT_COSTS: dict[tuple[str, str, int], int] = {
    ("hailuo-02", "768p", 6): 5,
    ("hailuo-02", "768p", 10): 8,
    ("hailuo-02", "1080p", 6): 10,
    ("hailuo-2.3", "768p", 6): 5,
    ("hailuo-2.3", "768p", 10): 10,
    ("hailuo-2.3", "1080p", 6): 10,
    ("hailuo-2.3-fast", "768p", 6): 3,
    ("hailuo-2.3-fast", "768p", 10): 6,
    ("hailuo-2.3-fast", "1080p", 6): 6,
}


def load_schema_validator() -> Any | None:
    if not SPEC_PATH.exists():
        return None
    import jsonschema  # type: ignore[import-untyped]

    spec = json.loads(SPEC_PATH.read_text())
    schema = spec["components"]["schemas"]["GenerateVideoRequest"]
    return jsonschema.Draft202012Validator(schema)


def respond(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        content_type="application/json",
        headers={"x-request-id": uuid.uuid4().hex, **(headers or {})},
    )


@dataclass
class JobScript:
    """How one job behaves: how many polls it stays running, and how it ends."""

    outcome: str = "COMPLETED"  # COMPLETED, FAILED or CANCELLED
    polls_before_done: int = 2
    error: str = "Upstream provider error: generation failed"
    result_shape: str = "videoUrl"  # videoUrl, string or videos
    render_seconds: float | None = None  # if set, done by time instead of by polls
    # With render_seconds: report 1% until this share of the render, then jump to done.
    stall_share: float = 0.0
    report_progress: bool = True


@dataclass
class RemoteJobState:
    id: str
    body: dict[str, Any]
    idempotency_key: str | None
    script: JobScript
    created: float = field(default_factory=time.monotonic)
    polls: int = 0
    poll_times: list[float] = field(default_factory=list)
    completed_at: float | None = None

    @property
    def model(self) -> str:
        return str(self.body.get("model", "hailuo-02"))

    @property
    def credit_cost(self) -> int:
        """What Apiframe bills for this job's variant."""
        params = self.body.get("hailuoParams") or {}
        variant = (self.model, params.get("resolution", "768p"), params.get("duration", 6))
        return CREDIT_COSTS.get(variant, 5)


@dataclass
class Fault:
    method: str
    path_prefix: str
    status: int = 503
    body: Any = field(default_factory=lambda: {"error": "Service unavailable"})
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0
    raw: bytes | None = None


class FakeApiframe:
    def __init__(self) -> None:
        self.validator = load_schema_validator()
        self.jobs: dict[str, RemoteJobState] = {}
        self.by_idempotency_key: dict[str, RemoteJobState] = {}
        self.scripts: list[JobScript] = []
        self.default_script = JobScript()
        self.faults: list[Fault] = []
        self.uploads: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.request_times: list[float] = []  # time.monotonic() of each request, in order
        self.rejected_bodies: list[tuple[dict[str, Any], list[str]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        # Called with the request before it is handled, and after it: a test can stall a
        # request or end the bot at that moment.
        self.before: list[Callable[[web.Request], Awaitable[None]]] = []
        self.after: list[Callable[[web.Request], Awaitable[None]]] = []
        # The finished videos on the fake CDN: what they hold, and how the CDN behaves
        # ("ok", "missing" (404), "html" (not a video), "purged" (gone, as after a day)).
        self.video_bytes = small_mp4()
        self.cdn_mode = "ok"
        self.cdn_requests = 0
        # Webhooks: sent for jobs whose body asks for them and that finish by time.
        self.webhooks_sent: list[tuple[str, int]] = []  # (event, HTTP status answered)
        self.webhook_key: str = API_KEY  # what the signature is keyed with
        self.webhook_copies = 1  # each event sent this many times (at-least-once delivery)
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v2/uploads", self._upload)
        app.router.add_post("/v2/videos/generate", self._generate)
        app.router.add_get("/v2/jobs/{id}", self._job)
        app.router.add_get("/v2/me", self._me)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/cdn/videos/{name}", self._video)
        app.middlewares.append(self._middleware)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for task in list(self._webhook_tasks):
            task.cancel()
        await asyncio.gather(*self._webhook_tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def video_url(self, job_id: str) -> str:
        return f"{self.base_url}/cdn/videos/{job_id}.mp4"

    def signature(self, body: bytes, key: str | None = None) -> str:
        digest = hashlib.sha256((key or self.webhook_key).encode()).digest()
        return "sha256=" + hmac.new(digest, body, hashlib.sha256).hexdigest()

    async def send_webhook(
        self, url: str, payload: dict[str, Any], *, signature: str | None = None
    ) -> int:
        """POST one webhook as Apiframe does; returns the HTTP status the bot answered."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Event": str(payload.get("event")),
            "X-Webhook-Signature": signature or self.signature(body),
        }
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                status = response.status
        except aiohttp.ClientError:
            status = 0
        self.webhooks_sent.append((str(payload.get("event")), status))
        return status

    def _schedule_webhooks(self, job: RemoteJobState) -> None:
        url = job.body.get("webhookUrl")
        render = job.script.render_seconds
        if not isinstance(url, str) or render is None:
            return

        async def run() -> None:
            await asyncio.sleep(render / 2)
            view = self._view(job)
            if view["status"] not in ("COMPLETED", "FAILED", "CANCELLED"):
                await self.send_webhook(
                    url,
                    {
                        "event": "progress",
                        "jobId": job.id,
                        "status": "PROCESSING",
                        "progress": view["progress"],
                        "model": job.model,
                    },
                )
            await asyncio.sleep(max(0.0, job.created + render - time.monotonic()))
            view = self._view(job)
            event = "completed" if view["status"] == "COMPLETED" else "failed"
            payload = {
                "event": event,
                "jobId": job.id,
                "status": view["status"],
                "model": job.model,
            }
            if event == "completed":
                payload.update(
                    progress=100,
                    result=view.get("result"),
                    creditCost=job.credit_cost,
                    completedAt=view["completedAt"],
                )
            else:
                payload["error"] = view.get("error")
            for _ in range(self.webhook_copies):
                await self.send_webhook(url, payload)

        task = asyncio.create_task(run())
        self._webhook_tasks.add(task)
        task.add_done_callback(self._webhook_tasks.discard)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def job_requests(self) -> list[tuple[str, str]]:
        """Every request about uploads and jobs (not the bot's start-up account check)."""
        return [(m, p) for m, p, _ in self.requests if p != "/v2/me"]

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p.startswith(prefix))

    def fail(self, method: str, path_prefix: str, status: int = 503, **kwargs: Any) -> None:
        self.faults.append(Fault(method, path_prefix, status, **kwargs))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.headers)))
        self.request_times.append(time.monotonic())
        await self.gate.wait()
        public = request.path.startswith(("/files/", "/cdn/"))
        if not public and request.headers.get("X-API-Key") != API_KEY:
            return respond({"error": "Invalid API key"}, 401)
        for fault in self.faults:
            if (
                fault.times > 0
                and fault.method == request.method
                and request.path.startswith(fault.path_prefix)
            ):
                fault.times -= 1
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.raw is not None:
                    return web.Response(
                        body=fault.raw, status=fault.status, content_type="text/html"
                    )
                if fault.status == 0:
                    # a dropped connection
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=500)
                return respond(fault.body, fault.status, fault.headers)
        for hook in list(self.before):
            await hook(request)
        response: web.StreamResponse = await handler(request)
        for hook in list(self.after):
            await hook(request)
        return response

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        field_ = form.get("file")
        if not isinstance(field_, web.FileField):
            return respond({"error": "file is required"}, 400)
        data = field_.file.read()
        upload_id = str(uuid.uuid4())
        self.uploads[upload_id] = (data, field_.content_type)
        return respond(
            {
                "id": upload_id,
                "url": f"{self.base_url}/files/{upload_id}",
                "kind": "image",
                "contentType": field_.content_type,
                "byteSize": len(data),
                "expiresAt": "2026-11-24T12:00:00Z",
            },
            201,
        )

    def problems_with(self, body: Any) -> list[str]:
        problems: list[str] = []
        if self.validator is not None:
            problems += [f"schema: {e.message}" for e in self.validator.iter_errors(body)]
        if not isinstance(body, dict):
            return [*problems, "body is not an object"]
        problems += [f"unknown key {k}" for k in set(body) - TOP_LEVEL]
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt.encode("utf-16-le")) // 2 <= 2000:
            problems.append("prompt must be 1..2000 characters")
        model = body.get("model")
        if model not in MODELS:
            problems.append(f"model must be one of {', '.join(MODELS)}")
        params = body.get("hailuoParams", {})
        if not isinstance(params, dict):
            return [*problems, "hailuoParams must be an object"]
        if "end_image" in params and model != "hailuo-02":
            problems.append(f"{model} takes no end_image")
        if model == "hailuo-2.3-fast" and "image" not in params:
            problems.append("hailuo-2.3-fast needs image")
        problems += [f"unknown hailuoParams key {k}" for k in set(params) - HAILUO_PARAMS]
        if params.get("duration", 6) not in (6, 10):
            problems.append("duration must be 6 or 10")
        if params.get("resolution", "768p") not in ("768p", "1080p"):
            problems.append("resolution must be 768p or 1080p")
        if params.get("resolution") == "1080p" and params.get("duration") == 10:
            problems.append("1080p does not support 10s")
        if "end_image" in params and "image" not in params:
            problems.append("end_image needs image")
        for key in ("image", "end_image"):
            if key in params and not str(params[key]).startswith(("http://", "https://")):
                problems.append(f"{key} must be a URL")
        return problems

    async def _generate(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return respond({"error": "Invalid JSON"}, 400)
        problems = self.problems_with(body)
        if problems:
            self.rejected_bodies.append((body, problems))
            return respond({"error": "Validation failed", "details": {"body": problems}}, 400)
        key = request.headers.get("Idempotency-Key")
        if key is not None:
            if len(key) > 255:
                return respond({"error": "Idempotency-Key too long"}, 400)
            existing = self.by_idempotency_key.get(key)
            if existing is not None:
                if existing.body != body:
                    return respond({"error": "Idempotency key reused with another body"}, 409)
                return respond({"jobId": existing.id, "status": "QUEUED"}, 202)
        script = self.scripts.pop(0) if self.scripts else self.default_script
        job = RemoteJobState(str(uuid.uuid4()), body, key, script)
        self.jobs[job.id] = job
        if key is not None:
            self.by_idempotency_key[key] = job
        self._schedule_webhooks(job)
        return respond({"jobId": job.id, "status": "QUEUED"}, 202)

    def _view(self, job: RemoteJobState) -> dict[str, Any]:
        script = job.script
        if script.render_seconds is not None:
            done = time.monotonic() - job.created >= script.render_seconds
            fraction = min(1.0, (time.monotonic() - job.created) / max(script.render_seconds, 1e-9))
            if fraction < script.stall_share:
                fraction = 0.01
        else:
            done = job.polls > script.polls_before_done
            fraction = min(1.0, job.polls / max(script.polls_before_done + 1, 1))
        view: dict[str, Any] = {
            "id": job.id,
            "model": job.model,
            "progress": None,
            "error": None,
            "creditCost": None,
            "webhookStatus": None,
            "createdAt": "2026-11-24T00:00:00Z",
            "completedAt": None,
        }
        if not done:
            view["status"] = "QUEUED" if fraction == 0 else "PROCESSING"
            view["progress"] = max(1, int(fraction * 100)) if fraction else 0
            if not script.report_progress:
                view["progress"] = None
            return view
        if job.completed_at is None:
            job.completed_at = time.monotonic()
        view["status"] = script.outcome
        view["completedAt"] = "2026-11-24T00:03:00Z"
        if script.outcome == "COMPLETED":
            url = self.video_url(job.id)
            if self.cdn_mode == "purged":
                view["expired"] = True
            view["progress"] = 100
            view["creditCost"] = job.credit_cost
            view["result"] = (
                {"videoUrl": url}
                if script.result_shape == "videoUrl"
                else (url if script.result_shape == "string" else {"videos": [url]})
            )
        else:
            view["error"] = script.error
            view["creditCost"] = 0
        return view

    async def _job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        try:
            uuid.UUID(job_id)
        except ValueError:
            return respond({"error": "id must be a UUID"}, 400)
        job = self.jobs.get(job_id)
        if job is None:
            return respond({"error": "Job not found"}, 404)
        job.polls += 1
        job.poll_times.append(time.monotonic())
        return respond(self._view(job))

    async def _me(self, request: web.Request) -> web.Response:
        return respond(
            {
                "user": {"id": str(uuid.uuid4()), "email": "owner@example.com", "role": "OWNER"},
                "team": {
                    "id": str(uuid.uuid4()),
                    "name": "t",
                    "credits": 1000,
                    "plan": "pro",
                    "customerId": None,
                },
                "apiKey": None,
            }
        )

    async def _video(self, request: web.Request) -> web.StreamResponse:
        self.cdn_requests += 1
        if self.cdn_mode in ("missing", "purged"):
            return web.Response(status=404, text="Not Found")
        if self.cdn_mode == "chunked":  # no Content-Length: only counting the bytes tells
            stream = web.StreamResponse(headers={"Content-Type": "video/mp4"})
            stream.enable_chunked_encoding()
            await stream.prepare(request)
            for offset in range(0, len(self.video_bytes), 65536):
                await stream.write(self.video_bytes[offset : offset + 65536])
            await stream.write_eof()
            return stream
        if self.cdn_mode == "html":
            return web.Response(body=b"<html>busy</html>", content_type="text/html")
        return web.Response(body=self.video_bytes, content_type="video/mp4")

    async def _file(self, request: web.Request) -> web.Response:
        found = self.uploads.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])
