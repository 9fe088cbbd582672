"""Fetching a member's attachment with a cap on its size and on the time it may take."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.errors import RequestRejected
from bot.i18n import Text, msg
from bot.sessions import LazySession, fetched


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

    async def fetch(self, url: str, label: Text) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._read(url, label)
        except TimeoutError:
            raise RequestRejected(
                [
                    msg(
                        "{image} took longer than {seconds:.0f} s to download: try again, "
                        "or attach a smaller file.",
                        image=label,
                        seconds=self._timeout,
                    )
                ]
            ) from None
        except aiohttp.ClientError:
            raise RequestRejected(
                [msg("{image} could not be downloaded from Discord: attach it again.", image=label)]
            ) from None

    async def _read(self, url: str, label: Text) -> bytes:
        too_big = RequestRejected(
            [
                msg(
                    "{image} is larger than {limit} MB: compress or resize it.",
                    image=label,
                    limit=self._max_bytes // 1_000_000,
                )
            ]
        )
        async with fetched(self._session.get(), url) as response:
            if response.status != 200:
                raise RequestRejected(
                    [
                        msg(
                            "{image} could not be downloaded from Discord (HTTP {status}): "
                            "attach it again.",
                            image=label,
                            status=response.status,
                        )
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
