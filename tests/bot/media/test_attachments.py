"""Fetching files over HTTP with bounds: members' images, and finished videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import RequestRejected
from bot.i18n import msg
from bot.media.attachments import AttachmentFetcher
from bot.media.videos import VideoFetcher, VideoFile, VideoTooLarge, VideoUnavailable
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord
from testkit.media import oversized_mp4, small_mp4
from tests.conftest import image_bytes


async def test_an_image_downloads_within_its_bounds(fake_discord: FakeDiscord) -> None:
    data = image_bytes(400, 400)
    picture = fake_discord.add_attachment("a.png", data, content_type="image/png")
    fetcher = AttachmentFetcher(max_bytes=len(data), timeout=5)
    try:
        assert await fetcher.fetch(picture["url"], msg("The image")) == data
        smaller = AttachmentFetcher(max_bytes=len(data) - 1, timeout=5)
        with pytest.raises(RequestRejected, match="larger than"):
            await smaller.fetch(picture["url"], msg("The image"))
        await smaller.close()
    finally:
        await fetcher.close()


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [("endless", "larger than"), ("slow", "longer than"), ("missing", "HTTP 404")],
)
async def test_bad_image_downloads_are_the_members_problem(
    fake_discord: FakeDiscord, mode: str, fragment: str
) -> None:
    picture = fake_discord.add_attachment(
        "a.png", image_bytes(400, 400) * 4, content_type="image/png"
    )
    url = picture["url"]
    if mode == "missing":
        url = url.replace(picture["id"], "404")
    else:
        fake_discord.attachment_modes[picture["id"]] = mode
    fetcher = AttachmentFetcher(max_bytes=200_000, timeout=1.0)
    try:
        with pytest.raises(RequestRejected, match=fragment):
            await fetcher.fetch(url, msg("The image"))
    finally:
        await fetcher.close()


@pytest.fixture
async def videos() -> VideoFetcher:
    return VideoFetcher(timeout=5)


async def test_a_video_downloads_as_checked_mp4_bytes(
    fake_apiframe: FakeApiframe, videos: VideoFetcher
) -> None:
    video = await videos.fetch(fake_apiframe.video_url("a"), "a.mp4", 10_000_000)
    assert video == VideoFile("a.mp4", small_mp4())
    await videos.close()


@pytest.mark.parametrize(
    ("mode", "error", "fragment"),
    [
        ("missing", VideoUnavailable, "HTTP 404"),
        ("html", VideoUnavailable, "not a video"),
    ],
)
async def test_a_video_that_is_not_there_or_not_a_video(
    fake_apiframe: FakeApiframe,
    videos: VideoFetcher,
    mode: str,
    error: type[Exception],
    fragment: str,
) -> None:
    fake_apiframe.cdn_mode = mode
    with pytest.raises(error, match=fragment):
        await videos.fetch(fake_apiframe.video_url("a"), "a.mp4", 10_000_000)
    await videos.close()


async def test_a_video_over_the_limit_is_stopped_by_its_header_or_its_bytes(
    fake_apiframe: FakeApiframe, videos: VideoFetcher
) -> None:
    fake_apiframe.video_bytes = oversized_mp4(300_000)
    with pytest.raises(VideoTooLarge) as declared:
        await videos.fetch(fake_apiframe.video_url("a"), "a.mp4", 100_000)
    assert declared.value.size == 300_000  # Content-Length said so: nothing read
    fake_apiframe.cdn_mode = "chunked"
    with pytest.raises(VideoTooLarge) as counted:
        await videos.fetch(fake_apiframe.video_url("a"), "a.mp4", 100_000)
    assert counted.value.size is None  # stopped by counting, past 100,000 bytes
    await videos.close()


async def test_the_archive_keeps_a_copy_and_never_fails_the_delivery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept = VideoFetcher(timeout=5, archive_dir=tmp_path / "videos")
    await kept.archive("job-1", VideoFile("a.mp4", b"data"))
    assert (tmp_path / "videos" / "job-1.mp4").read_bytes() == b"data"
    assert await kept.archived("job-1") == b"data"  # Extend and /video show read it back
    assert await kept.archived("job-0") is None
    assert await VideoFetcher(timeout=5).archived("job-1") is None  # no archive set
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    broken = VideoFetcher(timeout=5, archive_dir=blocked)
    await broken.archive("job-2", VideoFile("a.mp4", b"data"))  # logged, not raised
    assert "could not keep a copy" in caplog.text
