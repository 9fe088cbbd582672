"""Video frames with PyAV: the last frame of a finished video, as a PNG start image for the next
clip (Extend), and short clips made from pictures (the Apiframe simulator's videos).

PyAV decodes the MP4 in-process (FFmpeg's libraries, bundled in its wheel): nothing is shelled
out to a binary that might not be installed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction

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


def encode_clip(pictures: Sequence[Image.Image], rate: int) -> bytes:
    """An H.264 MP4 of the pictures, `rate` a second (all of the first one's size)."""
    width, height = pictures[0].size
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, rate)
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
