"""A stand-in for Apiframe, for trying the bot without an Apiframe bill (`APIFRAME_SIMULATE=1`).

It is a real HTTP server on 127.0.0.1 that speaks the part of Apiframe's v2 API the bot uses,
so the bot runs its usual code end to end: the same client, retries, budget, polling, webhooks
(when `APIFRAME_WEBHOOK_URL` is set, signed as Apiframe signs them), the file download and the
ledger. Jobs queue, report progress and complete after `APIFRAME_SIMULATE_SECONDS` with a small
real MP4 made on the spot with PyAV, or fail when the prompt contains `[simulate failure]`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from aiohttp import web

from bot.apiframe.webhooks import sign, webhook_signing_key
from bot.media.frames import encode_clip
from bot.settings import Secret

log = logging.getLogger(__name__)

FAILURE_WORDS: Final = "[simulate failure]"
SIMULATED_CREDITS: Final = 1_000_000
VIDEO_SIZE: Final = (320, 180)
VIDEO_FRAMES: Final = 24


@functools.cache
def sample_video(resolution: str, duration: int) -> bytes:
    """A one-second clip that says what it stands for."""
    from PIL import Image, ImageDraw  # noqa: PLC0415 - only once a simulated video is made

    width, height = VIDEO_SIZE
    pictures = []
    for index in range(VIDEO_FRAMES):
        share = index / (VIDEO_FRAMES - 1)
        picture = Image.new("RGB", VIDEO_SIZE, (int(40 + 180 * share), 60, int(220 - 180 * share)))
        draw = ImageDraw.Draw(picture)
        draw.text((12, 12), "hailuo-bot simulator", fill=(255, 255, 255))
        draw.text((12, 32), f"{resolution} · {duration} s (simulated)", fill=(255, 255, 255))
        draw.rectangle(
            (12, height - 24, 12 + int((width - 24) * share), height - 12), fill=(255, 255, 255)
        )
        pictures.append(picture)
    return encode_clip(pictures, VIDEO_FRAMES)


@dataclass
class SimulatedJob:
    id: str
    body: dict[str, Any]
    created: float = field(default_factory=time.monotonic)

    @property
    def fails(self) -> bool:
        return FAILURE_WORDS in str(self.body.get("prompt", "")).lower()


def _answer(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        content_type="application/json",
        headers={"x-request-id": f"sim-{uuid.uuid4().hex[:12]}"},
    )


class ApiframeSimulator:
    def __init__(self, api_key: Secret, render_seconds: float) -> None:
        self._api_key = api_key
        self._render_seconds = render_seconds
        self._jobs: dict[str, SimulatedJob] = {}
        self._by_key: dict[str, SimulatedJob] = {}
        self._uploads: dict[str, tuple[bytes, str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        # Bound now, so the bot's client can be given the address before the loop runs.
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v2/uploads", self._upload)
        app.router.add_post("/v2/videos/generate", self._generate)
        app.router.add_get("/v2/jobs/{id}", self._job)
        app.router.add_get("/v2/me", self._me)
        app.router.add_get("/files/{id}", self._file)
        app.router.add_get("/videos/{id}.mp4", self._video)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket).start()
        log.warning(
            "APIFRAME_SIMULATE is on: a local simulator at %s answers instead of "
            "Apiframe. No real videos are made and Apiframe bills nothing.",
            self.base_url,
        )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._socket.close()

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("X-API-Key") == self._api_key.get_secret_value()

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _answer({"error": "Invalid API key"}, 401)
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _answer({"error": "file is required"}, 400)
        upload_id = str(uuid.uuid4())
        data = upload.file.read()
        self._uploads[upload_id] = (data, upload.content_type)
        return _answer(
            {
                "id": upload_id,
                "url": f"{self.base_url}/files/{upload_id}",
                "kind": "image",
                "contentType": upload.content_type,
                "byteSize": len(data),
                "expiresAt": None,
            },
            201,
        )

    async def _generate(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _answer({"error": "Invalid API key"}, 401)
        try:
            body = await request.json()
        except ValueError:
            return _answer({"error": "Invalid JSON"}, 400)
        if not isinstance(body, dict) or not body.get("prompt"):
            return _answer({"error": "Validation failed", "details": {"prompt": ["required"]}}, 400)
        key = request.headers.get("Idempotency-Key")
        if key is not None and key in self._by_key:
            return _answer({"jobId": self._by_key[key].id, "status": "QUEUED"}, 202)
        job = SimulatedJob(str(uuid.uuid4()), body)
        self._jobs[job.id] = job
        if key is not None:
            self._by_key[key] = job
        if isinstance(body.get("webhookUrl"), str):
            task = asyncio.create_task(self._send_webhooks(job, body["webhookUrl"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return _answer({"jobId": job.id, "status": "QUEUED"}, 202)

    def _view(self, job: SimulatedJob) -> dict[str, Any]:
        share = (time.monotonic() - job.created) / self._render_seconds
        view: dict[str, Any] = {
            "id": job.id,
            "model": str(job.body.get("model", "hailuo-02")),
            "error": None,
            "creditCost": None,
            "webhookStatus": None,
            "createdAt": None,
            "completedAt": None,
        }
        if share < 1:
            view.update(
                status="QUEUED" if share < 0.15 else "PROCESSING", progress=int(share * 100)
            )
        elif job.fails:
            view.update(
                status="FAILED",
                progress=None,
                creditCost=0,
                error="Simulated failure: the prompt asked for one",
            )
        else:
            view.update(
                status="COMPLETED",
                progress=100,
                creditCost=0,
                result={"videoUrl": f"{self.base_url}/videos/{job.id}.mp4"},
            )
        return view

    async def _job(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _answer({"error": "Invalid API key"}, 401)
        job = self._jobs.get(request.match_info["id"])
        if job is None:
            return _answer({"error": "Job not found"}, 404)
        return _answer(self._view(job))

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _answer({"error": "Invalid API key"}, 401)
        return _answer(
            {
                "user": {"id": "simulator", "email": None, "role": "OWNER"},
                "team": {
                    "id": "simulator",
                    "name": "simulated",
                    "credits": SIMULATED_CREDITS,
                    "plan": "simulated",
                },
                "apiKey": None,
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        found = self._uploads.get(request.match_info["id"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])

    async def _video(self, request: web.Request) -> web.Response:
        job = self._jobs.get(request.match_info["id"])
        if job is None:
            return web.Response(status=404)
        params = job.body.get("hailuoParams") or {}
        data = await asyncio.to_thread(
            sample_video, str(params.get("resolution", "768p")), int(params.get("duration", 6))
        )
        return web.Response(body=data, content_type="video/mp4")

    async def _send_webhooks(self, job: SimulatedJob, url: str) -> None:
        """Progress at half time, then the outcome, signed as Apiframe signs them."""
        await asyncio.sleep(self._render_seconds / 2)
        await self._post(
            url,
            {
                "event": "progress",
                "jobId": job.id,
                "status": "PROCESSING",
                "progress": 50,
                "model": str(job.body.get("model", "hailuo-02")),
            },
        )
        await asyncio.sleep(max(0.0, job.created + self._render_seconds - time.monotonic()))
        view = self._view(job)
        event = "failed" if view["status"] == "FAILED" else "completed"
        await self._post(
            url,
            {
                "event": event,
                "jobId": job.id,
                **{k: v for k, v in view.items() if k in ("status", "progress", "result", "error")},
            },
        )

    async def _post(self, url: str, payload: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = json.dumps(payload).encode()
        signature = sign(webhook_signing_key(self._api_key), body)
        try:
            async with self._session.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Webhook-Event": payload["event"],
                    "X-Webhook-Signature": signature,
                },
            ) as response:
                await response.read()
        except aiohttp.ClientError as exc:
            log.info("simulator: webhook to %s failed (%s)", url, type(exc).__name__)
