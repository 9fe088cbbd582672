"""Small real media for the fakes: an MP4 encoded on the spot with PyAV."""

from __future__ import annotations

import functools

from PIL import Image

from bot.media.frames import encode_clip


@functools.cache
def small_mp4(
    frames: int = 12, width: int = 64, height: int = 48, keyframe_every: int | None = None
) -> bytes:
    """A short H.264 MP4 whose frames shade from red to blue (the last frame is blue)."""
    shades = [index / max(1, frames - 1) for index in range(frames)]
    pictures = [
        Image.new("RGB", (width, height), (int(255 * (1 - share)), 40, int(255 * share)))
        for share in shades
    ]
    return encode_clip(pictures, 12, keyframe_every=keyframe_every)


def oversized_mp4(size: int) -> bytes:
    """An MP4 header followed by padding: `size` bytes that still look like an MP4."""
    head = small_mp4()
    return head + b"\0" * max(0, size - len(head))
