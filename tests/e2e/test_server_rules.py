"""A server's rules for what gets made: blocked words and adult content, end to end."""

from __future__ import annotations

from testkit.commands import boolean, hailuo, integer, sub, text
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeMember
from testkit.harness import RunningBot

READY = "your video is ready"


async def quota(running: RunningBot, admin: FakeMember, *options: dict[str, object]) -> str:
    """Run a /quota command and return the bot's answer."""
    discord = running.discord
    interaction = await discord.invoke("quota", list(options), member=admin)
    await discord.wait_for(lambda: bool(discord.replies_to(interaction)))
    return discord.replies_to(interaction)[-1].content


async def test_a_blocked_word_is_refused_privately_for_free_and_logged(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")
    log_channel = await discord.add_channel("audit")
    await quota(
        running, admin, sub("log", {"name": "channel", "type": 7, "value": str(log_channel)})
    )
    said = await quota(running, admin, sub("block", sub("add", text("words", "Zorblax, red fog"))))
    assert "Blocked: “zorblax”, “red fog”" in said
    refused = await discord.invoke("hailuo", hailuo("a Z0RBL@X in a r.e.d f.o.g"), member=ana)
    reply = await discord.wait_reply(refused, "is blocked in this server")
    assert reply.ephemeral and "“red fog”" in reply.content and "“zorblax”" in reply.content
    assert "Nothing was charged" in reply.content
    assert fake_apiframe.job_requests() == []
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 20
    await discord.wait_for(
        lambda: any(
            "refused by this server's rules" in m.content
            for m in discord.channel_messages(log_channel)
        )
    )
    listed = await quota(running, admin, sub("block", sub("list")))
    assert "“red fog”" in listed and "“zorblax”" in listed
    await quota(running, admin, sub("block", sub("remove", text("words", "zorblax, red fog"))))
    allowed = await discord.invoke("hailuo", hailuo("a zorblax in red fog"), member=ana)
    await discord.wait_reply(allowed, READY)


async def test_members_cannot_change_the_block_list(running: RunningBot) -> None:
    member = running.discord.add_member("ana")
    said = await quota(running, member, sub("block", sub("add", text("words", "cats"))))
    assert "Manage Server" in said
    assert running.bot is not None
    assert (await running.services.rules.blocked_words(running.discord.guild_id)).entries == ()


async def test_sexual_prompts_only_in_age_restricted_channels_and_only_if_allowed(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")
    adults = await discord.add_channel("after-dark", age_restricted=True)
    prompt = hailuo("a nude statue in a museum")

    normal = await discord.invoke("hailuo", prompt, member=ana)
    assert "allows nowhere" in (await discord.wait_reply(normal, "reads as sexual")).content
    early = await discord.invoke("hailuo", prompt, member=ana, channel_id=adults)
    await discord.wait_reply(early, "reads as sexual")  # the server has not allowed it yet

    said = await quota(running, admin, sub("nsfw", text("setting", "allowed")))
    assert "age-restricted" in said
    elsewhere = await discord.invoke("hailuo", prompt, member=ana)
    reply = await discord.wait_reply(elsewhere, "reads as sexual")
    assert "age-restricted channels only" in reply.content
    assert fake_apiframe.job_requests() == []
    inside = await discord.invoke("hailuo", prompt, member=ana, channel_id=adults)
    await discord.wait_reply(inside, "credits reserved")
    await discord.wait_for(lambda: len(fake_apiframe.jobs) == 1)


async def test_saved_defaults_apply_by_precedence_and_are_reported(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")
    said = await quota(running, admin, sub("defaults", integer("duration", 10)))
    assert "This server's saved /hailuo defaults: 10 s" in said
    mine = await discord.invoke(
        "hailuo-defaults",
        [text("camera", "push in"), boolean("prompt_optimizer", True)],
        member=ana,
    )
    assert "Push in" in (await discord.wait_reply(mine, "saved /hailuo defaults")).content

    made = await discord.invoke("hailuo", hailuo("a quiet lake"), member=ana)
    ack = await discord.wait_reply(made, "credits reserved")
    assert "**8** credits reserved" in ack.content  # 10 s, from the server's defaults
    assert "duration 10 s (the server's)" in ack.content
    assert "camera Push in (yours)" in ack.content
    await discord.wait_for(lambda: bool(fake_apiframe.jobs))
    [remote] = fake_apiframe.jobs.values()
    assert remote.body["prompt"] == "a quiet lake [Push in]"
    assert remote.body["hailuoParams"]["duration"] == 10
    assert remote.body["hailuoParams"]["prompt_optimizer"] is True

    typed = await discord.invoke("hailuo", hailuo("a quiet lake", duration=6), member=ana)
    assert "**5** credits reserved" in (await discord.wait_reply(typed, "reserved")).content

    forbidden = await discord.invoke("hailuo", hailuo("a lake", resolution="1080p"), member=ana)
    reply = await discord.wait_reply(forbidden, "1080p is 6 s only")
    assert "Saved defaults were used for: duration 10 s (the server's)" in reply.content
    assert "`/hailuo-defaults`" in reply.content and "Nothing was charged" in reply.content


async def test_a_video_made_for_adults_is_never_posted_outside_age_restricted_channels(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    adults = await discord.add_channel("after-dark", age_restricted=True)
    made = await discord.invoke(
        "hailuo", hailuo("a moody nightclub"), member=ana, channel_id=adults
    )
    card = await discord.wait_reply(made, READY)
    assert card.channel_id == adults
    assert running.bot is not None
    await discord.wait_for(lambda: not running.services.runner.running)
    short = (await running.services.jobs.recent_for_member(discord.guild_id, ana.id, 1))[0].short_id
    link = f"https://discord.com/channels/{discord.guild_id}/{adults}/{card.id}"

    # Asked to post it publicly in an ordinary channel: a private pointer, nothing of it.
    elsewhere = await discord.invoke(
        "video", [sub("show", text("id", short), boolean("public", True))], member=ana
    )
    shown = await discord.wait_reply(elsewhere, "age-restricted channel")
    assert shown.ephemeral and link in shown.content
    assert "nightclub" not in shown.content and not shown.files
    assert [m for m in discord.channel_messages() if m.files] == []
    inside = await discord.invoke(
        "video", [sub("show", text("id", short))], member=ana, channel_id=adults
    )
    assert link in (await discord.wait_reply(inside, "▶️")).content
    listing = await discord.invoke("credits", member=ana)
    assert (
        f"||https://discord.com/channels/{discord.guild_id}/{adults}/{card.id}||"
        in (await discord.wait_reply(listing, "Recent videos")).content
    )
