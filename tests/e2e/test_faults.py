"""Apiframe and Discord misbehaving: the bot retries what is safe, never refunds a job that
Apiframe may still bill, keeps serving other members, and still gets results to members."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from testkit.commands import hailuo
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeMember
from testkit.harness import RunningBot, make_settings
from tests.conftest import ErrorLog


async def bot_with(
    tmp_path: Path, discord: FakeDiscord, apiframe: FakeApiframe, **settings: Any
) -> AsyncIterator[RunningBot]:
    harness = RunningBot(make_settings(tmp_path, discord, apiframe, **settings), discord)
    await harness.start()
    yield harness
    await harness.stop()


@pytest.fixture
async def tolerant(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> AsyncIterator[RunningBot]:
    """A bot with a short Apiframe timeout, so faults play out in seconds."""
    async for harness in bot_with(
        tmp_path, fake_discord, fake_apiframe, apiframe_timeout_seconds=0.5
    ):
        yield harness


@pytest.fixture
async def impatient(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> AsyncIterator[RunningBot]:
    """A bot whose maximum wait is a second and whose day of patience is 1.5 s."""
    async for harness in bot_with(
        tmp_path,
        fake_discord,
        fake_apiframe,
        apiframe_max_wait_minutes=1.0 / 60,
        apiframe_give_up_hours=1.5 / 3600,
        apiframe_late_poll_interval_seconds=0.2,
    ):
        yield harness


async def make_video(
    running: RunningBot, name: str, prompt: str = "a calm lake", within: float = 20
) -> str:
    discord = running.discord
    interaction = await discord.invoke("hailuo", hailuo(prompt), member=discord.add_member(name))
    card = await discord.wait_reply(interaction, "your video is ready", within=within)
    return card.content


async def balance(running: RunningBot, name: str) -> int:
    assert running.bot is not None
    [member] = [m for m in running.discord.members.values() if m.name == name]
    return await running.services.ledger.balance(running.discord.guild_id, member.id)


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (429, {"Retry-After": "0.2"}),
        (429, {}),
        (500, {}),
        (502, {}),
        (503, {}),
    ],
)
async def test_bursts_of_errors_on_every_call_still_deliver(
    tolerant: RunningBot, fake_apiframe: FakeApiframe, status: int, headers: dict[str, str]
) -> None:
    for method, prefix in (("POST", "/v2/videos/generate"), ("GET", "/v2/jobs/")):
        fake_apiframe.fail(method, prefix, status, headers=headers, times=3, body={"error": "busy"})
    await make_video(tolerant, "ana")
    assert len(fake_apiframe.jobs) == 1
    assert await balance(tolerant, "ana") == 15


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 0},  # connection reset
        {"status": 503, "delay": 1.0},  # slower than the client's timeout
        {"status": 200, "raw": b"<html>gateway hiccup</html>"},
        {"status": 200, "body": {"unexpected": True}},
    ],
)
async def test_unreadable_or_lost_answers_are_retried_with_the_same_key(
    tolerant: RunningBot, fake_apiframe: FakeApiframe, fault: dict[str, Any]
) -> None:
    fake_apiframe.fail("POST", "/v2/videos/generate", times=2, **fault)
    fake_apiframe.fail("GET", "/v2/jobs/", times=2, **fault)
    await make_video(tolerant, "bo")
    assert len(fake_apiframe.jobs) == 1
    keys = {
        h.get("Idempotency-Key") for m, p, h in fake_apiframe.requests if p == "/v2/videos/generate"
    }
    assert len(keys) == 1
    assert await balance(tolerant, "bo") == 15


async def test_unknown_status_is_waited_out(
    tolerant: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.fail(
        "GET", "/v2/jobs/", 200, times=3, body={"id": "x", "status": "UPSCALING", "progress": 50}
    )
    await make_video(tolerant, "cy")


async def test_404_for_a_job_does_not_refund_it(
    tolerant: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    fake_apiframe.fail("GET", "/v2/jobs/", 404, times=5, body={"error": "Job not found"})
    content = await make_video(tolerant, "di")
    assert "your video is ready" in content
    assert await balance(tolerant, "di") == 15
    assert any("does not know job" in r.getMessage() for r in error_log.records)
    error_log.records.clear()


async def test_polling_401_keeps_the_job_and_tells_the_owner(
    tolerant: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    fake_apiframe.fail("GET", "/v2/jobs/", 401, times=3, body={"error": "Invalid API key"})
    await make_video(tolerant, "ed")
    assert await balance(tolerant, "ed") == 15
    assert any("Check APIFRAME_API_KEY" in r.getMessage() for r in error_log.records)
    error_log.records.clear()


async def test_a_job_that_never_finishes_is_late_then_refunded(
    impatient: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    fake_apiframe.scripts.append(JobScript(polls_before_done=10**9))
    discord = impatient.discord
    member = discord.add_member("fay")
    interaction = await discord.invoke("hailuo", hailuo("forever"), member=member)
    await discord.wait_reply(interaction, "much longer than usual", within=10)
    polls_when_late = sum(j.polls for j in fake_apiframe.jobs.values())
    card = await discord.wait_reply(interaction, "could not be made", within=15)
    assert "stopped waiting" in card.content and "refunded" in card.content
    assert await balance(impatient, "fay") == 20
    polls_after = sum(j.polls for j in fake_apiframe.jobs.values()) - polls_when_late
    assert polls_after <= 1.5 / 0.2 + 2  # slow checks once late
    error_log.records.clear()


async def test_one_429_storm_slows_every_poller_without_multiplying_requests(
    tolerant: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = tolerant.discord
    fake_apiframe.default_script = JobScript(polls_before_done=10**9)
    members = [discord.add_member(f"p{i}") for i in range(10)]
    assert tolerant.bot is not None
    await tolerant.services.guild_settings.set_limits(discord.guild_id, 5, 20, actor_id=1)
    for member in members:
        await discord.invoke("hailuo", hailuo(f"job {member.name}"), member=member)
    await discord.wait_for(
        lambda: len(fake_apiframe.jobs) == 10 and all(j.polls for j in fake_apiframe.jobs.values())
    )
    before = fake_apiframe.count("GET", "/v2/jobs/")
    fake_apiframe.fail(
        "GET",
        "/v2/jobs/",
        429,
        headers={"Retry-After": "1"},
        times=10**6,
        body={"error": "Too many requests"},
    )
    started = time.monotonic()
    await asyncio.sleep(2.0)
    during = fake_apiframe.count("GET", "/v2/jobs/") - before
    elapsed = time.monotonic() - started
    # Without the shared gate, 10 pollers at 0.05 s would send about 400 requests here.
    assert during <= 10 * (elapsed / 1.0 + 1) + 5
    assert tolerant.services.apiframe.gate.closures >= 1
    fake_apiframe.faults.clear()


async def test_other_members_are_served_while_apiframe_is_down(
    tolerant: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.fail("POST", "/v2/videos/generate", 503, times=10**6)
    discord = tolerant.discord
    stuck = discord.add_member("stuck")
    await discord.invoke("hailuo", hailuo("waiting on apiframe"), member=stuck)
    await discord.wait_for(lambda: fake_apiframe.count("POST", "/v2/videos/generate") >= 3)
    started = time.monotonic()
    reply = await discord.wait_reply(
        await discord.invoke("credits", member=stuck), "credits in this server"
    )
    assert time.monotonic() - started < 1.0
    assert "You have **15** credits" in reply.content  # reserved, not refunded
    fake_apiframe.faults.clear()
    await discord.wait_for(lambda: len(fake_apiframe.jobs) == 1, within=30)


# -- Discord faults ------------------------------------------------------------------------


async def lose_the_card(running: RunningBot, fake_apiframe: FakeApiframe, name: str) -> FakeMember:
    """Start a job, then delete its card while it renders (as a member or moderator might)."""
    discord = running.discord
    fake_apiframe.scripts.append(JobScript(polls_before_done=6))
    member = discord.add_member(name)
    interaction = await discord.invoke("hailuo", hailuo(f"job of {name}"), member=member)
    await discord.wait_reply(interaction, "Rendering")
    [card] = [m for m in discord.replies_to(interaction) if not m.ephemeral]
    card.deleted = True
    return member


def delivered_in(discord: FakeDiscord, channel_id: int) -> bool:
    return any("your video is ready" in m.content for m in discord.channel_messages(channel_id))


async def test_deleted_card_sends_the_result_to_the_channel(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    member = await lose_the_card(running, fake_apiframe, "gil")
    await discord.wait_for(lambda: delivered_in(discord, discord.channel_id))
    [message] = discord.channel_messages()
    assert message.content.startswith(f"✅ <@{member.id}>")


async def test_no_channel_permission_falls_back_to_a_direct_message(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    discord.forbidden_channels.add(discord.channel_id)
    member = await lose_the_card(running, fake_apiframe, "hal")
    await discord.wait_for(lambda: delivered_in(discord, member.id + 1))


async def test_when_nothing_can_be_posted_credits_shows_the_link(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    discord.forbidden_channels.add(discord.channel_id)
    member = await lose_the_card(running, fake_apiframe, "ivy")
    discord.closed_dms.add(member.id)
    assert running.bot is not None
    await discord.wait_for(lambda: not running.services.runner.running)
    discord.forbidden_channels.clear()
    reply = await discord.wait_reply(
        await discord.invoke("credits", member=member), "Recent videos"
    )
    assert f"{fake_apiframe.base_url}/cdn/videos/" in reply.content
    row = await running.services.database.fetch_one("SELECT delivered_via FROM jobs")
    assert row is not None and row[0] == "kept"


async def test_discord_rate_limits_and_errors_are_ridden_out(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    discord.fail(
        "PATCH",
        r"/messages/\d+$",
        429,
        {"message": "You are being rate limited.", "retry_after": 0.3, "global": False},
        headers={"Via": "1.1 google", "Retry-After": "0.3", "X-RateLimit-Scope": "user"},
        times=2,
    )
    discord.fail("PATCH", r"/messages/\d+$", 502, times=1)
    content = await make_video(running, "jo", within=30)
    assert "your video is ready" in content
    assert await balance(running, "jo") == 15
