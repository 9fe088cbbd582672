"""SIGKILL the real bot at every point of a job's life, restart it on the same database, and
check that nothing was lost, charged twice, sent to Apiframe twice, or told twice."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.store import Stores
from testkit.commands import hailuo
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeInteraction, rendered
from testkit.processes import BotProcess
from tests.conftest import image_bytes

OUTCOME_MARKERS = ("your video is ready", "your video could not be made")


@pytest.fixture
async def bot_process(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> AsyncIterator[BotProcess]:
    process = BotProcess(tmp_path, fake_discord, fake_apiframe)
    await process.start()
    yield process
    await process.close()


def outcome_messages(discord: FakeDiscord, prompt: str) -> list[str]:
    return [
        m.content
        for m in discord.messages.values()
        if not m.deleted
        and not m.ephemeral
        and f"> {prompt}" in m.content
        and any(marker in m.content for marker in OUTCOME_MARKERS)
    ]


async def settled(stores: Stores) -> bool:
    rows = await stores.database.fetch("SELECT state, delivered_at FROM jobs")
    return bool(rows) and all(r[0] in ("completed", "failed") and r[1] for r in rows)


async def check_invariants(
    bot: BotProcess, apiframe: FakeApiframe, discord: FakeDiscord, prompts: list[str]
) -> dict[str, int]:
    """Wait for every job to end, then prove the promises held."""
    stores = bot.stores()
    await stores.database.open()
    try:
        for _ in range(600):
            if await settled(stores):
                break
            await asyncio.sleep(0.05)
        jobs = await stores.database.fetch(
            "SELECT id, state, idempotency_key, prompt, delivered_at FROM jobs"
        )
        problems = await stores.ledger.disagreements()
    finally:
        await stores.database.close()
    lost = [
        j["id"]
        for j in jobs
        if j["state"] not in ("completed", "failed") or j["delivered_at"] is None
    ]
    accepted = [p for p in prompts if p in {j["prompt"] for j in jobs}]
    keys = {j["idempotency_key"] for j in jobs}
    remote_keys = [job.idempotency_key for job in apiframe.jobs.values()]
    # A request killed before its reservation was never accepted: it cost nothing and no
    # job exists for it (the member saw Discord's "did not respond"). Every accepted one
    # must reach its member exactly once.
    told = {p: len(outcome_messages(discord, p)) for p in accepted}
    never_accepted_but_charged = sum(
        1 for p in prompts if p not in accepted and outcome_messages(discord, p)
    )
    figures = {
        "jobs_lost": len(lost) + never_accepted_but_charged,
        "ledger_mismatches": len(problems),
        "double_charges": sum("charged" in p for p in problems),
        "duplicate_apiframe_jobs": len(remote_keys) - len(set(remote_keys)),
        "unknown_apiframe_jobs": len(set(remote_keys) - keys),
        "told_twice_or_never": sum(1 for count in told.values() if count != 1),
    }
    assert figures == dict.fromkeys(figures, 0), (figures, problems, told, lost)
    return {**figures, "accepted": len(accepted), "never_accepted": len(prompts) - len(accepted)}


Hook = Callable[..., Awaitable[None]]


async def crash_once(
    bot: BotProcess,
    discord: FakeDiscord,
    apiframe: FakeApiframe,
    install: Callable[[Callable[[], Awaitable[None]]], None],
    *,
    with_image: bool = False,
    prompt: str,
) -> FakeInteraction:
    """Send one /hailuo; the installed hook kills the bot at its moment; then restart."""
    killed = asyncio.Event()

    async def kill() -> None:
        if not killed.is_set():
            killed.set()
            await bot.kill()

    install(kill)
    member = discord.add_member(f"m{len(discord.members)}")
    attachments = []
    options = hailuo(prompt)
    if with_image:
        picture = discord.add_attachment(
            "start.png", image_bytes(640, 480), content_type="image/png", width=640, height=480
        )
        attachments = [picture]
        options = hailuo(prompt, image=picture)
    interaction = await discord.invoke("hailuo", options, member=member, attachments=attachments)
    await asyncio.wait_for(killed.wait(), 30)
    discord.before.clear()
    discord.after.clear()
    apiframe.before.clear()
    apiframe.after.clear()
    await bot.start()
    return interaction


def on_discord(
    discord: FakeDiscord, when: str, method: str, path_part: str, content_part: str = ""
) -> Callable[[Callable[[], Awaitable[None]]], None]:
    def install(kill: Callable[[], Awaitable[None]]) -> None:
        async def hook(request_method: str, path: str, body: dict[str, Any]) -> None:
            data = body.get("data") or {}
            words = (
                body.get("content")
                or data.get("content")
                # a Components V2 message: its words are in its text displays
                or rendered(body.get("components") or data.get("components") or [])
            )
            if request_method == method and path_part in path and content_part in words:
                await kill()

        (discord.before if when == "before" else discord.after).append(hook)

    return install


def on_apiframe(
    apiframe: FakeApiframe, when: str, method: str, path_part: str, min_polls: int = 0
) -> Callable[[Callable[[], Awaitable[None]]], None]:
    def install(kill: Callable[[], Awaitable[None]]) -> None:
        async def hook(request: web.Request) -> None:
            polls = sum(job.polls for job in apiframe.jobs.values())
            if request.method == method and path_part in request.path and polls >= min_polls:
                await kill()

        (apiframe.before if when == "before" else apiframe.after).append(hook)

    return install


CRASH_POINTS: dict[str, tuple[str, str, str, str, str | int]] = {
    # Reservation and job row are one transaction: the kill lands once both are written.
    "after the reservation and job row": (
        "discord",
        "before",
        "PATCH",
        "/messages/@original",
        "credits reserved",
    ),
    "after the job card, before the runner started": (
        "discord",
        "after",
        "POST",
        "/webhooks/",
        "Hailuo 02",
    ),
    "during the upload": ("apiframe", "before", "POST", "/v2/uploads", 0),
    "after the submit, before its answer was stored": (
        "apiframe",
        "after",
        "POST",
        "/v2/videos/generate",
        0,
    ),
    "while polling": ("apiframe", "before", "GET", "/v2/jobs/", 2),
    "after COMPLETED was seen and charged, before delivery": (
        "discord",
        "before",
        "PATCH",
        "/messages/",
        "your video is ready",
    ),
    "after delivery, before it was recorded": (
        "discord",
        "after",
        "PATCH",
        "/messages/",
        "your video is ready",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(CRASH_POINTS))
async def test_sigkill_at_each_point_of_a_job(
    bot_process: BotProcess, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, point: str
) -> None:
    fake_apiframe.default_script = JobScript(polls_before_done=4)
    side, when, method, path, extra = CRASH_POINTS[point]
    install = (
        on_discord(fake_discord, when, method, path, str(extra))
        if side == "discord"
        else on_apiframe(fake_apiframe, when, method, path, int(extra))
    )
    await crash_once(
        bot_process,
        fake_discord,
        fake_apiframe,
        install,
        with_image=point == "during the upload",
        prompt="crash test",
    )
    figures = await check_invariants(bot_process, fake_apiframe, fake_discord, ["crash test"])
    print(f"crash point {point!r}: kills {bot_process.kills}, {figures}")


@pytest.mark.slow
async def test_sigkill_at_random_moments(
    bot_process: BotProcess, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    chooser = random.Random(20261124)
    fake_apiframe.default_script = JobScript(polls_before_done=3)
    prompts: list[str] = []
    for round_number in range(8):
        prompt = f"random crash {round_number}"
        prompts.append(prompt)
        fail = round_number % 3 == 2
        if fail:
            fake_apiframe.scripts.append(JobScript(outcome="FAILED", polls_before_done=3))
        member = fake_discord.add_member(f"r{round_number}")
        await fake_discord.invoke("hailuo", hailuo(prompt), member=member)
        await asyncio.sleep(chooser.uniform(0.0, 0.8))
        await bot_process.kill()
        await bot_process.start()
        await check_invariants(bot_process, fake_apiframe, fake_discord, prompts)
    figures = await check_invariants(bot_process, fake_apiframe, fake_discord, prompts)
    print(f"random kills survived: {bot_process.kills}, {figures}")
    assert bot_process.kills == 8
    assert figures["accepted"] >= 4


@pytest.mark.slow
async def test_sigterm_mid_job_exits_fast_and_the_job_resumes(
    bot_process: BotProcess, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.default_script = JobScript(polls_before_done=10**9)
    member = fake_discord.add_member("t")
    await fake_discord.invoke("hailuo", hailuo("graceful"), member=member)
    await fake_discord.wait_for(lambda: any(j.polls >= 2 for j in fake_apiframe.jobs.values()))
    started = asyncio.get_running_loop().time()
    code = await bot_process.terminate()
    took = asyncio.get_running_loop().time() - started
    assert code == 0 and took < 5
    assert "shutting down" in bot_process.logs()
    polls = sum(j.polls for j in fake_apiframe.jobs.values())
    await asyncio.sleep(0.3)
    assert sum(j.polls for j in fake_apiframe.jobs.values()) == polls  # no work after exit
    [remote] = fake_apiframe.jobs.values()
    remote.script = JobScript(polls_before_done=remote.polls + 1)
    await bot_process.start()
    await check_invariants(bot_process, fake_apiframe, fake_discord, ["graceful"])
    print(f"SIGTERM to exit: {took:.2f}s")


@pytest.mark.parametrize("token", ["still valid", "expired"])
async def test_a_request_cut_short_after_its_acknowledgement_is_answered_at_the_next_start(
    tmp_path: Path,
    fake_discord: FakeDiscord,
    fake_apiframe: FakeApiframe,
    bot_process: BotProcess,
    token: str,
) -> None:
    """Killed after Discord showed the member "thinking…" and before the request became a
    job (while its picture downloads): the next start tells them nothing was charged."""
    discord = fake_discord
    killed = asyncio.Event()

    async def kill(_key: str) -> None:
        if not killed.is_set():
            killed.set()
            await bot_process.kill()

    discord.on_download.append(kill)
    member = discord.add_member("ana")
    picture = discord.add_attachment(
        "start.png", image_bytes(640, 480), content_type="image/png", width=640, height=480
    )
    asked = await discord.invoke(
        "hailuo", hailuo("a cut short", image=picture), member=member, attachments=[picture]
    )
    await asyncio.wait_for(killed.wait(), 30)
    discord.on_download.clear()
    if token == "expired":
        stores = bot_process.stores()
        await stores.database.open()
        try:
            await stores.database.execute(
                "UPDATE pending_requests SET interaction_created_at = $1",
                datetime.now(UTC) - timedelta(minutes=14.5),
            )
        finally:
            await stores.database.close()
    await bot_process.start()
    said = "restarted before your request was recorded, so nothing was charged"
    if token == "still valid":
        reply = await discord.wait_reply(asked, said, within=30)
        assert reply.ephemeral
    else:
        await discord.wait_for(
            lambda: any(said in m.content for m in discord.channel_messages()), within=30
        )
        [told] = [m for m in discord.channel_messages() if said in m.content]
        assert told.content.startswith(f"<@{member.id}>")
    assert fake_apiframe.jobs == {}
    stores = bot_process.stores()
    await stores.database.open()
    try:
        assert await stores.database.fetch("SELECT id FROM jobs") == []
        assert await stores.jobs.pending() == []
        assert await stores.ledger.disagreements() == []
    finally:
        await stores.database.close()
