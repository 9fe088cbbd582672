"""The Apiframe client against a fake Apiframe on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.apiframe.client import (
    ApiframeAuthError,
    ApiframeClient,
    ApiframeJobNotFound,
    ApiframeOutOfCredits,
    ApiframeProtocolError,
    ApiframeRejected,
    ApiframeUnavailable,
    RetryPolicy,
    build_generate_body,
    video_url_from,
)
from bot.backoff import Backoff
from bot.media.videos import VideoFetcher, VideoUnavailable
from bot.settings import Secret
from testkit.fake_apiframe import API_KEY, SPEC_PATH, FakeApiframe, JobScript
from tests.conftest import image_bytes

FAST = RetryPolicy(attempts=4, backoff=Backoff(floor=0.01, ceiling=0.05))


@pytest.fixture
async def client(fake_apiframe: FakeApiframe) -> AsyncIterator[ApiframeClient]:
    async with ApiframeClient(
        fake_apiframe.base_url, Secret(API_KEY), timeout=2, retry=FAST
    ) as api:
        yield api


def body(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "prompt": "a lighthouse in a storm",
        "duration": 6,
        "resolution": "768p",
        "prompt_optimizer": None,
        "image_url": None,
        "end_image_url": None,
    }
    values.update(changes)
    return build_generate_body(**values)  # type: ignore[arg-type]


async def poll_until_done(
    client: ApiframeClient, job_id: str
) -> tuple[str, str | None, str | None]:
    for _ in range(20):
        remote = await client.get_job(job_id)
        if remote.is_terminal:
            return remote.status, remote.video_url, remote.error
    raise AssertionError("job never finished")


def test_the_published_spec_is_used_when_present() -> None:
    fake = FakeApiframe()
    if not SPEC_PATH.exists():
        pytest.skip("Apiframe's OpenAPI file is not beside the repository")
    assert fake.validator is not None
    assert fake.problems_with(body()) == []
    assert any("schema" in p for p in fake.problems_with({**body(), "extra": 1}))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"duration": 10},
        {"resolution": "1080p"},
        {"prompt_optimizer": True},
        {"image_url": "https://files.test/a.png"},
        {"image_url": "https://files.test/a.png", "end_image_url": "https://files.test/b.png"},
    ],
)
def test_every_body_we_build_passes_the_contract(changes: dict[str, object]) -> None:
    assert FakeApiframe().problems_with(body(**changes)) == []


async def test_submit_then_poll_to_a_video(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    accepted = await client.submit(body(), "key-1")
    assert accepted.status == "QUEUED"
    status, url, _ = await poll_until_done(client, accepted.job_id)
    assert status == "COMPLETED" and url and url.endswith(f"{accepted.job_id}.mp4")
    headers = fake_apiframe.requests[0][2]
    assert headers["X-API-Key"] == API_KEY and headers["Idempotency-Key"] == "key-1"


async def test_failed_job_reports_apiframes_reason(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.scripts.append(JobScript(outcome="FAILED", error="NSFW content"))
    accepted = await client.submit(body(), "key-2")
    assert await poll_until_done(client, accepted.job_id) == ("FAILED", None, "NSFW content")


@pytest.mark.parametrize("shape", ["videoUrl", "string", "videos"])
async def test_every_result_shape_gives_the_link(
    client: ApiframeClient, fake_apiframe: FakeApiframe, shape: str
) -> None:
    fake_apiframe.scripts.append(JobScript(result_shape=shape))
    accepted = await client.submit(body(), f"key-{shape}")
    _, url, _ = await poll_until_done(client, accepted.job_id)
    assert url == fake_apiframe.video_url(accepted.job_id)


def test_video_url_from_odd_shapes() -> None:
    assert video_url_from({"videos": [{"url": "u"}]}) == "u"
    assert video_url_from(None) is None and video_url_from({}) is None
    assert video_url_from(["x"]) == "x"


async def test_same_idempotency_key_returns_the_same_job(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    first = await client.submit(body(), "key-same")
    second = await client.submit(body(), "key-same")
    assert first.job_id == second.job_id and len(fake_apiframe.jobs) == 1


async def test_429_waits_for_retry_after_and_closes_the_shared_gate(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.fail(
        "POST",
        "/v2/videos/generate",
        429,
        headers={"Retry-After": "0.3"},
        body={"error": "Too many requests"},
    )
    started = time.monotonic()
    accepted, other = await asyncio.gather(client.submit(body(), "key-429"), client.me())
    assert accepted.job_id and other["team"]["credits"] == 1000
    assert time.monotonic() - started >= 0.3
    assert client.gate.closures == 1
    assert fake_apiframe.count("POST", "/v2/videos/generate") == 2


async def test_429_without_retry_after_waits_about_a_second(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.fail("GET", "/v2/me", 429, body={"error": "slow down"})
    started = time.monotonic()
    await client.me()
    assert 0.9 <= time.monotonic() - started < 5


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(
    client: ApiframeClient, fake_apiframe: FakeApiframe, status: int
) -> None:
    fake_apiframe.fail("POST", "/v2/videos/generate", status, times=2)
    accepted = await client.submit(body(), f"key-{status}")
    assert accepted.job_id
    assert fake_apiframe.count("POST", "/v2/videos/generate") == 3
    assert len(fake_apiframe.jobs) == 1


async def test_retries_run_out_as_unavailable_not_failed(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.fail("GET", "/v2/jobs/", 503, times=10)
    with pytest.raises(ApiframeUnavailable):
        await client.get_job("7b7c2f5e-6a38-4e4c-8f49-8c7b7a7e1c11")
    assert fake_apiframe.count("GET", "/v2/jobs/") == FAST.attempts


async def test_a_slow_answer_times_out_and_is_retried(fake_apiframe: FakeApiframe) -> None:
    fake_apiframe.fail("POST", "/v2/videos/generate", 503, delay=1.0)
    async with ApiframeClient(
        fake_apiframe.base_url, Secret(API_KEY), timeout=0.3, retry=FAST
    ) as api:
        accepted = await api.submit(body(), "key-slow")
    # The timed-out attempt and the retry carried one key: Apiframe made one job.
    assert len(fake_apiframe.jobs) == 1 and accepted.job_id in fake_apiframe.jobs


async def test_a_dropped_connection_is_retried(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.fail("POST", "/v2/videos/generate", 0)
    assert (await client.submit(body(), "key-reset")).job_id


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ApiframeAuthError),
        (403, ApiframeAuthError),
        (402, ApiframeOutOfCredits),
        (409, ApiframeRejected),
    ],
)
async def test_errors_no_retry_fixes_are_typed(
    client: ApiframeClient, fake_apiframe: FakeApiframe, status: int, error: type[Exception]
) -> None:
    fake_apiframe.fail("POST", "/v2/videos/generate", status, body={"error": "nope"})
    with pytest.raises(error):
        await client.submit(body(), "key-x")
    assert fake_apiframe.count("POST", "/v2/videos/generate") == 1


async def test_a_wrong_key_is_an_auth_error_that_never_shows_the_key(
    fake_apiframe: FakeApiframe,
) -> None:
    secret = "afk_wrong_secret_value_123456"
    async with ApiframeClient(fake_apiframe.base_url, Secret(secret), retry=FAST) as api:
        with pytest.raises(ApiframeAuthError) as caught:
            await api.submit(body(), "key-y")
    assert secret not in str(caught.value) and secret not in repr(caught.value)


async def test_validation_errors_carry_apiframes_details(client: ApiframeClient) -> None:
    with pytest.raises(ApiframeRejected) as caught:
        await client.submit(body(resolution="1080p", duration=10), "key-z")
    assert "1080p does not support 10s" in caught.value.message


async def test_unknown_job_is_not_found(client: ApiframeClient) -> None:
    with pytest.raises(ApiframeJobNotFound):
        await client.get_job("7b7c2f5e-6a38-4e4c-8f49-8c7b7a7e1c11")


async def test_a_body_that_is_not_json_is_a_protocol_error(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.fail("GET", "/v2/me", 200, raw=b"<html>oops</html>")
    with pytest.raises(ApiframeProtocolError):
        await client.me()


async def test_upload_returns_a_url_that_serves_the_bytes(
    client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    data = image_bytes(400, 400)
    url = await client.upload("a.png", "image/png", data)
    assert url.startswith(fake_apiframe.base_url)
    [(stored, content_type)] = fake_apiframe.uploads.values()
    assert stored == data and content_type == "image/png"


class Door:
    """A little HTTP server on loopback that answers every request with a redirect (or a
    plain JSON answer), and remembers the headers it was sent."""

    def __init__(self, location: str | None = None) -> None:
        self.location = location
        self.seen: list[dict[str, str]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> Door:
        async def answer(request: web.Request) -> web.Response:
            self.seen.append(dict(request.headers))
            if self.location is None or request.path == "/final":
                return web.json_response({"team": {"credits": 1}})
            return web.Response(status=302, headers={"Location": self.location})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def test_a_redirect_to_another_origin_never_gets_the_api_key() -> None:
    async with Door() as elsewhere, Door(f"{elsewhere.base}/v2/me") as apiframe:
        async with ApiframeClient(apiframe.base, Secret(API_KEY), retry=FAST) as api:
            with pytest.raises(ApiframeRejected, match="refused a redirect"):
                await api.me()
        assert elsewhere.seen == []  # not even asked
        assert all(h.get("X-API-Key") == API_KEY for h in apiframe.seen)


async def test_a_redirect_within_apiframe_is_followed() -> None:
    async with (
        Door("/final") as apiframe,
        ApiframeClient(apiframe.base, Secret(API_KEY), retry=FAST) as api,
    ):
        assert (await api.me())["team"] == {"credits": 1}
    assert len(apiframe.seen) == 2  # the redirect, then the same origin's answer


async def test_a_video_download_follows_redirects_to_https_only() -> None:
    async with Door() as plain, Door(f"{plain.base}/video.mp4") as cdn:
        videos = VideoFetcher(timeout=5)
        try:
            with pytest.raises(VideoUnavailable, match=r"redirected to http://127\.0\.0\.1"):
                await videos.fetch(f"{cdn.base}/a.mp4", "a.mp4", 10_000)
        finally:
            await videos.close()
        assert plain.seen == []
