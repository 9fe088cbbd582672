"""The job's card in Components V2: one container with what was asked, the prompt and the
video in a media gallery (the file, or a link that still plays), buttons beneath; classic when
Discord refuses it or the owner says so; and videos served from the bot's own archive."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from testkit.commands import hailuo
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import COMPONENTS_V2, FakeDiscord, FakeMember, FakeMessage, walk
from testkit.harness import RunningBot, free_port, make_settings
from testkit.media import oversized_mp4

READY = "your video is ready"


async def finished(discord: FakeDiscord, prompt: str = "a red kite over hills") -> FakeMessage:
    asked = await discord.invoke("hailuo", hailuo(prompt), member=discord.add_member("ana"))
    return await discord.wait_reply(asked, READY, within=20)


def containers(message: FakeMessage) -> list[dict[str, object]]:
    return [c for c in walk(message.components) if c.get("type") == 17]


async def test_the_card_is_one_container_with_the_video_in_a_gallery(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    card = await finished(discord, "@everyone a red kite over hills")
    assert card.flags & COMPONENTS_V2 and len(containers(card)) == 1
    assert "Hailuo 02 · 768p · 6 s · 5 credits · `" in card.content
    assert "> @everyone a red kite over hills" in card.content  # quoted, and never a ping
    assert card.allowed_mentions is not None and card.allowed_mentions.get("parse") == []
    [item] = card.gallery()
    [name] = card.files
    assert item["media"]["url"] == f"attachment://{name}" and not item.get("spoiler")
    assert card.files[name] == fake_apiframe.video_bytes
    assert set(card.buttons()) == {"Again", "1080p", "Extend", "Delete"}
    assert discord.refused_v2 == []


async def test_a_video_over_the_upload_limit_plays_from_its_link(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = oversized_mp4(11 * 1024 * 1024)
    card = await finished(running.discord)
    assert card.files == {}
    [item] = card.gallery()
    assert item["media"]["url"].startswith(f"{fake_apiframe.base_url}/cdn/videos/")
    assert "larger than Discord lets the bot upload" in card.content


async def test_discords_413_turns_the_file_into_the_link(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    running.discord.upload_limit = 1000  # the interaction promised 10 MiB
    card = await finished(running.discord)
    assert card.files == {} and card.v2
    assert card.video_link().startswith(f"{fake_apiframe.base_url}/cdn/videos/")


async def test_a_video_made_for_adults_is_a_spoiler_in_its_gallery(
    running: RunningBot,
) -> None:
    discord = running.discord
    adults = await discord.add_channel("after-dark", age_restricted=True)
    asked = await discord.invoke(
        "hailuo", hailuo("a moody nightclub"), member=discord.add_member("bo"), channel_id=adults
    )
    card = await discord.wait_reply(asked, READY, within=20)
    [item] = card.gallery()
    assert item["spoiler"] is True


async def test_a_refused_v2_card_goes_classic_and_the_log_says_why_once(
    running: RunningBot, fake_apiframe: FakeApiframe, caplog: pytest.LogCaptureFixture
) -> None:
    discord = running.discord
    discord.refuse_components_v2 = True
    caplog.set_level(logging.WARNING)
    first = await finished(discord)
    second = await finished(discord, "a second kite")
    for card in (first, second):
        assert not card.v2 and card.files and "Again" in card.buttons()
    told = [r for r in caplog.records if "refused a Components V2 card" in r.getMessage()]
    # Once for the cards posted, once for the outcomes delivered: never once per message.
    assert 1 <= len(told) <= 2


@pytest.fixture
async def classic(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> AsyncIterator[RunningBot]:
    settings = make_settings(tmp_path, fake_discord, fake_apiframe, card_style="classic")
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    yield harness
    await harness.stop()


async def test_the_owner_may_keep_the_classic_card(classic: RunningBot) -> None:
    card = await finished(classic.discord)
    assert not card.v2 and card.files and card.gallery() == []


@pytest.fixture
async def archiving(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> AsyncIterator[RunningBot]:
    port = free_port()
    settings = make_settings(
        tmp_path,
        fake_discord,
        fake_apiframe,
        http_port=port,
        video_archive_dir=tmp_path / "videos",
        video_public_base_url=f"http://127.0.0.1:{port}",
    )
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    yield harness
    await harness.stop()


async def test_archived_videos_are_served_by_the_bot_with_ranges_and_never_listed(
    archiving: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    video = oversized_mp4(11 * 1024 * 1024)  # over the upload limit: served from the archive
    fake_apiframe.video_bytes = video
    discord = archiving.discord
    card = await finished(discord)
    link = card.video_link()
    base = archiving.settings.video_public_base_url
    assert base is not None and link.startswith(f"{base}/videos/") and link.endswith(".mp4")
    assert "plays from the bot's own copy" in card.content
    async with aiohttp.ClientSession() as session:
        async with session.head(link) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "video/mp4"
            assert int(response.headers["Content-Length"]) == len(video)
        async with session.get(link, headers={"Range": "bytes=4-11"}) as response:
            assert response.status == 206
            assert await response.read() == video[4:12]  # the MP4's `ftyp` box
        for elsewhere in (
            f"{base}/videos/",
            f"{base}/videos/{'A' * 43}.mp4",
            f"{base}/videos/..%2F..%2Fbot.sqlite3",
        ):
            async with session.get(elsewhere) as response:
                assert response.status == 404, elsewhere
        # A deleted video is never shown again, from here either.
        press = await discord.click(card, "Delete", member=card_owner(discord, card))
        await discord.wait_for(lambda: card.deleted and press.callback_type is not None)
        async with session.get(link) as response:
            assert response.status == 404


def card_owner(discord: FakeDiscord, card: FakeMessage) -> FakeMember:
    """The member whose video the card is (the one it mentions)."""
    [member] = [m for m in discord.members.values() if f"<@{m.id}>" in card.content]
    return member
