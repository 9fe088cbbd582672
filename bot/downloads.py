"""Fetching a member's attachment with a cap on its size and on the time it may take."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.errors import RequestRejected
from bot.sessions import LazySession


class AttachmentFetcher:
    """Downloads attachment bytes; a file that is too big or too slow is a member's problem."""

    def __init__(self, *, max_bytes: int, timeout: float) -> None:
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._session = LazySession(
            lambda: aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=10),
                connector=aiohttp.TCPConnector(limit=20),
            )
        )

    async def close(self) -> None:
        await self._session.close()

    async def fetch(self, url: str, label: str) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._read(url, label)
        except TimeoutError:
            raise RequestRejected(
                [
                    f"{label} took longer than {self._timeout:.0f} s to download: try again, "
                    "or attach a smaller file."
                ]
            ) from None
        except aiohttp.ClientError:
            raise RequestRejected(
                [f"{label} could not be downloaded from Discord: attach it again."]
            ) from None

    async def _read(self, url: str, label: str) -> bytes:
        too_big = RequestRejected(
            [f"{label} is larger than {self._max_bytes // 1_000_000} MB: compress or resize it."]
        )
        async with self._session.get().get(url) as response:
            if response.status != 200:
                raise RequestRejected(
                    [
                        f"{label} could not be downloaded from Discord "
                        f"(HTTP {response.status}): attach it again."
                    ]
                )
            if (response.content_length or 0) > self._max_bytes:
                raise too_big
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += len(chunk)
                if received > self._max_bytes:
                    raise too_big
                chunks.append(chunk)
            return b"".join(chunks)
