"""A server's first minutes with the bot: its admins are told what to set up, and while they have
handed out no credits, members are told who can, not merely that they are poor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testkit.commands import hailuo, integer, sub, user
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord, FakeMessage
from testkit.harness import RunningBot, make_settings

FIRST_STEPS = ("/quota default", "/quota cap", "/hailuo")
NOT_SET_UP = "This server has not set up credits yet"


@pytest.fixture
async def fresh_bot(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> AsyncIterator[RunningBot]:
    """The bot with the owner's default: no credits until a server's admins hand some out."""
    settings = make_settings(tmp_path, fake_discord, fake_apiframe, default_credits=0)
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    yield harness
    await harness.stop()


def first_steps_in(discord: FakeDiscord, channel_id: int) -> list[FakeMessage]:
    return [
        message
        for message in discord.channel_messages(channel_id)
        if all(step in message.content for step in FIRST_STEPS)
    ]


async def test_a_new_server_gets_its_first_steps_in_its_system_channel(
    fresh_bot: RunningBot,
) -> None:
    discord = fresh_bot.discord
    owner = discord.add_member("owner", admin=True)
    _, channel = await discord.join_guild(owner)
    await discord.wait_for(lambda: bool(first_steps_in(discord, channel)))
    [message] = first_steps_in(discord, channel)
    assert "no credits" in message.content
    assert not first_steps_in(discord, owner.id + 1)  # not twice


@pytest.mark.parametrize("why", ["no system channel", "the bot may not post there"])
async def test_otherwise_the_servers_owner_gets_them_in_a_direct_message(
    fresh_bot: RunningBot, why: str
) -> None:
    discord = fresh_bot.discord
    owner = discord.add_member("owner", admin=True)
    if why == "the bot may not post there":
        discord.fail("POST", r"^/channels/\d+/messages$", 403)  # the first post: the welcome
        _, channel = await discord.join_guild(owner)
    else:
        _, channel = await discord.join_guild(owner, system_channel=False)
    await discord.wait_for(lambda: bool(first_steps_in(discord, owner.id + 1)))
    assert not first_steps_in(discord, channel)


async def test_members_of_a_server_that_handed_out_nothing_are_told_who_can(
    fresh_bot: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = fresh_bot.discord
    ana = discord.add_member("ana")
    asked = await discord.invoke("hailuo", hailuo("a lighthouse at dusk"), member=ana)
    refusal = await discord.wait_reply(asked, NOT_SET_UP)
    assert refusal.ephemeral and "/quota default" in refusal.content
    assert fake_apiframe.jobs == {}
    balance = await discord.wait_reply(
        await discord.invoke("credits", member=ana), "credits in this server"
    )
    assert NOT_SET_UP in balance.content

    admin = discord.add_member("admin", admin=True)
    await discord.wait_reply(
        await discord.invoke("quota", [sub("default", integer("amount", 10))], member=admin),
        "now start with **10** credits",
    )
    asked = await discord.invoke("hailuo", hailuo("a lighthouse at dusk"), member=ana)
    await discord.wait_reply(asked, "Accepted")


async def test_once_credits_were_handed_out_a_poor_member_is_told_the_price(
    fresh_bot: RunningBot,
) -> None:
    discord = fresh_bot.discord
    admin, ana, ben = (discord.add_member(n, admin=n == "admin") for n in ("admin", "ana", "ben"))
    await discord.wait_reply(
        await discord.invoke(
            "quota", [sub("add", user("member", ana.id), integer("amount", 5))], member=admin
        ),
        "now has",
    )
    asked = await discord.invoke("hailuo", hailuo("a lighthouse at dusk"), member=ben)
    refusal = await discord.wait_reply(asked, "costs 5 credits and you have 0")
    assert NOT_SET_UP not in refusal.content
