"""The economy as the bot's owner governs it, end to end: a server's monthly budget (the
owner's, above its admins' cap), the whole bot's monthly limit with the owner's direct
messages at 80 % and 100 %, servers that wait for the owner's approval, and `/owner`, which
only the owner may use, from a direct message with the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from testkit.commands import boolean, hailuo, integer, sub, text, user
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeInteraction, FakeMember, FakeMessage
from testkit.harness import RunningBot, make_settings

HOLD = 1_000_000  # polls: a job that runs until the test ends (its credits stay reserved)
PRICE = 10  # a 6-second 1080p video on the default model
BUDGET_SPENT = "budget is spent until"

Start = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def start(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> AsyncIterator[Start]:
    """Start the bot with these settings; the application belongs to `olga`, who owns none of
    the servers (the main server is someone else's)."""
    started: list[RunningBot] = []

    async def starting(**overrides: Any) -> RunningBot:
        harness = RunningBot(
            make_settings(tmp_path, fake_discord, fake_apiframe, **overrides), fake_discord
        )
        await harness.start()
        started.append(harness)
        return harness

    fake_apiframe.default_script = JobScript(polls_before_done=HOLD)
    yield starting
    for harness in started:
        await harness.stop()


@pytest.fixture
def olga(fake_discord: FakeDiscord) -> FakeMember:
    owner = fake_discord.add_member("olga")
    fake_discord.app_owner = owner
    return owner


async def answer(
    discord: FakeDiscord,
    name: str,
    options: list[dict[str, Any]],
    member: FakeMember,
    **where: Any,
) -> FakeMessage:
    """The bot's last reply to a command, once it has finished answering."""
    asked = await discord.invoke(name, options, member=member, **where)
    await discord.wait_for(lambda: bool(discord.replies_to(asked)))
    await discord.wait_for(lambda: not any(m.loading for m in discord.replies_to(asked)))
    return discord.replies_to(asked)[-1]


async def video(
    discord: FakeDiscord, member: FakeMember, prompt: str, **where: Any
) -> FakeInteraction:
    return await discord.invoke(
        "hailuo", hailuo(prompt, resolution="1080p"), member=member, **where
    )


async def refused_or_reserved(discord: FakeDiscord, asked: FakeInteraction) -> str:
    """What became of a request: `reserved`, or the private refusal's text."""

    def settled() -> bool:
        return any(
            "credits reserved" in m.content or (m.ephemeral and "Nothing was charged" in m.content)
            for m in discord.replies_to(asked)
        )

    await discord.wait_for(settled)
    for message in discord.replies_to(asked):
        if "credits reserved" in message.content:
            return "reserved"
    return next(m.content for m in discord.replies_to(asked) if m.ephemeral)


def dms(discord: FakeDiscord, member: FakeMember) -> list[FakeMessage]:
    return discord.channel_messages(member.id + 1)


def asked_about(discord: FakeDiscord, owner: FakeMember, name: str) -> list[FakeMessage]:
    """The owner's direct messages asking about the server `name` (with Approve and Leave)."""
    return [m for m in dms(discord, owner) if m.buttons() and f"**{name}**" in m.content]


async def test_a_server_stops_at_its_budget_however_much_its_admins_hand_out(
    start: Start, olga: FakeMember, fake_apiframe: FakeApiframe
) -> None:
    running = await start(default_credits=0)  # SERVER_MONTHLY_BUDGET: its default, 100
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    ana = discord.add_member("ana")
    await answer(
        discord, "quota", [sub("add", user("member", ana.id), integer("amount", 1000))], admin
    )
    for n in range(10):  # 10 x 10 credits: the budget, reserved (running or queued)
        assert await refused_or_reserved(discord, await video(discord, ana, f"shot {n}")) == (
            "reserved"
        )
    refusal = await refused_or_reserved(discord, await video(discord, ana, "one more"))
    assert BUDGET_SPENT in refusal and "100 credits the bot's owner" in refusal
    # The admins hand out more, and raise their own cap: still the owner's budget.
    await answer(
        discord, "quota", [sub("add", user("member", ana.id), integer("amount", 1000))], admin
    )
    await answer(discord, "quota", [sub("cap", integer("amount", 100_000))], admin)
    refusal = await refused_or_reserved(discord, await video(discord, ana, "and another"))
    assert BUDGET_SPENT in refusal
    assert len(fake_apiframe.jobs) <= 10
    rows = await running.rows(
        "SELECT COUNT(*) AS n FROM jobs WHERE guild_id = $1", discord.guild_id
    )
    assert int(rows[0]["n"]) == 10
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 2000 - 100
    shown = await answer(discord, "quota", [sub("show")], admin)
    assert "Budget from the bot's owner: 100 a month, 100 used" in shown.content

    # The owner raises it from a direct message with the bot: the next video goes through,
    # and the budget holds through a restart.
    said = await answer(
        discord,
        "owner",
        [sub("budget", text("server", str(discord.guild_id)), integer("amount", 120))],
        olga,
        in_dm=True,
    )
    assert "120" in said.content and said.ephemeral
    assert await refused_or_reserved(discord, await video(discord, ana, "raised")) == "reserved"
    await running.restart()
    assert await refused_or_reserved(discord, await video(discord, ana, "after")) == "reserved"
    assert BUDGET_SPENT in await refused_or_reserved(
        discord, await video(discord, ana, "over again")
    )
    change = await running.row(
        "SELECT change, old_value, new_value, actor_id FROM owner_changes WHERE guild_id = $1",
        discord.guild_id,
    )
    assert change is not None
    assert (change["change"], change["old_value"], change["new_value"]) == (
        "budget",
        "default",
        "120",
    )
    assert int(change["actor_id"]) == olga.id


async def test_the_whole_bots_monthly_limit_spans_servers_and_tells_the_owner(
    start: Start, olga: FakeMember, fake_apiframe: FakeApiframe
) -> None:
    running = await start(
        monthly_spend_limit=5 * PRICE, server_monthly_budget=1000, default_credits=100
    )
    discord = running.discord
    ana, bo = discord.add_member("ana"), discord.add_member("bo")
    other, _ = await discord.join_guild(discord.add_member("host", admin=True), name="Film Club")
    await discord.wait_for(lambda: bool(discord.channel_messages(discord.more_guilds[other])))
    elsewhere = {"guild_id": other}
    for n in range(3):
        assert await refused_or_reserved(discord, await video(discord, ana, f"a{n}")) == "reserved"
    # 80 % (4 of 5 videos) is reached in the other server: the owner hears, once.
    assert await refused_or_reserved(discord, await video(discord, bo, "b0", **elsewhere)) == (
        "reserved"
    )
    await discord.wait_for(lambda: any("80 %" in m.content for m in dms(discord, olga)))
    assert await refused_or_reserved(discord, await video(discord, bo, "b1", **elsewhere)) == (
        "reserved"
    )
    await discord.wait_for(lambda: any("🛑" in m.content for m in dms(discord, olga)))
    for who, where in ((ana, {}), (bo, elsewhere)):
        refusal = await refused_or_reserved(discord, await video(discord, who, "more", **where))
        assert "monthly limit" in refusal
    assert len(fake_apiframe.jobs) <= 5
    said = [m.content for m in dms(discord, olga)]
    assert sum("80 %" in m for m in said) == 1 and sum("🛑" in m for m in said) == 1
    # The table the owner reads: both servers, with what each spent.
    table = await answer(discord, "owner", [sub("servers")], olga, in_dm=True)
    assert "50 of the 50-credit monthly limit" in table.content
    assert "Film Club" in table.content and "20" in table.content


async def test_a_server_waits_for_the_owners_approval_given_by_the_dms_button(
    start: Start, olga: FakeMember, fake_apiframe: FakeApiframe
) -> None:
    running = await start(new_servers="approve")
    discord = running.discord
    # A server the bot is in at its first start is new to it too: it waits, and the owner
    # is asked about it.
    ana = discord.add_member("ana")
    assert "waiting" in await refused_or_reserved(discord, await video(discord, ana, "home"))
    await discord.wait_for(lambda: bool(asked_about(discord, olga, "Video Club")))

    host = discord.add_member("host", admin=True)
    guild, channel = await discord.join_guild(host, name="Strangers")
    await discord.wait_for(lambda: bool(asked_about(discord, olga, "Strangers")))
    [asking] = asked_about(discord, olga, "Strangers")
    assert "Strangers" in asking.content and str(guild) in asking.content
    assert set(asking.buttons()) == {"Approve", "Leave"}
    await discord.wait_for(lambda: bool(discord.channel_messages(channel)))
    assert "approves the servers" in discord.channel_messages(channel)[0].content

    waiting = await refused_or_reserved(discord, await video(discord, host, "x", guild_id=guild))
    assert "waiting for the bot's owner" in waiting
    assert len(fake_apiframe.jobs) == 0

    pressed = await discord.click(asking, "Approve", member=olga)
    await discord.wait_for(lambda: pressed.callback_type is not None)
    assert "Approved" in asking.content and asking.buttons() == {}
    assert await refused_or_reserved(discord, await video(discord, host, "z", guild_id=guild)) == (
        "reserved"
    )
    change = await running.row(
        "SELECT actor_id FROM owner_changes WHERE guild_id = $1 AND change = 'approval'", guild
    )
    assert change is not None and int(change["actor_id"]) == olga.id


async def test_leave_takes_the_bot_out_of_a_waiting_server(start: Start, olga: FakeMember) -> None:
    running = await start(new_servers="approve")
    discord = running.discord
    guild, _ = await discord.join_guild(discord.add_member("host"), name="Spam Inc")
    await discord.wait_for(lambda: bool(asked_about(discord, olga, "Spam Inc")))
    [asking] = asked_about(discord, olga, "Spam Inc")
    pressed = await discord.click(asking, "Leave", member=olga)
    await discord.wait_for(lambda: pressed.callback_type is not None)
    assert guild in discord.left_guilds and "left" in asking.content
    table = await answer(discord, "owner", [sub("servers")], olga, in_dm=True)
    assert "Spam Inc" not in table.content
    servers = await running.services.servers.table()
    assert guild not in [use.server.guild_id for use in servers[0]]


async def test_servers_of_the_owner_need_no_approval_and_have_no_budget(
    start: Start, olga: FakeMember
) -> None:
    running = await start(new_servers="approve")
    discord = running.discord
    guild, channel = await discord.join_guild(olga, name="Olga's")
    await discord.wait_for(lambda: bool(discord.channel_messages(channel)))
    assert not asked_about(discord, olga, "Olga's")
    server = await running.services.servers.get(guild)
    assert server is not None
    assert not running.services.servers.waiting(server)
    assert running.services.servers.budget(server) is None


async def test_only_the_owner_may_use_owner(start: Start, olga: FakeMember) -> None:
    running = await start()
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    for options, where in (
        ([sub("servers")], {}),
        ([sub("budget", text("server", str(discord.guild_id)), integer("amount", 0))], {}),
        ([sub("approve", text("server", str(discord.guild_id)))], {"in_dm": True}),
        ([sub("leave", text("server", str(discord.guild_id)))], {}),
    ):
        said = await answer(discord, "owner", options, admin, **where)
        assert said.ephemeral and "Only the bot's owner" in said.content
    assert await running.row("SELECT 1 FROM owner_changes") is None
    assert discord.left_guilds == set()
    # Hidden from members in servers: the command is for administrators by default.
    [owner_command] = [c for c in discord.commands if c["name"] == "owner"]
    assert str(owner_command["default_member_permissions"]) == "8"
    # And the owner is told plainly about a server the bot is not in.
    said = await answer(
        discord,
        "owner",
        [sub("budget", text("server", "123456789"), boolean("unlimited", True))],
        olga,
        in_dm=True,
    )
    assert "not a server the bot is in" in said.content


async def test_a_team_owns_the_bot_together(start: Start, fake_discord: FakeDiscord) -> None:
    pia, ravi = fake_discord.add_member("pia"), fake_discord.add_member("ravi")
    fake_discord.app_team = [pia, ravi]
    running = await start()
    table = await answer(running.discord, "owner", [sub("servers")], ravi, in_dm=True)
    assert "**Servers**" in table.content
    suggested = await running.discord.invoke(
        "owner",
        [sub("budget", {**text("server", "vid"), "focused": True})],
        member=pia,
        typing=True,
        in_dm=True,
    )
    await running.discord.wait_for(lambda: suggested.choices is not None)
    assert suggested.choices == [
        {"name": f"Video Club ({running.discord.guild_id})", "value": str(running.discord.guild_id)}
    ]
