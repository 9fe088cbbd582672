"""Video frames with PyAV: the last frame of a finished video, as a PNG start image for the next
clip (Extend, bounded in size, time and concurrency), and short clips made from pictures (the
Apiframe simulator's videos).

PyAV decodes the MP4 in-process (FFmpeg's libraries, bundled in its wheel): nothing is shelled
out to a binary that might not be installed.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from bot.errors import HailuoBotError, SourceUnavailable
from bot.i18n import msg
from bot.media.videos import VideoFetcher, VideoUnavailable

if TYPE_CHECKING:  # PyAV and Pillow load on the first Extend, not when the bot starts
    import av
    from PIL import Image

log = logging.getLogger(__name__)

FRAMES_AT_ONCE: Final = 2
FRAME_TIMEOUT: Final = 60.0
# A Hailuo clip is a few megabytes (a 6 s 1080p one about 10): far more is not one of them.
SOURCE_VIDEO_MAX_BYTES: Final = 50 * 1024 * 1024
# The largest frame decoded (Hailuo's largest is 1920 by 1080): a small file may declare a huge
# frame, and decoding one costs memory and time in proportion to its pixels.
MAX_FRAME_PIXELS: Final = 1920 * 1920


class FrameUnavailable(HailuoBotError):
    """The video could not be decoded, or has no frame."""


def last_frame(video: bytes) -> bytes:
    """The video's last frame as PNG bytes, decoding as little as it can: from the last
    keyframe before the end (a seek), and only the final frame turned into a picture."""
    import av  # noqa: PLC0415

    try:
        with av.open(io.BytesIO(video), mode="r") as container:
            if not container.streams.video:
                raise FrameUnavailable("the file has no video stream")
            stream = container.streams.video[0]
            check_frame_size(stream)
            last = _decode_tail(container, stream) if container.duration else None
            if last is None:  # no length known, or the seek found nothing: from the start
                container.seek(0)
                last = _last_of(container.decode(stream))
    except av.FFmpegError as exc:
        raise FrameUnavailable(f"the video could not be decoded ({exc})") from None
    if last is None:
        raise FrameUnavailable("the video has no frames")
    return png_of(last)


THUMBNAIL_WIDTH: Final = 320


def thumbnail(video: bytes, width: int = THUMBNAIL_WIDTH) -> bytes:
    """A small JPEG of the video's first frame, for a grid of videos: only the first frame is
    decoded, on one thread, and scaled down before it becomes a picture. Raises
    `FrameUnavailable` when there is none, or when the frame is larger than any of Hailuo's."""
    import av  # noqa: PLC0415

    try:
        with av.open(io.BytesIO(video), mode="r") as container:
            if not container.streams.video:
                raise FrameUnavailable("the file has no video stream")
            stream = container.streams.video[0]
            check_frame_size(stream)
            stream.thread_count = 1
            first = next(iter(container.decode(stream)), None)
            if first is None:
                raise FrameUnavailable("the video has no frames")
            height = max(2, round(first.height * width / max(1, first.width)))
            small = first.reformat(width=width, height=height, format="rgb24")
            picture: Image.Image = small.to_image()  # type: ignore[no-untyped-call]
    except av.FFmpegError as exc:
        raise FrameUnavailable(f"the video could not be decoded ({exc})") from None
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def check_frame_size(stream: Any) -> None:
    """Refuse a frame larger than any of Hailuo's before decoding a byte of it."""
    width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
    if width * height > MAX_FRAME_PIXELS:
        raise FrameUnavailable(f"its frames are {width}×{height}, larger than any video's")


def png_of(frame: av.VideoFrame) -> bytes:
    """The frame as a PNG. Fast compression: on a 768p frame the default level costs about as
    much CPU as decoding the clip's tail, for a file only a third smaller (and a start image
    may be up to 20 MB)."""
    picture: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _decode_tail(container: Any, stream: Any) -> av.VideoFrame | None:
    # Offsets without a stream are in microseconds; backward: the keyframe at or before it.
    container.seek(container.duration, backward=True, any_frame=False)
    return _last_of(container.decode(stream))


def _last_of(frames: Iterable[av.VideoFrame]) -> av.VideoFrame | None:
    last = None
    for frame in frames:
        last = frame
    return last


class FrameTaker:
    """Takes a finished video's last frame for Extend, bounded three ways: the video's size,
    the time the download and the decoding may take, and how many run at once (decoding is
    the bot's heaviest work, and a member may ask again and again)."""

    def __init__(
        self,
        videos: VideoFetcher,
        *,
        at_once: int = FRAMES_AT_ONCE,
        timeout: float = FRAME_TIMEOUT,
        max_bytes: int = SOURCE_VIDEO_MAX_BYTES,
    ) -> None:
        self._videos = videos
        self._slots = asyncio.Semaphore(at_once)
        self._timeout = timeout
        self._max_bytes = max_bytes

    async def last_frame(self, job_id: str, urls: Sequence[str]) -> bytes:
        """The last frame of job `job_id`'s video: from the owner's archive, or the first of
        `urls` that serves it. Raises `SourceUnavailable` (with the reason) when it cannot."""
        await self._slots.acquire()
        decoding: asyncio.Future[bytes] | None = None
        try:
            async with asyncio.timeout(self._timeout):
                video = await self._video(job_id, urls)
                decoding = asyncio.ensure_future(asyncio.to_thread(last_frame, video))
                return await asyncio.shield(decoding)
        except TimeoutError:
            raise SourceUnavailable(
                msg(
                    "Taking this video's last frame took longer than {seconds:.0f} s, so it "
                    "cannot be extended right now: try again in a moment.",
                    seconds=self._timeout,
                )
            ) from None
        except FrameUnavailable as exc:
            raise SourceUnavailable(
                msg("The video's last frame could not be read ({problem}).", problem=str(exc))
            ) from None
        finally:
            # A decoding thread cannot be stopped: its slot is freed when it ends.
            if decoding is not None and not decoding.done():
                decoding.add_done_callback(lambda _: self._slots.release())
            else:
                self._slots.release()

    async def _video(self, job_id: str, urls: Sequence[str]) -> bytes:
        archived = await self._videos.archived(job_id)
        if archived is not None and len(archived) <= self._max_bytes:
            return archived
        for url in urls:
            try:
                return (await self._videos.fetch(url, "source.mp4", self._max_bytes)).data
            except VideoUnavailable as exc:
                log.info("job %s: its video is not to be had from one place (%s)", job_id, exc)
        raise SourceUnavailable(
            msg(
                "The bot can no longer fetch this video (Apiframe's link has expired, and "
                "its message has no file), so it cannot be extended."
            )
        )


def encode_clip(
    pictures: Sequence[Image.Image], rate: int, *, keyframe_every: int | None = None
) -> bytes:
    """An H.264 MP4 of the pictures, `rate` a second (all of the first one's size), with a
    keyframe every `keyframe_every` frames (None: the encoder's choice)."""
    import av  # noqa: PLC0415

    width, height = pictures[0].size
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if keyframe_every is not None:
            stream.codec_context.gop_size = keyframe_every
            stream.options = {"sc_threshold": "0"}  # keyframes on the beat only
        stream.time_base = Fraction(1, rate)
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
