"""One aiohttp session per client, opened on first use (inside the event loop, as aiohttp
wants) and again if it was closed, and closed with its client; and downloads that follow
redirects only where it is safe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

import aiohttp
from aiohttp import ClientResponse
from yarl import URL

USER_AGENT = "hailuo-bot/0.1"


class LazySession:
    def __init__(self, make: Callable[[], aiohttp.ClientSession]) -> None:
        self._make = make
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._make()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS: Final = 5


class RedirectRefused(aiohttp.ClientError):
    """A redirect the bot will not follow (to plain http on another address, or too many)."""


def same_origin(first: URL, second: URL) -> bool:
    return (first.scheme, first.host, first.port) == (second.scheme, second.host, second.port)


@asynccontextmanager
async def fetched(session: aiohttp.ClientSession, url: str) -> AsyncIterator[ClientResponse]:
    """GET `url`, following redirects only to https (or within the same origin), so that a
    download can be bounced to nothing plainer than where it started."""
    current = URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        response = await session.get(current, allow_redirects=False)
        location = response.headers.get("Location")
        if response.status in REDIRECTS and location:
            target = current.join(URL(location))
            response.release()
            if target.scheme != "https" and not same_origin(current, target):
                raise RedirectRefused(f"redirected to {target.scheme}://{target.host}")
            current = target
            continue
        try:
            yield response
        finally:
            response.release()
        return
    raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects")
