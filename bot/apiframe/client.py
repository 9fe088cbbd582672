"""A small client for Apiframe's v2 API: uploads, Hailuo 02 submissions and job polling.

What it promises its callers:
- A 429 anywhere closes one shared gate for `Retry-After` seconds, so a storm of rate limits
  slows every request instead of multiplying them.
- 5xx, timeouts and dropped connections are retried with jittered exponential backoff. Every
  request it retries is safe to repeat: reads, uploads (an orphan upload just expires) and
  submissions carrying the job's Idempotency-Key. When retries run out it raises
  `ApiframeUnavailable`, which means "not known to have failed", never "failed".
- Errors that no retry fixes are typed: `ApiframeAuthError` (401/403) and `ApiframeOutOfCredits`
  (402) are the owner's to fix; `ApiframeRejected` means the request itself was refused.
- The API key is sent as `X-API-Key` and never appears in a message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from yarl import URL

from bot.apiframe.budget import PRIORITY_ACCOUNT, PRIORITY_BACKGROUND, RequestBudget
from bot.backoff import Backoff
from bot.errors import HailuoBotError
from bot.i18n import Text, msg
from bot.logs import log_context
from bot.metrics import Metrics, apiframe_route
from bot.sessions import REDIRECTS, USER_AGENT, LazySession, same_origin
from bot.settings import Secret

log = logging.getLogger(__name__)

MODEL: Final = "hailuo-02"
DEFAULT_RETRY_AFTER: Final = 1.0
MAX_RETRY_AFTER: Final = 300.0

TERMINAL_STATUSES: Final = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
KNOWN_STATUSES: Final = frozenset({"QUEUED", "PROCESSING"}) | TERMINAL_STATUSES


class ApiframeError(HailuoBotError):
    def __init__(
        self, message: str, *, status: int | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id


class ApiframeUnavailable(ApiframeError):
    """Apiframe did not answer usefully after every retry; the outcome is unknown."""


class ApiframeAuthError(ApiframeError):
    """401/403: the API key is missing, wrong, inactive or not allowed."""


class ApiframeOutOfCredits(ApiframeError):
    """402: the owner's Apiframe account cannot pay for the job."""


class ApiframeRejected(ApiframeError):
    """400/409/413/422: Apiframe refused this request; sending it again will not help."""


class ApiframeJobNotFound(ApiframeError):
    """404 for a job id."""


class ApiframeProtocolError(ApiframeError):
    """A 2xx answer that is not the JSON the contract promises."""


@dataclass(frozen=True, slots=True)
class SubmittedJob:
    job_id: str
    status: str


@dataclass(frozen=True, slots=True)
class RemoteJob:
    """One poll's view of a job."""

    id: str
    status: str
    progress: int | None
    error: str | None
    video_url: str | None
    credit_cost: int | None = None  # what Apiframe billed, once it says

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    rate_limit_attempts: int = 30
    backoff: Backoff = field(default_factory=lambda: Backoff(floor=0.5, ceiling=20.0))


Sleep = Callable[[float], Awaitable[None]]


@dataclass
class BackoffGate:
    """One gate for every request to Apiframe: closed for a while after a 429."""

    clock: Callable[[], float] = time.monotonic
    sleep: Sleep = asyncio.sleep
    open_at: float = 0.0
    closures: int = field(default=0)

    def close_for(self, seconds: float) -> None:
        until = self.clock() + seconds
        if until > self.open_at:
            self.open_at = until
            self.closures += 1

    async def wait(self) -> None:
        while (remaining := self.open_at - self.clock()) > 0:
            await self.sleep(remaining)


WEBHOOK_EVENTS: Final = ("progress", "completed", "failed")


def build_generate_body(
    *,
    model: str = MODEL,
    prompt: str,
    duration: int,
    resolution: str,
    prompt_optimizer: bool | None,
    image_url: str | None,
    end_image_url: str | None,
    webhook_url: str | None = None,
) -> dict[str, Any]:
    """The JSON body of `POST /v2/videos/generate` for a Hailuo model (no unknown keys
    allowed; the same parameters for every model of the family)."""
    params: dict[str, Any] = {"duration": duration, "resolution": resolution}
    if image_url is not None:
        params["image"] = image_url
    if end_image_url is not None:
        params["end_image"] = end_image_url
    if prompt_optimizer is not None:
        params["prompt_optimizer"] = prompt_optimizer
    body: dict[str, Any] = {"prompt": prompt, "model": model, "hailuoParams": params}
    if webhook_url is not None:
        body["webhookUrl"] = webhook_url
        body["webhookEvents"] = list(WEBHOOK_EVENTS)
    return body


# MiniMax's codes for content it flagged (1026: the input, 1027: the output), or the words its
# and Apiframe's messages use for them.
FLAGGED_INPUT: Final = re.compile(r"\b1026\b")
FLAGGED_OUTPUT: Final = re.compile(r"\b1027\b")
FLAGGED_WORDS: Final = re.compile(
    r"sensitive|content (?:policy|moderation|violation)|flagged|nsfw|inappropriate", re.I
)
INPUT_REFUSED: Final = msg(
    "The model's content policy refused this prompt or picture, so no video was made."
)
OUTPUT_REFUSED: Final = msg(
    "The model's content policy refused the video it made, so it cannot be delivered."
)
POLICY_REFUSED: Final = msg("The model's content policy refused this request.")


