"""Small real media for the fakes: an MP4 encoded on the spot with PyAV."""

from __future__ import annotations

import functools
import io
from fractions import Fraction

import av
from PIL import Image


@functools.cache
def small_mp4(frames: int = 12, width: int = 64, height: int = 48) -> bytes:
    """A short H.264 MP4 whose frames shade from red to blue (the last frame is blue)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, 12)
        for index in range(frames):
            share = index / max(1, frames - 1)
            colour = (int(255 * (1 - share)), 40, int(255 * share))
            picture = Image.new("RGB", (width, height), colour)
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def oversized_mp4(size: int) -> bytes:
    """An MP4 header followed by padding: `size` bytes that still look like an MP4."""
    head = small_mp4()
    return head + b"\0" * max(0, size - len(head))
