"""A video's last frame for Extend: right whatever the clip's keyframes, decoded from the last
keyframe only, and bounded in time and in how many are taken at once."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import av
import pytest
from PIL import Image

from bot.errors import SourceUnavailable
from bot.media.frames import FrameTaker, last_frame
from bot.media.videos import VideoFetcher
from testkit.media import small_mp4


def colour(png: bytes) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(png)) as picture:
        red, green, blue = picture.convert("RGB").getpixel((10, 10))  # type: ignore[misc]
        return red, green, blue


@pytest.mark.parametrize("keyframe_every", [None, 1, 5, 12, 48])
def test_the_last_frame_is_the_last_whatever_the_keyframes(keyframe_every: int | None) -> None:
    red, _, blue = colour(last_frame(small_mp4(48, 64, 48, keyframe_every)))
    assert blue > 200 and red < 40  # the clip ends on blue


def test_only_the_tail_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real = av.container.InputContainer.decode

    def counting(self: av.container.InputContainer, *streams: object) -> object:
        for frame in real(self, *streams):
            decoded.append(1)
            yield frame

    monkeypatch.setattr(av.container.InputContainer, "decode", counting)
    last_frame(small_mp4(96, 64, 48, 12))
    assert 0 < len(decoded) <= 24  # from the last keyframe (12 frames), not all 96


async def test_a_slow_video_times_out_with_a_refusal_and_frees_its_place(tmp_path: Path) -> None:
    videos = VideoFetcher(timeout=30, archive_dir=tmp_path)
    taker = FrameTaker(videos, at_once=1, timeout=0.3)

    async def slow_archive(job_id: str) -> bytes | None:
        await asyncio.sleep(5)
        return None

    videos.archived = slow_archive  # type: ignore[method-assign]
    began = time.monotonic()
    with pytest.raises(SourceUnavailable, match="took longer than"):
        await taker.last_frame("job", [])
    assert time.monotonic() - began < 2
    (tmp_path / "job.mp4").write_bytes(small_mp4())
    del videos.archived  # the archive answers again: the one place is free for the next
    assert colour(await taker.last_frame("job", []))[2] > 200
    await videos.close()


async def test_at_most_so_many_frames_are_taken_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "job.mp4").write_bytes(small_mp4())
    at_once = 0
    most = 0

    def watched(video: bytes) -> bytes:
        nonlocal at_once, most
        at_once += 1
        most = max(most, at_once)
        time.sleep(0.05)
        at_once -= 1
        return last_frame(video)

    monkeypatch.setattr("bot.media.frames.last_frame", watched)
    videos = VideoFetcher(timeout=30, archive_dir=tmp_path)
    taker = FrameTaker(videos, at_once=2)
    await asyncio.gather(*(taker.last_frame("job", []) for _ in range(8)))
    await videos.close()
    assert most == 2