def credits_billed(cost: object) -> int | None:
    """A job's `creditCost`, when it is a count of credits (not null, a flag or a debt)."""
    if isinstance(cost, int) and not isinstance(cost, bool) and cost >= 0:
        return cost
    return None


def content_refusal(error: str | None) -> Text | None:
    """What to tell a member when a failed job's error says MiniMax refused its content (and
    so nothing is wrong with the bot or the request's form); None for any other failure."""
    if not error:
        return None
    if FLAGGED_INPUT.search(error):
        return INPUT_REFUSED
    if FLAGGED_OUTPUT.search(error):
        return OUTPUT_REFUSED
    if FLAGGED_WORDS.search(error):
        return POLICY_REFUSED
    return None


def video_url_from(result: object) -> str | None:
    """The video link in a job's `result`, whichever of its documented shapes it has."""
    if isinstance(result, str) and result:
        return result
    if isinstance(result, Mapping):
        url = result.get("videoUrl") or result.get("video_url") or result.get("url")
        if isinstance(url, str) and url:
            return url
        videos = result.get("videos")
        if isinstance(videos, list) and videos:
            return video_url_from(videos[0])
    if isinstance(result, list) and result:
        return video_url_from(result[0])
    return None


def _retry_after(headers: Mapping[str, str]) -> float:
    raw = headers.get("Retry-After")
    try:
        seconds = float(raw) if raw is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class ApiframeClient:
    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        gate: BackoffGate | None = None,
        max_requests_per_second: float | None = None,
        metrics: Metrics | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retry = retry or RetryPolicy()
        self.gate = gate or BackoffGate(sleep=sleep)
        # Every request, retries included, spends from one budget (None: unlimited).
        self.budget = (
            None
            if max_requests_per_second is None
            else RequestBudget(max_requests_per_second, gate=self.gate)
        )
        self._sleep = sleep
        self._metrics = metrics
        self._session = LazySession(
            lambda: aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(limit=50),
            )
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    def _count(self, path: str, status: str) -> None:
        if self._metrics is not None:
            self._metrics.apiframe_requests.labels(apiframe_route(path), status).inc()

    async def __aenter__(self) -> ApiframeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.budget is not None:
            self.budget.close()
        await self._session.close()

    # -- endpoints --------------------------------------------------------------------------

    async def upload(self, filename: str, content_type: str, data: bytes) -> str:
        """Upload an image; returns the URL to put in `hailuoParams.image`/`end_image`."""

        def form() -> aiohttp.FormData:
            payload = aiohttp.FormData()
            payload.add_field("file", data, filename=filename, content_type=content_type)
            return payload

        body = await self._request("POST", "/v2/uploads", form=form, priority=PRIORITY_ACCOUNT)
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise ApiframeProtocolError("upload answer has no url")
        return url

    async def submit(self, body: dict[str, Any], idempotency_key: str) -> SubmittedJob:
        answer = await self._request(
            "POST",
            "/v2/videos/generate",
            json_body=body,
            headers={"Idempotency-Key": idempotency_key},
            priority=PRIORITY_ACCOUNT,
        )
        job_id = answer.get("jobId")
        if not isinstance(job_id, str) or not job_id:
            raise ApiframeProtocolError("submit answer has no jobId")
        status = answer.get("status")
        return SubmittedJob(job_id=job_id, status=status if isinstance(status, str) else "QUEUED")

    async def get_job(self, job_id: str, *, priority: float = PRIORITY_BACKGROUND) -> RemoteJob:
        """One check of a job; `priority` orders it against the others when the budget is
        short (lower first)."""
        answer = await self._request("GET", f"/v2/jobs/{job_id}", priority=priority)
        status = answer.get("status")
        if not isinstance(status, str):
            raise ApiframeProtocolError("job answer has no status")
        progress = answer.get("progress")
        error = answer.get("error")
        cost = answer.get("creditCost")
        return RemoteJob(
            id=str(answer.get("id") or job_id),
            status=status.upper(),
            progress=progress if isinstance(progress, int) and 0 <= progress <= 100 else None,
            error=error if isinstance(error, str) else None,
            video_url=video_url_from(answer.get("result")),
            credit_cost=credits_billed(cost),
        )

    async def me(self) -> dict[str, Any]:
        return await self._request("GET", "/v2/me", priority=PRIORITY_ACCOUNT)

    # -- transport --------------------------------------------------------------------------

    def _redirected(self, url: str, location: str | None, redirects: int) -> str:
        """Where a redirect leads, if it may be followed: to Apiframe's own origin only (the
        API key goes nowhere else), a few times at most."""
        current = URL(url)
        target = current.join(URL(location)) if location else None
        if target is None or not same_origin(current, target) or redirects >= MAX_REDIRECTS:
            where = target.host if target is not None else "nowhere"
            log.error(
                "Apiframe's answer redirected to %s: refused, the API key is only ever sent to "
                "APIFRAME_BASE_URL (%s)",
                where,
                self._base_url,
            )
            raise ApiframeRejected(f"refused a redirect to {where}")
        return str(target)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        headers: Mapping[str, str] | None = None,
        priority: float = PRIORITY_BACKGROUND,
    ) -> dict[str, Any]:
        url = f"{self._base_url}{path}"
        request_headers = {
            "X-API-Key": self._api_key.get_secret_value(),
            "Accept": "application/json",
            **(headers or {}),
        }
        failures = 0
        rate_limited = 0
        redirects = 0
        while True:
            if self.budget is not None:
                await self.budget.acquire(priority)
            await self.gate.wait()
            try:
                async with self._session.get().request(
                    method,
                    url,
                    json=json_body,
                    data=form() if form else None,
                    headers=request_headers,
                    # Followed by hand below: the API key goes to Apiframe's origin only.
                    allow_redirects=False,
                ) as response:
                    text = await _bounded_text(response, request_id_of(response))
                    status = response.status
                    request_id = response.headers.get("x-request-id")
                    if request_id:
                        # Every line the calling task logs from now on names this request.
                        log_context(apiframe_request_id=request_id)
                    self._count(path, str(status))
                    if status == 429:
                        if self._metrics is not None:
                            self._metrics.apiframe_rate_limited.inc()
                        wait = _retry_after(response.headers)
                        log.warning(
                            "Apiframe rate limit on %s %s: waiting %.1fs (request %s)",
                            method,
                            path,
                            wait,
                            request_id,
                        )
                        self.gate.close_for(wait)
                        rate_limited += 1
                        if rate_limited <= self._retry.rate_limit_attempts:
                            continue
                        raise ApiframeUnavailable(
                            f"Apiframe kept rate-limiting {method} {path}",
                            status=status,
                            request_id=request_id,
                        )
                    if 200 <= status < 300:
                        return _json_object(text, request_id)
                    if status in REDIRECTS:
                        url = self._redirected(url, response.headers.get("Location"), redirects)
                        redirects += 1
                        continue
                    if status < 500:
                        raise _client_error(status, text, request_id, path)
                    problem = f"HTTP {status}"
            except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                problem = type(exc).__name__
                self._count(path, "unanswered")
                request_id = None
            failures += 1
            if failures >= self._retry.attempts:
                raise ApiframeUnavailable(
                    f"Apiframe did not answer {method} {path} after {failures} tries "
                    f"(last: {problem})",
                    request_id=request_id,
                )
            delay = self._retry.backoff.delay(failures)
            log.info(
                "Apiframe %s %s failed (%s); retry %d in %.1fs",
                method,
                path,
                problem,
                failures,
                delay,
            )
            await self._sleep(delay)


