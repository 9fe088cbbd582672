"""The last frame of a finished video, as a PNG start image for the next clip (Extend).

PyAV decodes the MP4 in-process (FFmpeg's libraries, bundled in its wheel): nothing is shelled
out to a binary that might not be installed.
"""

from __future__ import annotations

import io

import av
from PIL import Image

from bot.errors import HailuoBotError


class FrameUnavailable(HailuoBotError):
    """The video could not be decoded, or has no frame."""


def last_frame(video: bytes) -> bytes:
    """The video's last frame as PNG bytes."""
    last: Image.Image | None = None
    try:
        with av.open(io.BytesIO(video), mode="r") as container:
            if not container.streams.video:
                raise FrameUnavailable("the file has no video stream")
            for frame in container.decode(container.streams.video[0]):
                last = frame.to_image()  # type: ignore[no-untyped-call]
    except av.FFmpegError as exc:
        raise FrameUnavailable(f"the video could not be decoded ({exc})") from None
    if last is None:
        raise FrameUnavailable("the video has no frames")
    buffer = io.BytesIO()
    last.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()
