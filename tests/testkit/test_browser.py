"""The test browser's requests outside the page carry the cookies exactly as Chromium sends
them: a session cookie whose value needs quoting (base64 padding) reaches the server intact."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from testkit.browser import Browser
from testkit.harness import free_port

# Ends in padding, as an encrypted session cookie of the wrong length does: `=` is outside
# the characters a cookie value may carry bare, so the server sends it in double quotes.
PADDED = "gAAAAABnZXR0aW5nLWl0LXJpZ2h0LWlzLWhhcmQ=="


@pytest.fixture
async def cookie_site() -> AsyncIterator[str]:
    async def give(request: web.Request) -> web.Response:
        answer = web.Response(text="<p>given</p>", content_type="text/html")
        answer.set_cookie("session", PADDED, httponly=True, samesite="Lax")
        return answer

    async def check(request: web.Request) -> web.Response:
        kept = request.cookies.get("session")
        return web.Response(status=200 if kept == PADDED else 403, headers={"X-Seen": str(kept)})

    app = web.Application()
    app.router.add_get("/give", give)
    app.router.add_route("*", "/check", check)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_quoted_cookie_value_reaches_the_server_as_the_browser_sends_it(
    browser: Browser, cookie_site: str
) -> None:
    await browser.get(f"{cookie_site}/give")
    status, headers = await browser.status(f"{cookie_site}/check")
    assert (status, headers["X-Seen"]) == (200, PADDED)
    status, headers = await browser.status(f"{cookie_site}/check", data={"a": "b"})
    assert (status, headers["X-Seen"]) == (200, PADDED)


def test_the_cookie_header_keeps_each_value_as_it_was_set() -> None:
    header = Browser.cookie_header(
        [{"name": "session", "value": f'"{PADDED}"'}, {"name": "lang", "value": "de"}]
    )
    assert header == f'session="{PADDED}"; lang=de'
