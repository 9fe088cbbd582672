"""Stories of chained scenes, and "Animate with Hailuo" on a message with a picture, through the
fake Discord and the fake Apiframe, on both engines."""

from __future__ import annotations

import io
from typing import Any

import av
from PIL import Image

from testkit.commands import attachment, integer, sub, text, user
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeInteraction, FakeMember, FakeMessage
from testkit.harness import RunningBot
from testkit.media import small_mp4
from testkit.snowflakes import snowflake
from tests.conftest import image_bytes

READY = "your video is ready"
# A clip large enough for its last frame to start the next scene: 12 frames at 12 a second
# (1 s), shading from red to solid blue.
CLIP = small_mp4(width=480, height=320)


def story(scenes: str, **options: Any) -> list[dict[str, Any]]:
    chosen = [text("scenes", scenes)]
    for name, value in options.items():
        if name == "image":
            chosen.append(attachment("image", value["id"]))
        elif isinstance(value, int):
            chosen.append(integer(name, value))
        else:
            chosen.append(text(name, value))
    return chosen


def seconds_of(video: bytes) -> float:
    """How long the video plays: its frames over its rate."""
    with av.open(io.BytesIO(video), mode="r") as container:
        stream = container.streams.video[0]
        frames = sum(1 for _frame in container.decode(stream))
        return frames / float(stream.average_rate or 1)


def start_picture(fake_apiframe: FakeApiframe, remote_index: int) -> Image.Image:
    remote = list(fake_apiframe.jobs.values())[remote_index]
    upload_id = remote.body["hailuoParams"]["image"].rsplit("/", 1)[-1]
    data, _ = fake_apiframe.uploads[upload_id]
    return Image.open(io.BytesIO(data)).convert("RGB")


