"""/hailuo end to end: the real bot and cogs over loopback, against fake Discord and Apiframe."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from testkit.commands import hailuo
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord
from testkit.harness import RunningBot, make_settings
from tests.conftest import ErrorLog, image_bytes


async def test_text_to_video_delivers_link_and_charges_once(
    running: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    discord = running.discord
    member = discord.add_member("ana")
    interaction = await discord.invoke(
        "hailuo", hailuo("a fox running through snow [Push in]"), member=member
    )

    card = await discord.wait_reply(interaction, "your video is ready")
    assert interaction.callback_type == 5  # deferred within the deadline
    ack = discord.original(interaction)
    assert ack is not None and ack.ephemeral
    assert "5** credits reserved, **15** left" in ack.content
    assert not card.ephemeral
    # The video is the card's attached file, which Discord plays inline and keeps.
    assert list(card.files.values()) == [fake_apiframe.video_bytes]
    assert "cdn/videos" not in card.content
    assert "768p · 6 s · 5 credits" in card.content

    [submitted] = fake_apiframe.jobs.values()
    assert submitted.body == {
        "prompt": "a fox running through snow [Push in]",
        "model": "hailuo-02",
        "hailuoParams": {"duration": 6, "resolution": "768p"},
    }
    assert submitted.idempotency_key and submitted.idempotency_key.startswith("hailuo-bot-")
    assert fake_apiframe.rejected_bodies == []

    balance = await discord.invoke("credits", member=member)
    reply = await discord.wait_reply(balance, "credits in this server")
    assert "You have **15** credits" in reply.content
    assert f"/{discord.channel_id}/{card.id}" in reply.content
    assert error_log.records == []


async def test_image_to_video_uploads_both_frames(
    running: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    discord = running.discord
    member = discord.add_member("bo")
    start = discord.add_attachment(
        "first.png", image_bytes(800, 600), content_type="image/png", width=800, height=600
    )
    end = discord.add_attachment(
        "last.jpg", image_bytes(800, 600, "JPEG"), content_type="image/jpeg", width=800, height=600
    )
    interaction = await discord.invoke(
        "hailuo",
        hailuo(
            "morph the sunrise into night",
            duration=10,
            image=start,
            end_image=end,
            prompt_optimizer=True,
        ),
        member=member,
        attachments=[start, end],
    )

    card = await discord.wait_reply(interaction, "your video is ready")
    assert "768p · 10 s · 8 credits" in card.content
    [job] = fake_apiframe.jobs.values()
    params = job.body["hailuoParams"]
    assert params["duration"] == 10 and params["prompt_optimizer"] is True
    uploaded = {
        url.rsplit("/", 1)[-1]: data
        for url, data in ((params["image"], None), (params["end_image"], None))
    }
    assert set(uploaded) <= set(fake_apiframe.uploads)
    assert fake_apiframe.uploads[params["image"].rsplit("/", 1)[-1]][1] == "image/png"
    assert fake_apiframe.uploads[params["end_image"].rsplit("/", 1)[-1]][1] == "image/jpeg"
    assert fake_apiframe.rejected_bodies == []
    assert await running.services.ledger.balance(discord.guild_id, member.id) == 12
    # The images are kept once Apiframe has them: Again and 1080p send them again later.
    kept = await running.services.jobs.images(await _only_job_id(running))
    assert {image.filename for image in kept} == {"first.png", "last.jpg"}
    assert error_log.records == []


async def _only_job_id(running: RunningBot) -> str:
    assert running.bot is not None
    row = await running.services.database.fetch_one("SELECT id FROM jobs")
    assert row is not None
    return str(row["id"])


async def refused(
    running: RunningBot,
    options: list[dict[str, Any]],
    fragment: str,
    *,
    attachments: list[dict[str, Any]] | None = None,
) -> str:
    """Invoke /hailuo, expect an ephemeral refusal containing `fragment`, and prove it cost
    nothing and reached no Apiframe endpoint."""
    discord = running.discord
    member = discord.add_member(f"m{len(discord.members)}")
    interaction = await discord.invoke("hailuo", options, member=member, attachments=attachments)
    reply = await discord.wait_reply(interaction, fragment)
    assert reply.ephemeral
    assert "Nothing was charged" in reply.content
    assert [m for m in discord.replies_to(interaction) if not m.ephemeral] == []
    assert running.bot is not None
    assert await running.services.database.fetch("SELECT * FROM jobs") == []
    assert await running.services.ledger.balance(discord.guild_id, member.id) == 20
    return reply.content


async def test_1080p_at_10s_is_refused_before_anything(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    content = await refused(
        running, hailuo("a cat", duration=10, resolution="1080p"), "1080p is 6 s only"
    )
    assert "pick 768p for 10 s" in content
    assert fake_apiframe.job_requests() == []


async def test_end_image_alone_is_refused(running: RunningBot, fake_apiframe: FakeApiframe) -> None:
    end = running.discord.add_attachment(
        "end.png", image_bytes(400, 400), content_type="image/png", width=400, height=400
    )
    await refused(
        running, hailuo("a cat", end_image=end), "end image needs a start image", attachments=[end]
    )
    assert fake_apiframe.job_requests() == []


async def test_too_long_prompt_is_refused(running: RunningBot) -> None:
    await refused(running, hailuo("🎥" * 1500), "the limit is 2,000")


@pytest.mark.parametrize(
    ("meta", "fragment"),
    [
        ({"content_type": "image/gif", "width": 400, "height": 400}, "image/gif"),
        ({"content_type": "image/png", "width": 200, "height": 400}, "short side"),
        ({"content_type": "image/png", "width": 1200, "height": 400}, "too wide"),
        (
            {"content_type": "image/png", "width": 400, "height": 400, "size": 25_000_000},
            "the limit is 20 MB",
        ),
    ],
)
async def test_image_metadata_refusals_answer_at_once(
    running: RunningBot, fake_apiframe: FakeApiframe, meta: dict[str, Any], fragment: str
) -> None:
    start = running.discord.add_attachment("pic", image_bytes(400, 400), **meta)
    await refused(running, hailuo("a cat", image=start), fragment, attachments=[start])
    assert fake_apiframe.job_requests() == []


async def test_bytes_overrule_lying_metadata(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    # Discord says a 1000x1000 PNG; the bytes are a 100x100 JPEG.
    start = running.discord.add_attachment(
        "pic.png", image_bytes(100, 100, "JPEG"), content_type="image/png", width=1000, height=1000
    )
    content = await refused(
        running, hailuo("a cat", image=start), "its contents are image/jpeg", attachments=[start]
    )
    assert "save it in the format" in content
    assert fake_apiframe.job_requests() == []


async def test_bytes_that_are_too_small_are_refused(running: RunningBot) -> None:
    start = running.discord.add_attachment(
        "pic.png", image_bytes(100, 100), content_type="image/png", width=1000, height=1000
    )
    await refused(running, hailuo("a cat", image=start), "short side", attachments=[start])


async def test_a_file_that_is_no_image_is_refused(running: RunningBot) -> None:
    start = running.discord.add_attachment(
        "pic.png", b"MZ\x90\x00 not a picture", content_type="image/png", width=500, height=500
    )
    await refused(running, hailuo("a cat", image=start), "not a picture", attachments=[start])


async def test_short_balance_says_balance_price_and_who_grants(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    member = discord.add_member("poor")
    assert running.bot is not None
    await running.services.ledger.set_balance(discord.guild_id, member.id, 7, actor_id=1)
    interaction = await discord.invoke("hailuo", hailuo("a cat", resolution="1080p"), member=member)
    reply = await discord.wait_reply(interaction, "costs 10 credits and you have 7")
    assert reply.ephemeral and "Manage Server" in reply.content
    assert fake_apiframe.job_requests() == []
    assert await running.services.ledger.balance(discord.guild_id, member.id) == 7


async def test_in_a_dm_an_empty_wallet_pays_for_nothing(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    interaction = await discord.invoke(
        "hailuo", hailuo("a cat"), member=discord.add_member("d"), in_dm=True
    )
    reply = await discord.wait_reply(interaction, "your wallet holds 0")
    assert reply.ephemeral and "sells no credits" in reply.content
    assert reply.premium_skus() == []
    assert fake_apiframe.job_requests() == []


@pytest.mark.parametrize("outcome", ["FAILED", "CANCELLED"])
async def test_failed_job_is_refunded_and_says_why(
    running: RunningBot, fake_apiframe: FakeApiframe, outcome: str
) -> None:
    fake_apiframe.scripts.append(JobScript(outcome=outcome, error="Provider overloaded"))
    discord = running.discord
    member = discord.add_member("unlucky")
    interaction = await discord.invoke("hailuo", hailuo("something forbidden"), member=member)
    card = await discord.wait_reply(interaction, "could not be made")
    assert "Provider overloaded" in card.content
    assert "5 credits were refunded: nothing was charged" in card.content
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, member.id) == 20
    kinds = [
        e.kind.value for e in await running.services.ledger.history(discord.guild_id, member.id)
    ]
    assert kinds == ["refund", "reserve", "opening"]


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_owner_account_problems_refund_with_a_short_message(
    running: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog, status: int
) -> None:
    fake_apiframe.fail(
        "POST",
        "/v2/videos/generate",
        status,
        body={"error": "Insufficient credits", "creditsRequired": 5, "creditsAvailable": 0},
    )
    discord = running.discord
    member = discord.add_member("victim")
    interaction = await discord.invoke("hailuo", hailuo("a cat"), member=member)
    card = await discord.wait_reply(interaction, "could not be made")
    assert "not anything you did" in card.content and "refunded" in card.content
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, member.id) == 20
    [record] = [r for r in error_log.records if "refused the bot's account" in r.getMessage()]
    assert f"HTTP {status}" in record.getMessage()
    error_log.records.clear()


async def test_progress_is_shown_on_the_card(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.scripts.append(JobScript(polls_before_done=4))
    discord = running.discord
    interaction = await discord.invoke(
        "hailuo", hailuo("slow clouds"), member=discord.add_member("p")
    )
    seen: list[str] = []

    def record() -> bool:
        cards = [m for m in discord.replies_to(interaction) if not m.ephemeral]
        if cards and (not seen or seen[-1] != cards[0].content):
            seen.append(cards[0].content)
        return any("your video is ready" in s for s in seen)

    await discord.wait_for(record)
    assert any("Rendering" in s and "%" in s and "elapsed" in s for s in seen)


async def test_mentions_in_prompts_never_ping(running: RunningBot) -> None:
    discord = running.discord
    member = discord.add_member("prankster")
    interaction = await discord.invoke(
        "hailuo", hailuo("@everyone look <@&123> <@456>"), member=member
    )
    card = await discord.wait_reply(interaction, "your video is ready")
    assert "@everyone" in card.content
    assert card.allowed_mentions is not None
    assert card.allowed_mentions.get("parse") == []
    assert [str(u) for u in card.allowed_mentions.get("users", [])] in ([], [str(member.id)])
    for message in discord.replies_to(interaction):
        assert message.allowed_mentions is None or message.allowed_mentions.get("parse") == []


async def test_progress_edits_are_throttled(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.scripts.append(JobScript(polls_before_done=40))
    harness = RunningBot(
        make_settings(tmp_path, fake_discord, fake_apiframe, progress_edit_interval_seconds=0.5),
        fake_discord,
    )
    await harness.start()
    try:
        started = time.monotonic()
        interaction = await fake_discord.invoke(
            "hailuo", hailuo("a slow pan"), member=fake_discord.add_member("t")
        )
        card = await fake_discord.wait_reply(interaction, "your video is ready", within=20)
        took = time.monotonic() - started
    finally:
        await harness.stop()
    # 40 polls, every one with new progress; edits at most every 0.5 s, plus the final one.
    assert card.edits <= took / 0.5 + 2
    assert card.edits >= 2
