"""What a member does next: the buttons on a finished video, camera moves, and `/video show`."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from testkit.commands import boolean, hailuo, integer, sub, text, user
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import (
    ALL_MEMBER_PERMISSIONS,
    FakeDiscord,
    FakeInteraction,
    FakeMember,
    FakeMessage,
)
from testkit.harness import RunningBot
from testkit.media import small_mp4
from tests.conftest import image_bytes

READY = "your video is ready"
MANAGE_MESSAGES = 1 << 13


async def finished_card(
    running: RunningBot,
    member: FakeMember,
    prompt: str = "a red kite over hills",
    *,
    duration: int | None = None,
    image: dict[str, Any] | None = None,
) -> FakeMessage:
    discord = running.discord
    interaction = await discord.invoke(
        "hailuo",
        hailuo(prompt, duration=duration, image=image),
        member=member,
        attachments=[image] if image else None,
    )
    card = await discord.wait_reply(interaction, READY, within=20)
    # Finished means delivered and recorded, not merely visible: what the bot reads back
    # (`/video show`, the buttons) is only settled then.
    await running.delivered(await _job_id(running, card))
    return card


async def answered(discord: FakeDiscord, click: FakeInteraction, fragment: str) -> FakeMessage:
    return await discord.wait_reply(click, fragment, within=20)


async def idle(running: RunningBot) -> None:
    assert running.bot is not None
    await running.discord.wait_for(lambda: not running.services.runner.running, within=20)


async def test_again_makes_the_same_video_for_whoever_clicks(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    ana, bo = discord.add_member("ana"), discord.add_member("bo")
    start = discord.add_attachment(
        "first.png", image_bytes(800, 600), content_type="image/png", width=800, height=600
    )
    card = await finished_card(running, ana, image=start)
    assert set(card.buttons()) == {"Again", "1080p", "Extend", "Delete"}

    click = await discord.click(card, "Again", member=bo)
    ack = await answered(discord, click, "credits reserved")
    assert ack.ephemeral and "**5** credits reserved, **15** left" in ack.content
    again = await answered(discord, click, READY)
    original = await _short_id(running, card)
    assert f"again from [`{original}`](<https://discord.com/channels/" in again.content
    first, second = list(fake_apiframe.jobs.values())
    assert second.body["prompt"] == first.body["prompt"]
    assert {k: v for k, v in second.body["hailuoParams"].items() if k != "image"} == {
        k: v for k, v in first.body["hailuoParams"].items() if k != "image"
    }
    uploaded = [data for data, _ in fake_apiframe.uploads.values()]
    assert len(uploaded) == 2 and uploaded[0] == uploaded[1]  # the same image, sent again
    await idle(running)
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, bo.id) == 15  # bo pays
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 15


async def _job_id(running: RunningBot, card: FakeMessage) -> str:
    assert running.bot is not None
    row = await running.services.database.fetch_one(
        "SELECT id FROM jobs WHERE card_message_id = $1", card.id
    )
    assert row is not None
    return str(row[0])


async def _short_id(running: RunningBot, card: FakeMessage) -> str:
    return (await _job_id(running, card))[:8]


async def test_1080p_remakes_a_768p_6s_video_and_is_not_offered_elsewhere(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished_card(running, ana)
    click = await discord.click(card, "1080p", member=ana)
    assert "**10** credits reserved" in (await answered(discord, click, "reserved")).content
    await answered(discord, click, READY)
    assert list(fake_apiframe.jobs.values())[-1].body["hailuoParams"]["resolution"] == "1080p"
    longer = await finished_card(running, discord.add_member("cy"), "a long one", duration=10)
    assert "1080p" not in longer.buttons() and "Again" in longer.buttons()


async def test_extend_starts_from_the_last_frame(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = small_mp4(width=480, height=320)  # ends on solid blue
    discord = running.discord
    ana, bo = discord.add_member("ana"), discord.add_member("bo")
    card = await finished_card(running, ana, "a boat leaves the harbour")
    click = await discord.click(card, "Extend", member=bo)
    await discord.wait_for(lambda: click.modal is not None)
    assert click.modal is not None
    [field] = [
        component
        for row in click.modal["components"]
        for component in row.get("components", [])
        if component["type"] == 4
    ]
    assert field["value"] == "a boat leaves the harbour"  # pre-filled with the old prompt
    submitted = await discord.submit_modal(
        click, {"What happens next": "the boat sails into the storm"}, member=bo
    )
    extended = await answered(discord, submitted, READY)
    source_link = f"https://discord.com/channels/{discord.guild_id}/{card.channel_id}/{card.id}"
    assert f"extends [`{await _short_id(running, card)}`](<{source_link}>)" in extended.content
    remote = list(fake_apiframe.jobs.values())[-1]
    assert remote.body["prompt"] == "the boat sails into the storm"
    upload_id = remote.body["hailuoParams"]["image"].rsplit("/", 1)[-1]
    data, content_type = fake_apiframe.uploads[upload_id]
    assert content_type == "image/png"
    with Image.open(io.BytesIO(data)) as frame:
        assert frame.size == (480, 320)
        red, _, blue = frame.convert("RGB").getpixel((240, 160))  # type: ignore[misc]
        assert blue > 200 and red < 60


async def test_extend_refuses_a_frame_too_small_for_the_model(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished_card(running, ana)  # the fake's default clip is 64 by 48 px
    click = await discord.click(card, "Extend", member=ana)
    await discord.wait_for(lambda: click.modal is not None)
    submitted = await discord.submit_modal(click, {}, member=ana)
    refusal = await answered(discord, submitted, "short side must be at least")
    assert refusal.ephemeral and "Nothing was charged" in refusal.content
    assert len(fake_apiframe.jobs) == 1


@pytest.mark.parametrize("why", ["a blocked word", "no credits left"])
async def test_extend_refuses_before_it_downloads_or_decodes_anything(
    running: RunningBot, fake_apiframe: FakeApiframe, why: str
) -> None:
    discord = running.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")
    card = await finished_card(running, ana)
    if why == "a blocked word":
        blocked = await discord.invoke(
            "quota", [sub("block", sub("add", text("words", "kraken")))], member=admin
        )
        await discord.wait_reply(blocked, "Blocked")
        prompt, fragment = "a k/r/a/k/e/n rises", "is blocked in this server"
    else:
        emptied = await discord.invoke(
            "quota", [sub("set", user("member", ana.id), integer("amount", 0))], member=admin
        )
        await discord.wait_reply(emptied, "now has **0** credits")
        prompt, fragment = "it goes on", "you have 0"
    downloads, cdn = discord.file_downloads, fake_apiframe.cdn_requests
    click = await discord.click(card, "Extend", member=ana)
    await discord.wait_for(lambda: click.modal is not None)
    submitted = await discord.submit_modal(click, {"What happens next": prompt}, member=ana)
    refusal = await answered(discord, submitted, fragment)
    assert refusal.ephemeral and "Nothing was charged" in refusal.content
    assert (discord.file_downloads, fake_apiframe.cdn_requests) == (downloads, cdn)
    assert len(fake_apiframe.jobs) == 1


async def test_delete_is_for_the_author_or_a_moderator_and_touches_no_credits(
    running: RunningBot,
) -> None:
    discord = running.discord
    plain = ALL_MEMBER_PERMISSIONS & ~MANAGE_MESSAGES
    ana = discord.add_member("ana", permissions=plain)
    bo = discord.add_member("bo", permissions=plain)
    moderator = discord.add_member("mod")  # has Manage Messages
    card = await finished_card(running, ana)
    refused = await discord.click(card, "Delete", member=bo)
    assert "Manage Messages" in (await answered(discord, refused, "can delete it")).content
    assert not card.deleted
    deleted = await discord.click(card, "Delete", member=ana)
    await answered(discord, deleted, "Deleted")
    assert card.deleted
    assert running.bot is not None
    row = await running.services.database.fetch_one("SELECT deleted_at, deleted_by FROM jobs")
    assert row is not None and row[0] is not None and row[1] == ana.id
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 15
    other = await finished_card(running, ana, "another one")
    await answered(discord, await discord.click(other, "Delete", member=moderator), "Deleted")
    assert other.deleted


async def test_buttons_work_after_a_restart(running: RunningBot) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished_card(running, ana)
    await running.restart()
    click = await discord.click(card, "Again", member=ana)
    await answered(discord, click, READY)


async def test_a_double_click_makes_one_job(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished_card(running, ana)
    first, second = await asyncio.gather(
        discord.click(card, "Again", member=ana), discord.click(card, "Again", member=ana)
    )

    def said(fragment: str) -> int:
        return sum(
            any(fragment in m.content for m in discord.replies_to(click))
            for click in (first, second)
        )

    await discord.wait_for(lambda: said("reserved") + said("You just asked") == 2, within=20)
    assert said("reserved") == 1 and said("You just asked") == 1
    await discord.wait_for(lambda: said(READY) == 1, within=20)
    await idle(running)
    assert len(fake_apiframe.jobs) == 2
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 10


async def test_again_on_purpose_a_moment_later_makes_a_second_paid_video(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished_card(running, ana)
    first = await discord.click(card, "Again", member=ana)
    await discord.wait_reply(first, "credits reserved")
    assert running.bot is not None
    # Three seconds later (the double-click window is two): a deliberate second click.
    await running.services.database.execute(
        "UPDATE jobs SET created_at = $1 WHERE source_job_id IS NOT NULL",
        datetime.now(UTC) - timedelta(seconds=3),
    )
    second = await discord.click(card, "Again", member=ana)
    await discord.wait_reply(second, "credits reserved")
    await discord.wait_reply(first, READY, within=20)
    await discord.wait_reply(second, READY, within=20)
    await idle(running)
    assert len(fake_apiframe.jobs) == 3
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 5  # each one paid


async def test_again_at_the_member_limit_waits_in_the_queue_with_cancel(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")
    card = await finished_card(running, ana)
    limits = await discord.invoke(
        "quota", [sub("limits", integer("per_member", 1), integer("per_server", 5))], member=admin
    )
    await discord.wait_reply(limits, "Up to")
    fake_apiframe.default_script = JobScript(polls_before_done=10**6)
    await discord.invoke("hailuo", hailuo("a slow one"), member=ana)
    await discord.wait_for(lambda: len(fake_apiframe.jobs) == 2)
    click = await discord.click(card, "Again", member=ana)
    waiting = await answered(discord, click, "position 1")
    assert "Cancel" in waiting.buttons()


async def test_a_button_refusal_is_the_same_clear_reply(running: RunningBot) -> None:
    discord = running.discord
    ana, broke = discord.add_member("ana"), discord.add_member("broke")
    admin = discord.add_member("admin", admin=True)
    card = await finished_card(running, ana)
    await discord.wait_reply(
        await discord.invoke(
            "quota",
            [sub("set", user("member", broke.id), integer("amount", 2))],
            member=admin,
        ),
        "now has",
    )
    click = await discord.click(card, "Again", member=broke)
    reply = await answered(discord, click, "costs 5 credits and you have 2")
    assert reply.ephemeral and "Nothing was charged" in reply.content


async def test_camera_moves_join_the_prompt_and_typos_get_a_hint(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    options = [*hailuo("a fox in snow"), text("camera", "pan left, Pedestal up")]
    await discord.wait_reply(await discord.invoke("hailuo", options, member=ana), READY)
    assert fake_apiframe.jobs and next(iter(fake_apiframe.jobs.values())).body["prompt"] == (
        "a fox in snow [Pan left,Pedestal up]"
    )
    typo = [*hailuo("a fox [Pan lft]"), boolean("prompt_optimizer", True)]
    reply = await discord.wait_reply(
        await discord.invoke("hailuo", typo, member=ana), "did you mean `[Pan left]`"
    )
    assert "Nothing was charged" in reply.content
    bad = [*hailuo("a fox"), text("camera", "Zoom in, Spin")]
    await discord.wait_reply(await discord.invoke("hailuo", bad, member=ana), "not a camera move")
    assert len(fake_apiframe.jobs) == 1


@pytest.mark.parametrize("state", ["running", "finished", "failed", "unknown"])
async def test_video_show_finds_a_video_by_its_short_id(
    running: RunningBot, fake_apiframe: FakeApiframe, state: str
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    if state == "running":
        fake_apiframe.scripts.append(JobScript(polls_before_done=10**6))
    if state == "failed":
        fake_apiframe.scripts.append(JobScript(outcome="FAILED"))
    made = await discord.invoke("hailuo", hailuo("a lighthouse"), member=ana)
    await discord.wait_reply(made, "credits reserved")
    await discord.wait_for(lambda: bool(fake_apiframe.jobs))
    if state in ("finished", "failed"):
        await discord.wait_reply(made, READY if state == "finished" else "could not be made")
    assert running.bot is not None
    row = await running.services.database.fetch_one("SELECT id, card_message_id FROM jobs")
    assert row is not None
    if state in ("finished", "failed"):
        await running.delivered(str(row[0]))  # shown once delivery is recorded, not before
    short = "0badc0de" if state == "unknown" else str(row[0])[:8]
    shown = await discord.invoke("video", [sub("show", text("id", short))], member=ana)
    expected = {
        "running": "Still being made",
        "finished": f"/{discord.channel_id}/{row[1]}",
        "failed": "Could not be made",
        "unknown": "No video with the id",
    }[state]
    reply = await discord.wait_reply(shown, expected)
    assert reply.ephemeral


async def test_video_show_while_its_video_is_being_posted_never_posts_it_twice(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    posting = asyncio.Event()
    release = asyncio.Event()

    async def hold_the_result(method: str, path: str, body: dict[str, Any]) -> None:
        if method == "PATCH" and READY in str(body):  # the card's words, classic or V2
            posting.set()
            await release.wait()

    discord.before.append(hold_the_result)
    made = await discord.invoke("hailuo", hailuo("a lighthouse"), member=ana)
    await discord.wait_reply(made, "credits reserved")
    await asyncio.wait_for(posting.wait(), 20)  # finished and charged, its card being edited
    assert running.bot is not None
    [job] = await running.services.jobs.recent_for_member(discord.guild_id, ana.id, 5)
    assert job.state.value == "completed" and job.delivered_at is None

    shown = await discord.invoke("video", [sub("show", text("id", job.short_id))], member=ana)
    reply = await discord.wait_reply(shown, "being posted")
    assert f"/{discord.channel_id}/{job.card_message_id}" in reply.content  # its card's link
    assert not reply.files

    release.set()
    await discord.wait_reply(made, READY)
    await running.delivered(job.id)
    with_video = [m for m in discord.messages.values() if m.files and not m.deleted]
    assert len(with_video) == 1  # the card alone carries the video
    assert not [m for m in discord.replies_to(shown) if m.files]


@pytest.mark.parametrize("seen", ["MESSAGE_DELETE", "a 404 when the bot looks"])
async def test_a_video_a_moderator_deleted_is_never_posted_again(
    running: RunningBot, fake_apiframe: FakeApiframe, seen: str
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished_card(running, ana)
    if seen == "MESSAGE_DELETE":
        await discord.delete_message(card)  # Discord's own Delete, by a moderator
    else:
        card.deleted = True  # deleted while the bot was not listening
    short = await _short_id(running, card)
    for _ in range(2):
        shown = await discord.invoke(
            "video", [sub("show", text("id", short), boolean("public", True))], member=ana
        )
        reply = await discord.wait_reply(shown, "message was deleted, so it is not shown again")
        assert not reply.files
    assert [m for m in discord.messages.values() if m.files and not m.deleted] == []
    assert running.bot is not None
    job = await running.services.jobs.require(await _job_id(running, card))
    assert job.deleted_at is not None
    again = await discord.click(card, "Again", member=ana)  # its buttons still make new ones
    await discord.wait_reply(again, "credits reserved")


async def test_video_show_posts_a_video_that_was_delivered_as_a_link(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    discord.upload_limit = 1000  # the file is refused: the card carries Apiframe's link
    ana = discord.add_member("ana")
    card = await finished_card(running, ana)
    assert not card.files and fake_apiframe.base_url in card.video_link()
    discord.upload_limit = 10 * 1024 * 1024
    shown = await discord.invoke(
        "video", [sub("show", text("id", await _short_id(running, card)))], member=ana
    )
    reply = await discord.wait_reply(shown, "Here is the video")
    assert reply.ephemeral and list(reply.files.values()) == [fake_apiframe.video_bytes]


async def test_video_show_needs_the_whole_short_id(running: RunningBot) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished_card(running, ana)
    short = await _short_id(running, card)
    for typed in (short[:1], short[:7]):
        shown = await discord.invoke("video", [sub("show", text("id", typed))], member=ana)
        reply = await discord.wait_reply(shown, "is too short")
        assert "8 characters" in reply.content
    whole = await discord.invoke(
        "video", [sub("show", text("id", await _job_id(running, card)))], member=ana
    )
    await discord.wait_reply(whole, "▶️")


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("hailuo", [text("prompt", "a fox")]),
        ("hailuo-defaults", []),
        ("quota", None),
    ],
)
async def test_camera_moves_are_suggested_as_they_are_typed(
    running: RunningBot, command: str, options: list[dict[str, Any]] | None
) -> None:
    discord = running.discord
    typing = {"name": "camera", "type": 3, "value": "Pan left, ped", "focused": True}
    if options is None:  # /quota defaults
        payload = [{"name": "defaults", "type": 1, "options": [typing]}]
        member = discord.add_member("admin", admin=True)
    else:
        payload = [*options, typing]
        member = discord.add_member("ana")
    asked = await discord.invoke(command, payload, member=member, typing=True)
    await discord.wait_for(lambda: asked.choices is not None)
    assert [c["value"] for c in asked.choices or []] == [
        "Pan left, Pedestal up",
        "Pan left, Pedestal down",
    ]