def is_blue(picture: Image.Image) -> bool:
    red, _, blue = picture.getpixel((picture.width // 2, picture.height // 2))  # type: ignore[misc]
    return bool(blue > 200 and red < 60)


async def balance(running: RunningBot, member: FakeMember) -> int:
    return await running.services.ledger.balance(running.discord.guild_id, member.id)


async def test_a_story_continues_each_scene_from_the_last_frame_and_arrives_as_one_video(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = CLIP
    discord = running.discord
    ana = discord.add_member("ana")
    asked = await discord.invoke(
        "hailuo-story", story("a fox wakes up | it runs to the river | it sleeps"), member=ana
    )
    ack = await discord.wait_reply(asked, "credits reserved")
    assert ack.ephemeral and "**15** credits reserved, **5** left" in ack.content
    card = await discord.wait_reply(asked, READY, within=30)

    # Three jobs at Apiframe, one after the other; the later two start from the last frame
    # of the one before (solid blue), the first from nothing.
    remotes = list(fake_apiframe.jobs.values())
    assert [r.body["prompt"] for r in remotes] == [
        "a fox wakes up",
        "it runs to the river",
        "it sleeps",
    ]
    assert "image" not in remotes[0].body.get("hailuoParams", {})
    for index in (1, 2):
        picture = start_picture(fake_apiframe, index)
        assert picture.size == (480, 320) and is_blue(picture)
        assert remotes[index].created >= remotes[index - 1].completed_at  # type: ignore[operator]

    # One MP4 on the card, as long as its three clips together, and each scene linked.
    [(name, joined)] = card.files.items()
    assert name.endswith(".mp4")
    assert abs(seconds_of(joined) - 3 * seconds_of(CLIP)) < 0.2
    for remote in remotes:
        assert fake_apiframe.video_url(remote.id) in card.content
    assert "15 credits" in card.content  # three 6 s scenes: 18 s
    assert "a story of 3 scenes" in card.content and "scene 1 of 3" not in card.content
    assert "18 s" in card.content
    assert await balance(running, ana) == 5
    charges = await running.services.database.fetch(
        "SELECT job_id FROM ledger WHERE kind = 'charge' AND member_id = $1", ana.id
    )
    assert len(charges) == 3

    # Again makes the whole story again.
    assert set(card.buttons()) == {"Again", "Delete"}
    bo = discord.add_member("bo")
    again = await discord.click(card, "Again", member=bo)
    assert "**15** credits reserved" in (await discord.wait_reply(again, "reserved")).content
    await discord.wait_reply(again, READY, within=30)
    assert [r.body["prompt"] for r in list(fake_apiframe.jobs.values())[3:]] == [
        "a fox wakes up",
        "it runs to the river",
        "it sleeps",
    ]


async def test_a_story_starts_from_its_image_with_the_saved_defaults(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = CLIP
    discord = running.discord
    ana = discord.add_member("ana")
    saved = await discord.invoke("hailuo-defaults", [integer("duration", 10)], member=ana)
    await discord.wait_reply(saved, "")
    start = discord.add_attachment(
        "harbour.png", image_bytes(800, 600), content_type="image/png", width=800, height=600
    )
    asked = await discord.invoke(
        "hailuo-story",
        story("a boat leaves | it meets a storm", image=start),
        member=ana,
        attachments=[start],
    )
    ack = await discord.wait_reply(asked, "credits reserved")
    assert "**16** credits reserved" in ack.content  # two 10 s scenes at 768p, 8 each
    await discord.wait_reply(asked, READY, within=30)
    first, second = fake_apiframe.jobs.values()
    assert start_picture(fake_apiframe, 0).size == (800, 600)
    assert is_blue(start_picture(fake_apiframe, 1))
    assert first.body["hailuoParams"]["duration"] == second.body["hailuoParams"]["duration"] == 10


async def test_a_failed_middle_scene_refunds_the_rest_and_delivers_what_was_made(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = CLIP
    fake_apiframe.scripts.extend(
        [JobScript(), JobScript(outcome="FAILED", error="Upstream provider error: storm")]
    )
    discord = running.discord
    ana = discord.add_member("ana")
    asked = await discord.invoke(
        "hailuo-story",
        story("a calm sea | a storm rises | the sun returns | night falls"),
        member=ana,
    )
    assert (
        "**20** credits reserved, **0** left"
        in (await discord.wait_reply(asked, "reserved")).content
    )
    card = await discord.wait_reply(asked, READY, within=30)
    assert len(fake_apiframe.jobs) == 2  # scenes 3 and 4 never went to Apiframe
    assert "Scene 2 failed" in card.content and "storm" in card.content
    assert "15 credits" in card.content  # scenes 2 to 4, refunded
    [joined] = card.files.values()
    assert abs(seconds_of(joined) - seconds_of(CLIP)) < 0.2  # scene 1 alone
    assert await balance(running, ana) == 15
    refunds = await running.services.database.fetch(
        "SELECT job_id FROM ledger WHERE kind = 'refund' AND member_id = $1", ana.id
    )
    assert len(refunds) == 3


async def test_a_story_whose_first_scene_fails_refunds_everything(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.scripts.append(JobScript(outcome="FAILED", error="Upstream provider error"))
    discord = running.discord
    ana = discord.add_member("ana")
    asked = await discord.invoke("hailuo-story", story("one | two"), member=ana)
    card = await discord.wait_reply(asked, "could not be made", within=30)
    assert "10 credits were refunded" in card.content
    assert await balance(running, ana) == 20
    assert len(fake_apiframe.jobs) == 1


async def test_a_restart_during_a_story_resumes_it_and_charges_once(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = CLIP
    fake_apiframe.scripts.extend([JobScript(), JobScript(polls_before_done=1_000_000)])
    discord = running.discord
    ana = discord.add_member("ana")
    asked = await discord.invoke("hailuo-story", story("dawn | noon | dusk"), member=ana)
    await discord.wait_for(
        lambda: len(fake_apiframe.jobs) == 2 and list(fake_apiframe.jobs.values())[1].polls >= 1,
        within=30,
    )
    await running.crash()
    second = list(fake_apiframe.jobs.values())[1]
    second.script.polls_before_done = second.polls + 1
    bot = await running.start()

    card = await discord.wait_reply(asked, READY, within=30)
    assert len(fake_apiframe.jobs) == 3
    [joined] = card.files.values()
    assert abs(seconds_of(joined) - 3 * seconds_of(CLIP)) < 0.2
    assert await bot.services.ledger.balance(discord.guild_id, ana.id) == 5
    charges = await bot.services.database.fetch("SELECT * FROM ledger WHERE kind = 'charge'")
    assert len(charges) == 3
    finished = [m for m in discord.replies_to(asked) if not m.ephemeral and READY in m.content]
    assert len(finished) == 1


async def test_a_story_is_refused_before_anything_is_charged_naming_each_scene(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")
    blocked = await discord.invoke(
        "quota", [sub("block", sub("add", text("words", "kraken")))], member=admin
    )
    await discord.wait_reply(blocked, "Blocked")
    for scenes, fragments in (
        ("only one scene", ["2 to 5 scenes"]),
        ("a | b | c | d | e | f", ["2 to 5 scenes", "6"]),
        ("a calm sea |  | the kraken rises", ["Scene 2 is empty", "Scene 3", "kraken"]),
        (f"short | {'y' * 2001}", ["Scene 2", "2,000"]),
    ):
        asked = await discord.invoke("hailuo-story", story(scenes), member=ana)
        refusal = await discord.wait_reply(asked, "Nothing was charged")
        assert refusal.ephemeral
        for fragment in fragments:
            assert fragment in refusal.content, (scenes, refusal.content)
    assert fake_apiframe.jobs == {}
    assert await balance(running, ana) == 20

    # More than the member has: refused whole, nothing reserved.
    emptied = await discord.invoke(
        "quota", [sub("set", user("member", ana.id), integer("amount", 12))], member=admin
    )
    await discord.wait_reply(emptied, "now has **12** credits")
    asked = await discord.invoke("hailuo-story", story("a | b | c"), member=ana)
    refusal = await discord.wait_reply(asked, "Nothing was charged")
    assert "15" in refusal.content and "12" in refusal.content
    assert await balance(running, ana) == 12


async def test_a_story_in_a_direct_message_is_paid_from_the_wallet(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = CLIP
    discord = running.discord
    ana = discord.add_member("ana")
    owner_gift = await running.services.wallets.gift(ana.id, 30, 0, "a test gift")
    assert owner_gift == 30
    asked = await discord.invoke("hailuo-story", story("one | two"), member=ana, in_dm=True)
    ack = await discord.wait_reply(asked, "reserved from your wallet")
    assert "**10** credits reserved from your wallet, **20** left" in ack.content
    await discord.wait_reply(asked, READY, within=30)
    assert await running.services.wallets.balance(ana.id) == 20


def picture_message(
    discord: FakeDiscord, author: FakeMember, content: str, *, embed: bool = False
) -> dict[str, Any]:
    """A member's message in the main channel with a picture attached (or embedded, as a link
    preview is: through Discord's media proxy)."""
    picture = discord.add_attachment(
        "cat.png", image_bytes(640, 480), content_type="image/png", width=640, height=480
    )
    message = FakeMessage(id=snowflake(), channel_id=discord.channel_id, content=content)
    body = message.to_json(author.user_json())
    if embed:
        body["embeds"] = [
            {
                "type": "image",
                "url": "https://example.test/cat.png",
                "thumbnail": {
                    "url": "https://example.test/cat.png",
                    "proxy_url": picture["url"],
                    "width": 640,
                    "height": 480,
                },
            }
        ]
    else:
        body["attachments"] = [picture]
    return body


async def open_form(
    discord: FakeDiscord, target: dict[str, Any], member: FakeMember
) -> FakeInteraction:
    """Animate with Hailuo on `target`, until the bot shows its form."""
    shown = await discord.invoke_on_message("Animate with Hailuo", target, member=member)
    await discord.wait_for(lambda: shown.modal is not None)
    return shown


async def test_animate_starts_a_video_from_the_picture_on_a_message(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    cy, ana = discord.add_member("cy"), discord.add_member("ana")
    for embed in (False, True):
        target = picture_message(discord, cy, "a cat on a sofa", embed=embed)
        shown = await open_form(discord, target, ana)
        assert shown.modal is not None
        [field] = [
            component
            for row in shown.modal["components"]
            for component in row.get("components", [])
            if component["type"] == 4
        ]
        assert field["value"] == "a cat on a sofa"  # the message's own words
        submitted = await discord.submit_modal(
            shown, {"What happens in the video": "the cat yawns"}, member=ana
        )
        assert "**5** credits reserved" in (await discord.wait_reply(submitted, "reserved")).content
        card = await discord.wait_reply(submitted, READY, within=20)
        assert f"animates <@{cy.id}>’s [picture](<https://discord.com/channels/" in card.content
        remote = list(fake_apiframe.jobs.values())[-1]
        assert remote.body["prompt"] == "the cat yawns"
        assert start_picture(fake_apiframe, -1).size == (640, 480)
    assert await balance(running, ana) == 10


async def test_animate_refuses_a_message_without_a_usable_picture(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    cy, ana = discord.add_member("cy"), discord.add_member("ana")
    plain = FakeMessage(id=snowflake(), channel_id=discord.channel_id, content="hello")
    shown = await discord.invoke_on_message(
        "Animate with Hailuo", plain.to_json(cy.user_json()), member=ana
    )
    refusal = await discord.wait_reply(shown, "no picture to animate")
    assert refusal.ephemeral and shown.modal is None

    # A picture too small for the model: refused privately after the form, nothing charged.
    tiny = discord.add_attachment(
        "tiny.png", image_bytes(120, 90), content_type="image/png", width=120, height=90
    )
    body = FakeMessage(id=snowflake(), channel_id=discord.channel_id, content="").to_json(
        cy.user_json()
    )
    body["attachments"] = [tiny]
    shown = await open_form(discord, body, ana)
    submitted = await discord.submit_modal(
        shown, {"What happens in the video": "it moves"}, member=ana
    )
    refusal = await discord.wait_reply(submitted, "Nothing was charged")
    assert refusal.ephemeral and "at least" in refusal.content
    assert fake_apiframe.jobs == {}
    assert await balance(running, ana) == 20


async def test_a_join_that_fails_still_delivers_each_scene_and_costs_nothing_more(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.video_bytes = CLIP
    fake_apiframe.scripts.extend([JobScript(), JobScript(polls_before_done=4)])
    discord = running.discord
    ana = discord.add_member("ana")
    asked = await discord.invoke("hailuo-story", story("rain | sun"), member=ana)
    # The second scene is on its way: its first one's frame was taken. Then Apiframe's CDN
    # loses the clips, so they cannot be fetched to be joined.
    await discord.wait_for(lambda: len(fake_apiframe.jobs) == 2, within=30)
    fake_apiframe.cdn_mode = "missing"
    card = await discord.wait_reply(asked, READY, within=30)
    assert "could not be joined" in card.content
    assert card.files == {}
    for remote in fake_apiframe.jobs.values():
        assert fake_apiframe.video_url(remote.id) in card.content
    assert await balance(running, ana) == 10  # the two scenes made, nothing else


async def test_animate_in_a_direct_message_is_paid_from_the_wallet(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    cy, ana = discord.add_member("cy"), discord.add_member("ana")
    await running.services.wallets.gift(ana.id, 30, 0, "a test gift")
    target = picture_message(discord, cy, "a lighthouse at dusk")
    target["channel_id"] = str(ana.id + 1)  # a picture someone sent to the member's DM
    shown = await discord.invoke_on_message("Animate with Hailuo", target, member=ana, in_dm=True)
    await discord.wait_for(lambda: shown.modal is not None)
    submitted = await discord.submit_modal(shown, {}, member=ana)
    ack = await discord.wait_reply(submitted, "reserved from your wallet")
    assert "**5** credits reserved from your wallet, **25** left" in ack.content
    card = await discord.wait_reply(submitted, READY, within=20)
    assert f"animates <@{cy.id}>’s" in card.content
    assert fake_apiframe.jobs and list(fake_apiframe.jobs.values())[-1].body["prompt"] == (
        "a lighthouse at dusk"
    )
    assert await running.services.wallets.balance(ana.id) == 25
