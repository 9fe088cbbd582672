"""Hostile and broken input through the real command handlers: every one gets a clear reply,
costs nothing, and leaves the bot answering the next member."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.requests.rules import without_controls
from bot.requests.server_rules import sexual_terms
from testkit.commands import attachment, boolean, hailuo, integer, text
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord, FakeInteraction, FakeMember
from testkit.harness import RunningBot, make_settings
from tests.conftest import ErrorLog, image_bytes

GENERIC_FAILURE = "Something went wrong on the bot's side"


@pytest.fixture
async def guarded(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> AsyncIterator[RunningBot]:
    harness = RunningBot(
        make_settings(
            tmp_path, fake_discord, fake_apiframe, attachment_download_timeout_seconds=1.0
        ),
        fake_discord,
    )
    await harness.start()
    yield harness
    await harness.stop()


def bomb_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


async def final_reply(
    discord: FakeDiscord, interaction: FakeInteraction, within: float = 15
) -> str:
    def answered() -> bool:
        replies = discord.replies_to(interaction)
        return bool(replies) and not any(m.loading for m in replies)

    await discord.wait_for(answered, within)
    return discord.replies_to(interaction)[0].content


async def assert_refused_for_free(
    running: RunningBot, member: FakeMember, interaction: FakeInteraction, fragment: str
) -> str:
    discord = running.discord
    content = await final_reply(discord, interaction)
    assert fragment in content, content
    assert GENERIC_FAILURE not in content
    assert all(m.ephemeral for m in discord.replies_to(interaction))
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, member.id) == 20
    assert await running.services.jobs.recent_for_member(discord.guild_id, member.id, 5) == []
    return content


async def assert_healthy(running: RunningBot) -> None:
    discord = running.discord
    reply = await discord.wait_reply(
        await discord.invoke("credits", member=discord.add_member("canary")),
        "credits in this server",
        within=5,
    )
    assert reply.ephemeral


ATTACHMENT_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "zero-byte file": (
        {"data": b"", "content_type": "image/png", "width": 500, "height": 500, "size": 1000},
        "is empty",
    ),
    "truncated image": (
        {
            "data": image_bytes(640, 480)[:300],
            "content_type": "image/png",
            "width": 640,
            "height": 480,
        },
        "damaged or cut short",
    ),
    "decompression bomb": (
        {
            "data": bomb_png(200_000, 200_000),
            "content_type": "image/png",
            "width": 1000,
            "height": 1000,
        },
        "too many pixels",
    ),
    "bomb just over the pixel limit": (
        {
            "data": bomb_png(20_000, 20_000),
            "content_type": "image/png",
            "width": 800,
            "height": 800,
        },
        "too many pixels",
    ),
    "metadata says PNG, bytes are a PDF": (
        {
            "data": b"%PDF-1.7\n" + b"x" * 500,
            "content_type": "image/png",
            "width": 800,
            "height": 800,
        },
        "really a PDF file",
    ),
    "metadata says small, bytes are tiny": (
        {"data": image_bytes(50, 50), "content_type": "image/png", "width": 900, "height": 900},
        "short side",
    ),
    "metadata says 1 MB, download is 26 MB": (
        {
            "data": b"",
            "content_type": "image/png",
            "width": 900,
            "height": 900,
            "size": 1_000_000,
            "mode": "oversized",
        },
        "larger than 20 MB",
    ),
    "slow download": (
        {
            "data": image_bytes(640, 480),
            "content_type": "image/png",
            "width": 640,
            "height": 480,
            "mode": "slow",
        },
        "took longer than",
    ),
    "endless download": (
        {
            "data": b"",
            "content_type": "image/png",
            "width": 640,
            "height": 480,
            "size": 5000,
            "mode": "endless",
        },
        "larger than",
    ),
    "no metadata at all, bytes are a GIF": (
        {"data": b"GIF89a" + b"\0" * 64, "content_type": None},
        "use a JPEG, PNG or WebP",
    ),
}


@pytest.mark.parametrize("case", list(ATTACHMENT_CASES))
async def test_hostile_attachments_are_refused_for_free(guarded: RunningBot, case: str) -> None:
    discord = guarded.discord
    spec, fragment = ATTACHMENT_CASES[case]
    spec = dict(spec)
    mode = spec.pop("mode", None)
    data = spec.pop("data")
    picture = discord.add_attachment("frame.png", data, **spec)
    if mode is not None:
        discord.attachment_modes[picture["id"]] = mode
    member = discord.add_member("m")
    interaction = await discord.invoke(
        "hailuo", hailuo("a cat", image=picture), member=member, attachments=[picture]
    )
    await assert_refused_for_free(guarded, member, interaction, fragment)
    await assert_healthy(guarded)


async def test_missing_and_extra_options_get_a_clear_reply(guarded: RunningBot) -> None:
    discord = guarded.discord
    member = discord.add_member("m")
    interaction = await discord.invoke("hailuo", [integer("duration", 6)], member=member)
    content = await final_reply(discord, interaction)
    assert GENERIC_FAILURE not in content and "options" in content
    interaction = await discord.invoke(
        "hailuo",
        [text("prompt", "a cat"), text("style", "anime"), integer("fps", 60)],
        member=member,
    )
    content = await final_reply(discord, interaction)
    assert GENERIC_FAILURE not in content
    await assert_healthy(guarded)


async def test_an_attachment_id_that_is_not_in_resolved_is_refused(guarded: RunningBot) -> None:
    discord = guarded.discord
    member = discord.add_member("m")
    interaction = await discord.invoke(
        "hailuo", [text("prompt", "a cat"), attachment("image", "424242")], member=member
    )
    content = await final_reply(discord, interaction)
    assert GENERIC_FAILURE not in content
    assert guarded.bot is not None
    assert await guarded.services.ledger.balance(discord.guild_id, member.id) == 20


odd_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
    min_size=0,
    max_size=80,
).map(lambda s: s * 80)  # up to 6,400 characters, past Discord's own option limit


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prompt=odd_text,
    duration=st.integers(min_value=-(2**40), max_value=2**40) | st.sampled_from([6, 10]),
    resolution=st.text(max_size=20) | st.sampled_from(["768p", "1080p"]),
    optimizer=st.none() | st.booleans(),
    include_duration=st.booleans(),
)
async def test_random_option_values(
    guarded: RunningBot,
    fake_apiframe: FakeApiframe,
    prompt: str,
    duration: int,
    resolution: str,
    optimizer: bool | None,
    include_duration: bool,
) -> None:
    discord = guarded.discord
    member = discord.add_member("f")
    options = [text("prompt", prompt), text("resolution", resolution)]
    if include_duration:
        options.append(integer("duration", duration))
    if optimizer is not None:
        options.append(boolean("prompt_optimizer", optimizer))
    interaction = await discord.invoke("hailuo", options, member=member)
    content = await final_reply(discord, interaction)
    assert GENERIC_FAILURE not in content
    assert guarded.bot is not None
    jobs = await guarded.services.jobs.recent_for_member(discord.guild_id, member.id, 5)
    typed = without_controls(prompt).strip()  # control characters are taken out first
    valid = (
        typed != ""
        and len(typed.encode("utf-16-le")) <= 4000
        and resolution in ("768p", "1080p")
        and (duration if include_duration else 6) in (6, 10)
        and not (resolution == "1080p" and (duration if include_duration else 6) == 10)
        # The shipped adult list refuses what reads as sexual ("XXXX…" reads as "xxx").
        and not sexual_terms().found_in(prompt)
    )
    if jobs:
        assert valid and "credits reserved" in content
    else:
        assert not valid
        assert "Nothing was charged" in content
        assert await guarded.services.ledger.balance(discord.guild_id, member.id) == 20


async def test_prompt_mentions_never_notify_anyone(guarded: RunningBot) -> None:
    discord = guarded.discord
    member = discord.add_member("m")
    role = await discord.add_role("everyone-ish")
    prompt = f"@everyone @here <@&{role}> <@{member.id}> <@!{member.id}> look"
    interaction = await discord.invoke("hailuo", hailuo(prompt), member=member)
    await discord.wait_reply(interaction, "your video is ready")
    for message in discord.replies_to(interaction):
        allowed = message.allowed_mentions or {}
        assert allowed.get("parse") == [], message.content
        assert allowed.get("roles") in (None, [])
        assert [str(u) for u in allowed.get("users", [])] in ([], [str(member.id)])


async def test_control_characters_in_a_prompt_never_reach_apiframe_or_the_database(
    guarded: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    """PostgreSQL's text cannot hold NUL: a prompt of NULs once failed there with an error id."""
    discord = guarded.discord
    member = discord.add_member("m")
    empty = await discord.invoke("hailuo", hailuo("\x00" * 80), member=member)
    assert "The prompt is empty" in await final_reply(discord, empty)
    mixed = await discord.invoke("hailuo", hailuo("a\x00 cat\x1b[31m on\x07 a roof"), member=member)
    await discord.wait_reply(mixed, "your video is ready")
    [job] = fake_apiframe.jobs.values()
    assert job.body["prompt"] == "a cat[31m on a roof"


def test_the_hostile_attachment_catalogue_stays_broad() -> None:
    """Each case above is its own test that proves a clear refusal with nothing charged; the
    catalogue must not quietly shrink."""
    assert len(ATTACHMENT_CASES) >= 10
    assert len({fragment for _, fragment in ATTACHMENT_CASES.values()}) >= 6
