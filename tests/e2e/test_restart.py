"""Stopping the bot in the middle of a job loses nothing and charges once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import utc_now
from bot.store import stores_for
from testkit.commands import hailuo
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.harness import RunningBot


async def test_restart_while_polling_resumes_and_delivers(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.scripts.append(JobScript(polls_before_done=1_000_000))
    discord = running.discord
    member = discord.add_member("patient")
    interaction = await discord.invoke("hailuo", hailuo("a long render"), member=member)
    await discord.wait_for(lambda: any(j.polls >= 2 for j in fake_apiframe.jobs.values()))

    await running.crash()
    [remote] = fake_apiframe.jobs.values()
    remote.script.polls_before_done = remote.polls + 2
    bot = await running.start()

    card = await discord.wait_reply(interaction, "your video is ready")
    assert list(card.files.values()) == [fake_apiframe.video_bytes]
    assert len(fake_apiframe.jobs) == 1
    assert await bot.services.ledger.balance(discord.guild_id, member.id) == 15
    charges = await bot.services.database.fetch("SELECT * FROM ledger WHERE kind = 'charge'")
    assert len(charges) == 1


async def test_restart_before_submit_resubmits_with_the_same_key(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    member = discord.add_member("early")
    fake_apiframe.gate.clear()  # Apiframe hangs: the submit never gets its answer
    interaction = await discord.invoke("hailuo", hailuo("a quick one"), member=member)
    await discord.wait_for(lambda: fake_apiframe.count("POST", "/v2/videos/generate") == 1)
    await running.crash()
    fake_apiframe.gate.set()
    await asyncio.sleep(0.05)  # the abandoned request lands at Apiframe after all

    bot = await running.start()
    await discord.wait_reply(interaction, "your video is ready")
    keys = {
        h["Idempotency-Key"] for m, p, h in fake_apiframe.requests if p == "/v2/videos/generate"
    }
    assert len(keys) == 1
    assert len(fake_apiframe.jobs) <= 1
    assert await bot.services.ledger.balance(discord.guild_id, member.id) == 15


async def test_restart_after_outcome_delivers_once_without_new_charges(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    member = discord.add_member("done")
    interaction = await discord.invoke("hailuo", hailuo("done quickly"), member=member)
    await discord.wait_reply(interaction, "your video is ready")
    polls = sum(j.polls for j in fake_apiframe.jobs.values())
    bot = await running.restart()
    await asyncio.sleep(0.3)
    assert sum(j.polls for j in fake_apiframe.jobs.values()) == polls
    assert len([m for m in discord.replies_to(interaction) if not m.ephemeral]) == 1
    assert await bot.services.ledger.balance(discord.guild_id, member.id) == 15


async def test_commands_are_synced_only_when_they_change(running: RunningBot) -> None:
    assert running.discord.command_syncs == 1
    await running.restart()
    assert running.discord.command_syncs == 1


async def test_result_after_token_expiry_goes_to_the_channel_with_a_mention(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    member = discord.add_member("late")
    fake_apiframe.scripts.append(JobScript(polls_before_done=1_000_000))
    interaction = await discord.invoke("hailuo", hailuo("a very slow one"), member=member)
    await discord.wait_for(lambda: any(j.polls >= 1 for j in fake_apiframe.jobs.values()))
    await running.crash()

    # Fourteen and a half minutes later the token is all but spent.
    interaction.created_at -= 14.5 * 60
    stores = stores_for(running.settings)
    await stores.database.open()
    try:
        await stores.database.execute(
            "UPDATE jobs SET interaction_created_at = $1", utc_now() - timedelta(minutes=14.5)
        )
    finally:
        await stores.database.close()
    [remote] = fake_apiframe.jobs.values()
    remote.script.polls_before_done = remote.polls

    await running.start()
    await discord.wait_for(
        lambda: any("your video is ready" in m.content for m in discord.channel_messages())
    )
    [message] = discord.channel_messages()
    assert message.content.startswith(f"✅ <@{member.id}>")
    assert list(message.files.values()) == [fake_apiframe.video_bytes]  # the channel post too
    assert message.allowed_mentions is not None
    assert [str(u) for u in message.allowed_mentions["users"]] == [str(member.id)]
    assert message.allowed_mentions["parse"] == []
    assert message.nonce


async def test_job_reserved_before_its_card_was_posted_still_reaches_the_member(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    member = discord.add_member("unlucky")
    # Discord refuses the public card: the bot has reserved and written the job, but has no
    # message to edit.
    discord.fail("POST", r"^/webhooks/", 400, times=10)
    interaction = await discord.invoke("hailuo", hailuo("no card"), member=member)
    await discord.wait_for(
        lambda: any("your video is ready" in m.content for m in discord.channel_messages())
    )
    [message] = discord.channel_messages()
    assert message.content.startswith(f"✅ <@{member.id}>")
    assert all(m.ephemeral for m in discord.replies_to(interaction))
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, member.id) == 15
