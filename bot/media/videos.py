"""Fetching a finished video from Apiframe's CDN so that it can be posted as a file.

Apiframe purges results after a while; a file attached to a Discord message stays as long as the
message. The download is bounded in size and time and checked for what it claims to be: the
`Content-Length` header is only a hint, the bytes counted are the truth, and an MP4 must carry
its `ftyp` box. Nothing here is fatal to a delivery: the caller falls back to the link.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp

from bot.errors import HailuoBotError
from bot.sessions import USER_AGENT, LazySession, RedirectRefused, fetched

log = logging.getLogger(__name__)

VIDEO_TYPES: Final = frozenset(
    {"video/mp4", "application/octet-stream", "binary/octet-stream", "video/quicktime"}
)
CHUNK: Final = 64 * 1024


class VideoUnavailable(HailuoBotError):
    """The video could not be fetched as a file this time; the link still works."""


class VideoTooLarge(VideoUnavailable):
    """The video is larger than the upload limit it would be posted under."""

    def __init__(self, message: str, *, size: int | None) -> None:
        super().__init__(message)
        self.size = size


@dataclass(frozen=True, slots=True)
class VideoFile:
    filename: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def looks_like_mp4(head: bytes) -> bool:
    """An ISO base media file starts with a box whose type is `ftyp`."""
    return len(head) >= 12 and head[4:8] == b"ftyp"


class VideoFetcher:
    def __init__(self, *, timeout: float, archive_dir: Path | None = None) -> None:
        self._timeout = timeout
        self._archive_dir = archive_dir
        self._session = LazySession(
            lambda: aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=30),
                headers={"User-Agent": USER_AGENT},
            )
        )

    async def close(self) -> None:
        await self._session.close()

    async def archived(self, job_id: str) -> bytes | None:
        """The owner's copy of a job's video (`VIDEO_ARCHIVE_DIR`), if there is one."""
        if self._archive_dir is None:
            return None
        try:
            return await asyncio.to_thread((self._archive_dir / f"{job_id}.mp4").read_bytes)
        except OSError:
            return None

    async def fetch(self, url: str, filename: str, max_bytes: int) -> VideoFile:
        """The video's bytes, at most `max_bytes` of them; raises `VideoUnavailable`."""
        try:
            async with asyncio.timeout(self._timeout):
                data = await self._read(url, max_bytes)
        except TimeoutError:
            raise VideoUnavailable(f"the download took longer than {self._timeout:.0f} s") from None
        except RedirectRefused as exc:
            raise VideoUnavailable(f"the download was {exc}: refused") from None
        except aiohttp.ClientError as exc:
            raise VideoUnavailable(f"the download failed ({type(exc).__name__})") from None
        return VideoFile(filename, data)

    async def _read(self, url: str, max_bytes: int) -> bytes:
        async with fetched(self._session.get(), url) as response:
            if response.status != 200:
                raise VideoUnavailable(f"the CDN answered HTTP {response.status}")
            kind = response.content_type.lower()
            if kind not in VIDEO_TYPES:
                raise VideoUnavailable(f"the CDN sent {kind!r}, not a video")
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise VideoTooLarge(
                    f"the video is {declared} bytes, over {max_bytes}", size=declared
                )
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.content.iter_chunked(CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise VideoTooLarge(f"the video is over {max_bytes} bytes", size=None)
                chunks.append(chunk)
        data = b"".join(chunks)
        if not looks_like_mp4(data[:12]):
            raise VideoUnavailable("the download is not an MP4 file")
        return data

    async def archive(self, job_id: str, video: VideoFile) -> bool:
        """Keep a copy for the owner when `VIDEO_ARCHIVE_DIR` is set; never fatal. Whether a
        copy is kept."""
        return await self._keep(job_id, lambda target: _write_atomically(target, video.data))

    async def archive_file(self, job_id: str, video: Path) -> bool:
        """`archive`, from a file (a story's join), copied without being read into memory."""
        return await self._keep(job_id, lambda target: _copy_atomically(video, target))

    async def _keep(self, job_id: str, write: Callable[[Path], None]) -> bool:
        target = self.archived_path(job_id)
        if target is None:
            return False
        try:
            await asyncio.to_thread(write, target)
        except OSError as exc:
            log.warning(
                "job %s: could not keep a copy in %s: %s",
                job_id,
                self._archive_dir,
                exc.strerror or exc,
            )
            return False
        return True

    async def forget(self, job_id: str) -> None:
        """Delete the archived copy of a job's video (Delete, or a moderator's deletion), so
        that nothing of it is served or kept after."""
        target = self.archived_path(job_id)
        if target is None:
            return
        try:
            await asyncio.to_thread(target.unlink, missing_ok=True)
        except OSError as exc:
            log.warning("job %s: could not delete its archived copy: %s", job_id, exc.strerror)

    def archived_path(self, job_id: str) -> Path | None:
        """Where the archived copy of a job's video is (or would be)."""
        if self._archive_dir is None:
            return None
        return self._archive_dir / f"{job_id}.mp4"


def _copy_atomically(source: Path, target: Path) -> None:
    """`_write_atomically`, from a file, a chunk at a time."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_suffix(".mp4.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file, source.open("rb") as reading:
        shutil.copyfileobj(reading, file)
    partial.replace(target)


def _write_atomically(target: Path, data: bytes) -> None:
    """Write the copy readable by the bot's own account only, as the database is (0600 in a
    0700 folder): members' videos are not every local user's to read."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_suffix(".mp4.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    partial.replace(target)
