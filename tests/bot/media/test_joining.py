"""Joining a story's clips: copied when they match, encoded again when they do not, bounded in
size, time and how many at once, and refused in words when a clip is no video."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from bot.media import joining
from bot.media.joining import Joiner, JoinFailed, join_clips
from testkit.media import small_mp4

Files = Callable[..., list[Path]]


@pytest.fixture
def clips(tmp_path: Path) -> Files:
    """Each video given, written to a file of its own."""

    def write(*videos: bytes) -> list[Path]:
        paths = []
        for video in videos:
            path = tmp_path / f"clip-{len(list(tmp_path.iterdir()))}.mp4"
            path.write_bytes(video)
            paths.append(path)
        return paths

    return write


def frames_and_seconds(video: Path) -> tuple[int, float]:
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert container.duration is not None
        return frames, container.duration / 1_000_000


def test_matching_clips_are_copied_one_after_the_other(clips: Files, tmp_path: Path) -> None:
    one, two = small_mp4(), small_mp4(frames=24)
    joined = tmp_path / "story.mp4"
    assert join_clips(clips(one, two, one), joined)
    frames, seconds = frames_and_seconds(joined)
    assert frames == 12 + 24 + 12
    assert seconds == pytest.approx(4.0, abs=0.1)  # 48 frames at 12 a second


def test_clips_of_different_sizes_are_encoded_again_at_the_first_ones_size(
    clips: Files, tmp_path: Path
) -> None:
    joined = tmp_path / "story.mp4"
    assert not join_clips(clips(small_mp4(), small_mp4(width=96, height=64), small_mp4()), joined)
    frames, seconds = frames_and_seconds(joined)
    assert frames == 36
    assert seconds == pytest.approx(3.0, abs=0.1)
    with av.open(str(joined)) as container:
        context = container.streams.video[0].codec_context
        assert (context.width, context.height) == (64, 48)


def test_a_clip_that_is_no_video_is_refused_in_words(clips: Files, tmp_path: Path) -> None:
    joined = tmp_path / "story.mp4"
    with pytest.raises(JoinFailed, match="could not be read"):
        join_clips(clips(small_mp4(), b"<html>not a video</html>"), joined)
    with pytest.raises(JoinFailed, match="no clip"):
        join_clips([], joined)


def test_a_clip_with_frames_larger_than_any_of_hailuos_is_refused_before_decoding(
    clips: Files, tmp_path: Path
) -> None:
    huge = small_mp4(frames=2, width=2048, height=2048)
    with pytest.raises(JoinFailed, match="larger than any"):
        join_clips(clips(small_mp4(), huge), tmp_path / "story.mp4")


async def test_the_joiner_bounds_size_time_and_how_many_at_once(
    monkeypatch: pytest.MonkeyPatch, clips: Files, tmp_path: Path
) -> None:
    joined = tmp_path / "story.mp4"
    with pytest.raises(JoinFailed, match="over"):
        await Joiner(max_bytes=100).join(clips(small_mp4(), small_mp4()), joined)

    running, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def slow(sources: list[Path], target: Path) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(5)
        with lock:
            running -= 1
        target.write_bytes(b"joined")
        return True

    monkeypatch.setattr(joining, "join_clips", slow)
    joiner = Joiner(at_once=1, timeout=0.2)
    [one] = clips(small_mp4())
    with pytest.raises(JoinFailed, match="longer than"):
        await joiner.join([one], joined)
    # The stuck join still holds the only slot: the next waits for it, and then runs.
    waiting = asyncio.create_task(joiner.join([one], joined))
    await asyncio.sleep(0.1)
    assert not waiting.done() and most == 1
    release.set()
    await waiting
    assert joined.read_bytes() == b"joined"
    assert most == 1
