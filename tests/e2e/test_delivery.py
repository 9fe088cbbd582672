"""The video reaches the member as a file that stays, and fast: webhooks, uploads and fallbacks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from testkit.commands import hailuo
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeMessage
from testkit.harness import RunningBot, free_port, make_settings
from testkit.media import oversized_mp4
from tests.conftest import ErrorLog

READY = "your video is ready"


async def make_video(
    running: RunningBot, name: str, prompt: str = "a red kite over hills"
) -> tuple[FakeMessage, int]:
    discord = running.discord
    member = discord.add_member(name)
    interaction = await discord.invoke("hailuo", hailuo(prompt), member=member)
    card = await discord.wait_reply(interaction, READY, within=20)
    return card, member.id


async def credits_reply(running: RunningBot, member_id: int) -> str:
    discord = running.discord
    interaction = await discord.invoke("credits", member=discord.members[member_id])
    return (await discord.wait_reply(interaction, "Recent videos")).content


async def test_the_video_is_a_file_on_the_card_and_outlives_apiframes_copy(
    running: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    card, member_id = await make_video(running, "ana")
    assert list(card.files) == [next(iter(card.files))]
    [(name, data)] = card.files.items()
    assert name.startswith("hailuo-") and name.endswith(".mp4")
    assert data == fake_apiframe.video_bytes
    assert "a red kite over hills" in card.content
    assert fake_apiframe.base_url not in card.content

    fake_apiframe.cdn_mode = "purged"  # a day later, Apiframe's link is dead
    assert card.files  # ... and the message still carries the video
    listing = await credits_reply(running, member_id)
    jump = f"https://discord.com/channels/{running.discord.guild_id}/{card.channel_id}/{card.id}"
    assert jump in listing
    assert "/cdn/videos/" not in listing
    assert error_log.records == []


async def test_a_video_over_the_upload_limit_is_delivered_as_the_link(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = oversized_mp4(11 * 1024 * 1024)
    card, member_id = await make_video(running, "bo")
    assert card.files == {}
    assert card.video_link().startswith(f"{fake_apiframe.base_url}/cdn/videos/")
    assert "larger than Discord lets the bot upload" in card.content
    assert "/cdn/videos/" in await credits_reply(running, member_id)


async def test_discords_413_is_the_real_limit(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    running.discord.upload_limit = 1000  # the interaction said 10 MiB; Discord says no
    card, _ = await make_video(running, "cy")
    assert card.files == {}
    assert card.video_link().startswith(f"{fake_apiframe.base_url}/cdn/videos/")
    assert "larger than Discord lets" in card.content


@pytest.mark.parametrize("mode", ["missing", "html"])
async def test_a_failed_download_still_delivers_the_link(
    running: RunningBot, fake_apiframe: FakeApiframe, mode: str
) -> None:
    fake_apiframe.cdn_mode = mode
    card, _ = await make_video(running, f"dee-{mode}")
    assert card.files == {}
    assert card.video_link().startswith(f"{fake_apiframe.base_url}/cdn/videos/")
    assert "link does not last forever" in card.content
    assert running.bot is not None
    await running.discord.wait_for(lambda: not running.services.runner.running)
    row = await running.services.database.fetch_one("SELECT state, delivered_via FROM jobs")
    assert row is not None and tuple(row) == ("completed", "interaction")


async def test_a_restart_between_download_and_post_leaves_one_file(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    reached, release = asyncio.Event(), asyncio.Event()

    async def stall_the_upload(method: str, path: str, body: dict[str, Any]) -> None:
        if method == "PATCH" and body.get("_files") and not reached.is_set():
            reached.set()
            await release.wait()

    discord.before.append(stall_the_upload)
    member = discord.add_member("eve")
    interaction = await discord.invoke("hailuo", hailuo("waves at dusk"), member=member)
    await asyncio.wait_for(reached.wait(), 20)
    await running.crash()
    release.set()  # the upload lands after all, but the bot never heard back
    bot = await running.start()
    card = await discord.wait_reply(interaction, READY)
    await discord.wait_for(lambda: not bot.services.runner.running)
    assert len(card.files) == 1
    assert [m for m in discord.channel_messages() if READY in m.content] == []
    charges = await bot.services.database.fetch("SELECT * FROM ledger WHERE kind = 'charge'")
    assert len(charges) == 1
    assert await bot.services.ledger.balance(discord.guild_id, member.id) == 15


async def test_archive_keeps_a_copy_for_the_owner(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    archive = tmp_path / "videos"
    harness = RunningBot(
        make_settings(tmp_path, fake_discord, fake_apiframe, video_archive_dir=archive),
        fake_discord,
    )
    await harness.start()
    try:
        await make_video(harness, "fay")
        assert harness.bot is not None
        row = await harness.services.database.fetch_one("SELECT id FROM jobs")
        assert row is not None
        assert (archive / f"{row['id']}.mp4").read_bytes() == fake_apiframe.video_bytes
    finally:
        await harness.stop()


# -- webhooks ------------------------------------------------------------------------------


@pytest.fixture
async def hooked(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> AsyncIterator[RunningBot]:
    """The bot with webhooks on: polling is only a slow safety net (every 30 s here)."""
    port = free_port()
    settings = make_settings(
        tmp_path,
        fake_discord,
        fake_apiframe,
        http_port=port,
        apiframe_webhook_url=f"http://127.0.0.1:{port}/apiframe/webhook",
        apiframe_webhook_poll_interval_seconds=30.0,
    )
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    yield harness
    await harness.stop()


async def test_a_webhook_delivers_the_video_within_a_second(
    hooked: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    fake_apiframe.scripts.append(JobScript(render_seconds=1.5))
    card, _ = await make_video(hooked, "gus")
    seen = time.monotonic()
    [remote] = fake_apiframe.jobs.values()
    assert remote.body["webhookUrl"].endswith("/apiframe/webhook")
    assert remote.body["webhookEvents"] == ["progress", "completed", "failed"]
    assert fake_apiframe.rejected_bodies == []
    assert remote.completed_at is not None
    assert seen - (remote.created + 1.5) < 1.0
    assert remote.polls == 1  # the one check that confirmed the webhook's news
    assert ("progress", 200) in fake_apiframe.webhooks_sent
    assert card.files
    assert error_log.records == []


async def test_a_forged_webhook_is_refused_and_changes_nothing(
    hooked: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.scripts.append(JobScript(polls_before_done=10**6))
    discord = hooked.discord
    member = discord.add_member("hal")
    await discord.invoke("hailuo", hailuo("a slow one"), member=member)
    await discord.wait_for(lambda: bool(fake_apiframe.jobs))
    [remote] = fake_apiframe.jobs.values()
    url = remote.body["webhookUrl"]
    payload = {
        "event": "completed",
        "jobId": remote.id,
        "status": "COMPLETED",
        "progress": 100,
        "result": {"videoUrl": "https://evil.example/x.mp4"},
    }
    forged = fake_apiframe.signature(b"{}", "afk_not_the_key")
    assert await fake_apiframe.send_webhook(url, payload, signature=forged) == 401
    await asyncio.sleep(0.5)
    assert remote.polls == 0
    assert hooked.bot is not None
    row = await hooked.services.database.fetch_one("SELECT state, video_url FROM jobs")
    assert row is not None and tuple(row) == ("submitted", None)
    assert await hooked.services.ledger.balance(discord.guild_id, member.id) == 15  # reserved


async def test_repeated_and_late_webhooks_charge_and_deliver_once(
    hooked: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.webhook_copies = 3
    fake_apiframe.scripts.append(JobScript(render_seconds=0.8))
    card, member_id = await make_video(hooked, "ivy")
    [remote] = fake_apiframe.jobs.values()
    url = remote.body["webhookUrl"]
    late = {"event": "progress", "jobId": remote.id, "status": "PROCESSING", "progress": 40}
    assert await fake_apiframe.send_webhook(url, late) == 200
    await asyncio.sleep(0.3)
    assert hooked.bot is not None
    charges = await hooked.services.database.fetch("SELECT * FROM ledger WHERE kind = 'charge'")
    assert len(charges) == 1
    assert len(card.files) == 1 and READY in card.content
    assert [m for m in hooked.discord.channel_messages() if READY in m.content] == []
    assert await hooked.services.ledger.balance(hooked.discord.guild_id, member_id) == 15


async def test_a_webhook_for_an_unknown_job_is_acknowledged_and_ignored(
    hooked: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    assert hooked.bot is not None
    url = f"http://127.0.0.1:{hooked.services.web.bound_port}/apiframe/webhook"
    payload = {
        "event": "completed",
        "jobId": "00000000-0000-4000-8000-000000000000",
        "status": "COMPLETED",
    }
    assert await fake_apiframe.send_webhook(url, payload) == 200
    assert fake_apiframe.job_requests() == []
