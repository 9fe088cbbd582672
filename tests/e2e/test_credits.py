"""/credits and /quota end to end, as admins and as members without Manage Server."""

from __future__ import annotations

import pytest

from testkit.commands import integer, sub, user
from testkit.harness import RunningBot


async def test_admin_sets_adds_and_removes_credits(running: RunningBot) -> None:
    discord = running.discord
    admin, member = discord.add_member("admin", admin=True), discord.add_member("member")
    assert running.bot is not None
    ledger = running.services.ledger

    reply = await discord.wait_reply(
        await discord.invoke(
            "quota", [sub("set", user("member", member.id), integer("amount", 50))], member=admin
        ),
        "now has",
    )
    assert reply.ephemeral and "**50** credits (+30)" in reply.content
    reply = await discord.wait_reply(
        await discord.invoke(
            "quota", [sub("add", user("member", member.id), integer("amount", -80))], member=admin
        ),
        "now has",
    )
    assert "**0** credits (-50)" in reply.content and "stops at 0" in reply.content
    await discord.wait_reply(
        await discord.invoke(
            "quota", [sub("add", user("member", member.id), integer("amount", 9))], member=admin
        ),
        "**9** credits (+9)",
    )
    assert await ledger.balance(discord.guild_id, member.id) == 9
    actors = [e.actor_id for e in await ledger.history(discord.guild_id, member.id)][:3]
    assert actors == [admin.id] * 3


async def test_admin_sets_the_default_for_new_members(running: RunningBot) -> None:
    discord = running.discord
    admin, newcomer = discord.add_member("admin", admin=True), discord.add_member("new")
    await discord.wait_reply(
        await discord.invoke("quota", [sub("default", integer("amount", 3))], member=admin),
        "now start with **3** credits",
    )
    reply = await discord.wait_reply(
        await discord.invoke("credits", member=newcomer), "credits in this server"
    )
    assert "You have **3** credits" in reply.content


@pytest.mark.parametrize(
    "action",
    [
        sub("set", integer("amount", 1000)),
        sub("add", integer("amount", 1000)),
        sub("default", integer("amount", 1000)),
    ],
)
async def test_quota_refuses_members_without_manage_server(
    running: RunningBot, action: dict[str, object]
) -> None:
    """Even when a server admin has made the command visible to everyone."""
    discord = running.discord
    member = discord.add_member("sneaky")
    options = dict(action)
    if options["name"] != "default":
        options["options"] = [user("member", member.id), *options["options"]]  # type: ignore[misc]
    reply = await discord.wait_reply(
        await discord.invoke("quota", [options], member=member), "Manage Server"
    )
    assert reply.ephemeral
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, member.id) == 20
    assert (await running.services.guild_settings.get(discord.guild_id)).default_credits == 20


async def test_looking_at_someone_elses_credits_needs_manage_server(running: RunningBot) -> None:
    discord = running.discord
    admin, member, other = (
        discord.add_member("a", admin=True),
        discord.add_member("b"),
        discord.add_member("c"),
    )
    reply = await discord.wait_reply(
        await discord.invoke("credits", [user("member", other.id)], member=member), "Manage Server"
    )
    assert reply.ephemeral and "credits in this server" not in reply.content
    reply = await discord.wait_reply(
        await discord.invoke("credits", [user("member", other.id)], member=admin),
        "credits in this server",
    )
    assert f"<@{other.id}> has **20** credits" in reply.content


async def test_quota_group_is_registered_for_manage_server_only(running: RunningBot) -> None:
    [quota] = [c for c in running.discord.commands if c["name"] == "quota"]
    assert int(quota["default_member_permissions"]) == 1 << 5
    assert {o["name"] for o in quota["options"]} == {
        "set",
        "add",
        "default",
        "allowance",
        "cap",
        "limits",
        "log",
        "show",
        "export",
        "block",
        "nsfw",
        "defaults",
    }
