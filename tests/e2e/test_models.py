"""The Hailuo family on one command: each model's rules checked before anything is charged,
its price charged once, kept by saved defaults, Again and Extend; what Apiframe billed set
beside what members paid; and a content-policy refusal said plainly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from testkit.commands import hailuo, opt, sub, text
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeMember, FakeMessage
from testkit.harness import RunningBot, make_settings
from testkit.media import small_mp4
from tests.conftest import image_bytes

READY = "your video is ready"


def picture(discord: FakeDiscord, name: str = "start.png") -> dict[str, Any]:
    return discord.add_attachment(
        name, image_bytes(640, 480), content_type="image/png", width=640, height=480
    )


async def make(
    discord: FakeDiscord, member: FakeMember, prompt: str, **options: Any
) -> FakeMessage:
    attached = [options[key] for key in ("image", "end_image") if options.get(key)]
    asked = await discord.invoke(
        "hailuo", hailuo(prompt, **options), member=member, attachments=attached or None
    )
    return await discord.wait_reply(asked, READY, within=20)


async def refused(discord: FakeDiscord, member: FakeMember, prompt: str, **options: Any) -> str:
    attached = [options[key] for key in ("image", "end_image") if options.get(key)]
    asked = await discord.invoke(
        "hailuo", hailuo(prompt, **options), member=member, attachments=attached or None
    )
    reply = await discord.wait_reply(asked, "Nothing was charged")
    assert reply.ephemeral
    return reply.content


def sent_models(fake_apiframe: FakeApiframe) -> list[str]:
    return [job.body["model"] for job in fake_apiframe.jobs.values()]


@pytest.mark.parametrize(
    ("model", "label", "duration", "price"),
    [
        ("hailuo-02", "Hailuo 02", 10, 8),
        ("hailuo-2.3", "Hailuo 2.3", 10, 10),
        ("hailuo-2.3-fast", "Hailuo 2.3 Fast", 6, 5),
    ],
)
async def test_each_model_makes_its_video_at_its_price_charged_once(
    running: RunningBot,
    fake_apiframe: FakeApiframe,
    model: str,
    label: str,
    duration: int,
    price: int,
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    start = picture(discord) if model == "hailuo-2.3-fast" else None
    card = await make(discord, ana, "a fox in snow", model=model, duration=duration, image=start)
    assert f"{label} · 768p · {duration} s · {price} credits" in card.content
    assert sent_models(fake_apiframe) == [model]
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 20 - price
    kinds = [e.kind.value for e in await running.services.ledger.history(discord.guild_id, ana.id)]
    assert kinds == ["charge", "reserve", "opening"]


async def test_the_default_model_is_hailuo_02(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    card = await make(discord, discord.add_member("bo"), "a lighthouse")
    assert "Hailuo 02 ·" in card.content
    assert sent_models(fake_apiframe) == ["hailuo-02"]


async def test_each_models_rules_are_refused_together_before_any_charge(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    cy = discord.add_member("cy")
    start, end = picture(discord), picture(discord, "end.png")
    words = await refused(
        discord, cy, "a door opens", model="hailuo-2.3", image=start, end_image=end
    )
    assert "Hailuo 2.3 takes no end image: choose the model Hailuo 02" in words
    words = await refused(discord, cy, "a door opens", model="hailuo-2.3-fast")
    assert "Hailuo 2.3 Fast starts from a picture" in words
    words = await refused(
        discord, cy, "a door opens", model="hailuo-2.3", resolution="1080p", duration=10
    )
    assert "1080p is 6 s only" in words
    assert fake_apiframe.jobs == {}
    assert running.bot is not None
    assert await running.services.ledger.history(discord.guild_id, cy.id) == []


async def test_saved_defaults_and_again_keep_the_model(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    dee, admin = discord.add_member("dee"), discord.add_member("admin", admin=True)
    saved = await discord.invoke("hailuo-defaults", [text("model", "hailuo-2.3")], member=dee)
    assert "Hailuo 2.3" in (await discord.wait_reply(saved, "Hailuo 2.3")).content
    card = await make(discord, dee, "rain on a window")
    assert "Hailuo 2.3 ·" in card.content and "model Hailuo 2.3" in "\n".join(
        m.content for m in discord.messages.values() if m.ephemeral
    )
    again = await discord.click(card, "Again", member=admin)
    await discord.wait_reply(again, READY, within=20)
    assert sent_models(fake_apiframe) == ["hailuo-2.3", "hailuo-2.3"]

    # The server's default, for members with none of their own.
    await discord.wait_reply(
        await discord.invoke(
            "quota", [sub("defaults", text("model", "hailuo-2.3-fast"))], member=admin
        ),
        "starts from a picture",  # it warns that text-only requests will be refused
    )
    eve = discord.add_member("eve")
    words = await refused(discord, eve, "a city at night")
    assert "Hailuo 2.3 Fast starts from a picture" in words
    await make(discord, eve, "a city at night", image=picture(discord))
    assert sent_models(fake_apiframe)[-1] == "hailuo-2.3-fast"


async def test_extend_with_hailuo_23_fast(running: RunningBot, fake_apiframe: FakeApiframe) -> None:
    fake_apiframe.video_bytes = small_mp4(width=480, height=320)  # a frame large enough
    discord = running.discord
    fay = discord.add_member("fay")
    card = await make(discord, fay, "a boat leaves the harbour")
    assert running.bot is not None
    click = await discord.click(card, "Extend", member=fay)
    await discord.wait_for(lambda: click.modal is not None)
    submitted = await discord.submit_modal(
        click, {"What happens next": "into the storm", "Model": "hailuo-2.3-fast"}, member=fay
    )
    extended = await discord.wait_reply(submitted, READY, within=20)
    assert "Hailuo 2.3 Fast ·" in extended.content and "extends" in extended.content
    [_, second] = fake_apiframe.jobs.values()
    assert second.body["model"] == "hailuo-2.3-fast" and "image" in second.body["hailuoParams"]


@pytest.mark.parametrize(
    ("error", "said"),
    [
        ("MiniMax error 1026: input new_sensitive", "refused this prompt or picture"),
        ("MiniMax error 1027: output new_sensitive", "refused the video it made"),
        ("Content policy violation", "content policy refused this request"),
    ],
)
async def test_a_content_policy_refusal_is_said_plainly_refunded_and_audited(
    running: RunningBot, fake_apiframe: FakeApiframe, error: str, said: str
) -> None:
    discord = running.discord
    admin, gus = discord.add_member("admin", admin=True), discord.add_member("gus")
    audit = await discord.add_channel("credit-log")
    await discord.wait_reply(
        await discord.invoke(
            "quota",
            [opt("log", None, 1) | {"options": [opt("channel", str(audit), 7)]}],
            member=admin,
        ),
        "",
    )
    fake_apiframe.scripts.append(JobScript(outcome="FAILED", error=error))
    asked = await discord.invoke("hailuo", hailuo("something"), member=gus)
    card = await discord.wait_reply(asked, "could not be made", within=20)
    assert said in card.content and "5 credits were refunded" in card.content
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, gus.id) == 20

    def policy_lines() -> list[FakeMessage]:
        return [
            m for m in discord.channel_messages(audit) if "under its content policy" in m.content
        ]

    await discord.wait_for(lambda: bool(policy_lines()))
    [line] = policy_lines()
    assert "Hailuo 02 refused" in line.content and error[:20] in line.content


async def test_quota_show_sets_what_apiframe_billed_beside_what_members_paid(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin, hal = discord.add_member("admin", admin=True), discord.add_member("hal")
    await make(discord, hal, "a kite", model="hailuo-2.3-fast", image=picture(discord))
    await make(discord, hal, "a kite again")
    assert running.bot is not None
    await running.discord.wait_for(lambda: not running.services.runner.running)
    shown = await discord.invoke("quota", [sub("show")], member=admin)
    # Members paid 5 + 5; this Apiframe bills 3 for a 2.3 Fast clip and 5 for Hailuo 02.
    reply = await discord.wait_reply(shown, "members were charged 10 credits")
    assert "Apiframe billed 8 for the 2 of 2 finished videos" in reply.content


@pytest.fixture
async def priced(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        tmp_path, fake_discord, fake_apiframe, video_prices="hailuo-2.3-fast 768p 6s=4"
    )
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    yield harness
    await harness.stop()


async def test_the_owners_price_is_the_one_charged(
    priced: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = priced.discord
    ivy = discord.add_member("ivy")
    card = await make(discord, ivy, "a kite", model="hailuo-2.3-fast", image=picture(discord))
    assert "4 credits" in card.content
    assert priced.bot is not None
    assert await priced.services.ledger.balance(discord.guild_id, ivy.id) == 16