MAX_REDIRECTS: Final = 3
# Apiframe's answers are a few hundred bytes; one far larger is not one of them, and is not
# read whole into memory.
MAX_ANSWER_BYTES: Final = 1024 * 1024


def request_id_of(response: aiohttp.ClientResponse) -> str | None:
    return response.headers.get("x-request-id")


async def _bounded_text(response: aiohttp.ClientResponse, request_id: str | None) -> str:
    """The answer's text, read up to `MAX_ANSWER_BYTES`; `ApiframeProtocolError` beyond."""
    declared = response.content_length
    if declared is not None and declared > MAX_ANSWER_BYTES:
        raise ApiframeProtocolError(
            f"Apiframe's answer is {declared} bytes, far more than any of its answers",
            request_id=request_id,
        )
    body = await response.content.read(MAX_ANSWER_BYTES + 1)
    if len(body) > MAX_ANSWER_BYTES:
        raise ApiframeProtocolError(
            "Apiframe's answer is far larger than any of its answers", request_id=request_id
        )
    try:
        return body.decode(response.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def _json_object(text: str, request_id: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise ApiframeProtocolError(
            "Apiframe answered with something that is not JSON", request_id=request_id
        ) from None
    if not isinstance(value, dict):
        raise ApiframeProtocolError(
            "Apiframe answered with JSON that is not an object", request_id=request_id
        )
    return value


def _client_error(status: int, text: str, request_id: str | None, path: str) -> ApiframeError:
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    message = body.get("error") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = f"HTTP {status}"
    details = body.get("details") if isinstance(body, dict) else None
    if isinstance(details, dict) and details:
        parts = [
            f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in details.items()
        ]
        message = f"{message} ({'; '.join(parts)})"
    kwargs: dict[str, Any] = {"status": status, "request_id": request_id}
    if status in (401, 403):
        return ApiframeAuthError(message, **kwargs)
    if status == 402:
        return ApiframeOutOfCredits(message, **kwargs)
    if status == 404 and path.startswith("/v2/jobs/"):
        return ApiframeJobNotFound(message, **kwargs)
    return ApiframeRejected(message, **kwargs)
