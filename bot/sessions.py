"""One aiohttp session per client, opened on first use (inside the event loop, as aiohttp
wants) and again if it was closed, and closed with its client."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

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
