"""The whole bot on PostgreSQL: the same conversations as on SQLite, against a real server."""

from __future__ import annotations

import io
from pathlib import Path

from bot.cli import run_cli
from bot.settings import StoreSettings
from tests.conftest import ErrorLog, RunningBot, fresh_database, make_settings
from tests.e2e.helpers import hailuo, integer, sub, text, user
from tests.fakes.apiframe_server import FakeApiframe, JobScript
from tests.fakes.discord_server import FakeDiscord
from tests.postgres_cluster import Cluster

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


async def test_the_bot_started_on_a_copy_sees_the_same_balances_and_history(
    tmp_path: Path,
    fake_discord: FakeDiscord,
    fake_apiframe: FakeApiframe,
    error_log: ErrorLog,
    postgres_cluster: Cluster,
) -> None:
    discord = fake_discord
    on_sqlite = RunningBot(make_settings(tmp_path, discord, fake_apiframe), discord)
    await on_sqlite.start()
    ana, admin = discord.add_member("ana"), discord.add_member("admin", admin=True)
    asked = await discord.invoke("hailuo", hailuo("a kite before the move"), member=ana)
    await discord.wait_reply(asked, READY, within=20)
    granted = await discord.invoke(
        "quota", [sub("add", user("member", ana.id), integer("amount", 7))], member=admin
    )
    await discord.wait_reply(granted, "now has **22** credits")
    before = await discord.invoke("credits", [], member=ana)
    said_before = (await discord.wait_reply(before, "You have **22** credits")).content
    await on_sqlite.stop()

    url = await fresh_database(postgres_cluster)
    out = io.StringIO()
    store = StoreSettings(database_path=tmp_path / "bot.sqlite3", _env_file=None)
    assert await run_cli(["db", "copy", "--to", url], store, out) == 0, out.getvalue()

    on_copy = RunningBot(make_settings(tmp_path, discord, fake_apiframe, database_url=url), discord)
    await on_copy.start()
    try:
        after = await discord.invoke("credits", [], member=ana)
        said_after = (await discord.wait_reply(after, "You have **22** credits")).content
        assert said_after == said_before  # the same balance and the same videos, same links
        assert on_copy.bot is not None
        history = await on_copy.bot.ledger.history(discord.guild_id, ana.id)
        assert [e.kind.value for e in history] == ["grant", "charge", "reserve", "opening"]
    finally:
        await on_copy.stop()
