"""The HTTP server's webhook door: only Apiframe's signed news gets in, and only as news."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.apiframe.webhooks import signature_valid, webhook_signing_key
from bot.metrics import Metrics
from bot.operations.web import WEBHOOK_MAX_BYTES, WEBHOOK_PATH, WebServer, json_depth
from bot.settings import Secret

API_KEY = Secret("afk_live_0123456789abcdef")
Heard = list[tuple[str, str, int | None]]
Served = tuple[WebServer, Heard]


def signed(body: bytes, key: str = API_KEY.get_secret_value(), *, bare: bool = False) -> str:
    digest = hmac.new(hashlib.sha256(key.encode()).digest(), body, hashlib.sha256).hexdigest()
    return digest if bare else f"sha256={digest}"


BODY = json.dumps(
    {"event": "completed", "jobId": "3f1c", "status": "COMPLETED", "progress": 100}
).encode()


def test_the_key_is_the_raw_digest_of_the_api_key() -> None:
    assert webhook_signing_key(API_KEY) == hashlib.sha256(b"afk_live_0123456789abcdef").digest()


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (signed(BODY), True),
        (signed(BODY, bare=True), True),
        (signed(BODY).upper().replace("SHA256=", "sha256="), True),
        (signed(BODY, "afk_someone_else"), False),
        (signed(BODY + b" "), False),
        ("sha256=", False),
        ("", False),
        (None, False),
        ("sha256=zz" + signed(BODY)[9:], False),
    ],
)
def test_signatures(header: str | None, valid: bool) -> None:
    assert signature_valid(webhook_signing_key(API_KEY), BODY, header) is valid


@pytest.fixture
async def server() -> AsyncIterator[Served]:
    heard: list[tuple[str, str, int | None]] = []

    async def on_news(job_id: str, status: str, progress: int | None) -> bool:
        heard.append((job_id, status, progress))
        return job_id == "3f1c"

    web = WebServer("127.0.0.1", 0)
    web.add_webhook(webhook_signing_key(API_KEY), on_news)
    await web.start()
    yield web, heard
    await web.stop()


async def post(web: WebServer, body: bytes, signature: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Webhook-Signature"] = signature
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{web.bound_port}{WEBHOOK_PATH}", data=body, headers=headers
        ) as response,
    ):
        return response.status


async def test_a_signed_delivery_is_heard(server: Served) -> None:
    web, heard = server
    assert await post(web, BODY, signed(BODY)) == 200
    assert heard == [("3f1c", "COMPLETED", 100)]


@pytest.mark.parametrize("signature", [None, "sha256=00", signed(BODY, "afk_other")])
async def test_a_forged_delivery_gets_401_and_is_not_heard(
    server: Served, signature: str | None
) -> None:
    web, heard = server
    assert await post(web, BODY, signature) == 401
    assert heard == []
    assert web.webhooks_refused == 1


async def test_an_oversized_body_gets_413(server: Served) -> None:
    web, heard = server
    body = b"{" + b" " * WEBHOOK_MAX_BYTES + b"}"
    assert await post(web, body, signed(body)) == 413
    assert heard == []


async def test_an_unknown_job_gets_200_so_apiframe_stops_retrying(
    server: Served,
) -> None:
    web, heard = server
    body = json.dumps(
        {"event": "progress", "jobId": "not-ours", "status": "PROCESSING", "progress": 40}
    ).encode()
    assert await post(web, body, signed(body)) == 200
    assert heard == [("not-ours", "PROCESSING", 40)]


async def test_signed_garbage_is_a_400(server: Served) -> None:
    web, heard = server
    for body in (b"not json", b"[]", b'{"jobId": 5}'):
        assert await post(web, body, signed(body)) == 400
    assert heard == []


async def test_healthz_answers(server: Served) -> None:
    web, _ = server
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{web.bound_port}/healthz") as response,
    ):
        assert response.status == 200


async def raw_post(web: WebServer, body: bytes, signature: bytes) -> bytes:
    """A request written by hand, with header bytes no HTTP client library would send."""
    reader, writer = await asyncio.open_connection("127.0.0.1", web.bound_port)
    writer.write(
        b"POST " + WEBHOOK_PATH.encode() + b" HTTP/1.1\r\nHost: bot\r\n"
        b"Content-Type: application/json\r\nX-Webhook-Signature: " + signature + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    "signature", ["sha256=\u00e9".encode(), b"sha256=\xff\xfe", b"\xc3\xa9" * 40]
)
async def test_a_signature_header_that_is_not_ascii_is_a_401_without_a_traceback(
    server: Served, signature: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    web, heard = server
    assert await raw_post(web, BODY, signature) == b"HTTP/1.1 401 Unauthorized"
    assert heard == []
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text


async def test_a_signed_body_nested_too_deep_is_a_400(server: Served) -> None:
    web, heard = server
    body = b'{"jobId": "3f1c", "status": "COMPLETED", "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert await post(web, body, signed(body)) == 400
    assert json_depth(b'{"a": [{"b": "[[[["}]}') == 3  # brackets in strings do not count
    assert heard == []


async def test_a_flood_of_forged_requests_is_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = Metrics()
    web = WebServer("127.0.0.1", 0, metrics=metrics)

    async def on_news(job_id: str, status: str, progress: int | None) -> bool:
        raise AssertionError("forged news must never be heard")

    web.add_webhook(webhook_signing_key(API_KEY), on_news)
    await web.start()
    try:
        with caplog.at_level(logging.WARNING):
            codes = await asyncio.gather(*(post(web, BODY, "sha256=00") for _ in range(200)))
    finally:
        await web.stop()
    assert set(codes) == {401}
    assert metrics.webhooks.labels("refused")._value.get() == 200
    assert len([r for r in caplog.records if "refused webhook" in r.getMessage()]) == 1


async def test_a_delivery_replayed_is_acknowledged_without_any_work(server: Served) -> None:
    web, heard = server
    for _ in range(5):  # Apiframe's retries, or a captured body sent again
        assert await post(web, BODY, signed(BODY)) == 200
    assert heard == [("3f1c", "COMPLETED", 100)]
    later = json.dumps({"jobId": "3f1c", "status": "PROCESSING", "progress": 60}).encode()
    assert await post(web, later, signed(later)) == 200  # new news is heard
    assert heard[-1] == ("3f1c", "PROCESSING", 60)
