"""The whole bot on PostgreSQL: the same conversations as on SQLite, against a real server."""

from __future__ import annotations

from tests.conftest import RunningBot
from tests.e2e.helpers import hailuo, integer, sub, text
from tests.fakes.apiframe_server import FakeApiframe, JobScript

READY = "your video is ready"


async def test_a_video_is_made_charged_once_and_listed_on_postgres(
    running_on_postgres: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    running = running_on_postgres
    discord = running.discord
    assert running.bot is not None and running.bot.stores.backend == "postgresql"
    ana = discord.add_member("ana")
    asked = await discord.invoke("hailuo", hailuo("a red kite over hills"), member=ana)
    await discord.wait_reply(asked, "Accepted: **5** credits reserved, **15** left.")
    await discord.wait_reply(asked, READY, within=20)
    balance = await discord.invoke("credits", [], member=ana)
    said = await discord.wait_reply(balance, "You have **15** credits in this server.")
    assert "5 credits" in said.content
    assert await running.bot.stores.ledger.disagreements() == []
    history = await running.bot.ledger.history(discord.guild_id, ana.id)
    assert [entry.kind.value for entry in history] == ["charge", "reserve", "opening"]
    assert len(fake_apiframe.jobs) == 1


async def test_a_failed_job_is_refunded_on_postgres(
    running_on_postgres: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    running = running_on_postgres
    discord = running.discord
    fake_apiframe.scripts.append(JobScript(outcome="FAILED", error="Content policy violation"))
    ana = discord.add_member("ana")
    asked = await discord.invoke("hailuo", hailuo("a storm"), member=ana)
    await discord.wait_reply(asked, "could not be made", within=20)
    assert running.bot is not None
    assert await running.bot.ledger.balance(discord.guild_id, ana.id) == 20
    assert await running.bot.stores.ledger.disagreements() == []


async def test_server_settings_rules_defaults_and_export_on_postgres(
    running_on_postgres: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    running = running_on_postgres
    discord = running.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")

    async def quota(*options: dict[str, object]) -> str:
        interaction = await discord.invoke("quota", list(options), member=admin)
        await discord.wait_for(lambda: bool(discord.replies_to(interaction)))
        return discord.replies_to(interaction)[-1].content

    assert "**10** credits a month" in await quota(sub("cap", integer("amount", 10)))
    assert "Blocked" in await quota(sub("block", sub("add", text("words", "zorblax"))))
    assert "10 s" in await quota(sub("defaults", integer("duration", 10)))
    refused = await discord.invoke("hailuo", hailuo("a zorblax"), member=ana)
    await discord.wait_reply(refused, "is blocked in this server")
    asked = await discord.invoke("hailuo", hailuo("a kite"), member=ana)
    ack = await discord.wait_reply(asked, "credits reserved")
    assert "duration 10 s (the server's)" in ack.content
    await discord.wait_reply(asked, READY, within=20)
    capped = await discord.invoke("hailuo", hailuo("another kite"), member=ana)
    await discord.wait_reply(capped, "monthly cap")
    exported = await discord.invoke("quota", [sub("export")], member=admin)
    reply = await discord.wait_reply(exported, "The ledger: 3 rows.")
    assert reply.files and next(iter(reply.files.values())).startswith(b"time,member,change")


async def test_a_job_in_flight_survives_a_restart_on_postgres(
    running_on_postgres: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    running = running_on_postgres
    discord = running.discord
    fake_apiframe.scripts.append(JobScript(polls_before_done=1_000_000))
    ana = discord.add_member("ana")
    asked = await discord.invoke("hailuo", hailuo("a slow sunrise"), member=ana)
    await discord.wait_for(lambda: any(j.polls >= 2 for j in fake_apiframe.jobs.values()))
    await running.crash()
    [remote] = fake_apiframe.jobs.values()
    remote.script.polls_before_done = remote.polls + 2
    await running.start()
    await discord.wait_reply(asked, READY, within=30)
    assert len(fake_apiframe.jobs) == 1  # followed, not sent again
    assert running.bot is not None
    assert await running.bot.ledger.balance(discord.guild_id, ana.id) == 15
    assert await running.bot.stores.ledger.disagreements() == []
