"""Moving a bot from SQLite to PostgreSQL: the bot started on the copy sees what it saw before.
(Every other end-to-end test runs on both engines.)"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from bot.operations.cli import run_cli
from bot.settings import load_store_settings
from testkit.commands import hailuo, integer, sub, user
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord
from testkit.harness import RunningBot, free_port, make_settings
from testkit.postgres import Cluster
from tests.conftest import ErrorLog, fresh_database

READY = "your video is ready"


@pytest.mark.engines("sqlite")  # it makes both databases itself
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
    store = load_store_settings(
        env_file=None, database_path=tmp_path / "bot.sqlite3", copy_to_database_url=url
    )
    assert await run_cli(["db", "copy"], store, out) == 0, out.getvalue()

    on_copy = RunningBot(make_settings(tmp_path, discord, fake_apiframe, database_url=url), discord)
    await on_copy.start()
    try:
        after = await discord.invoke("credits", [], member=ana)
        said_after = (await discord.wait_reply(after, "You have **22** credits")).content
        assert said_after == said_before  # the same balance and the same videos, same links
        assert on_copy.bot is not None
        history = await on_copy.services.ledger.history(discord.guild_id, ana.id)
        assert [e.kind.value for e in history] == ["grant", "charge", "reserve", "opening"]
    finally:
        await on_copy.stop()


@pytest.mark.engines("postgres")
async def test_a_pool_of_one_connection_serves_fifty_servers_at_once(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    """Slower with POSTGRES_POOL_SIZE=1, never stuck: every server's request is answered,
    admitted and delivered."""
    discord = fake_discord
    guilds = [discord.add_guild(0, 1)[0] for _ in range(50)]
    harness = RunningBot(
        make_settings(tmp_path, discord, fake_apiframe, postgres_pool_size=1), discord
    )
    await harness.start()
    try:
        member = discord.add_member("ana")
        asks = await asyncio.gather(
            *(
                discord.invoke("hailuo", hailuo(f"kite {n}"), member=member, guild_id=guild)
                for n, guild in enumerate(guilds)
            )
        )
        for asked in asks:
            await discord.wait_reply(asked, READY, within=90)
        assert harness.bot is not None
        assert await harness.services.stores.ledger.disagreements() == []
        assert harness.services.metrics.database_busy._value.get() == 0
    finally:
        await harness.stop()


@pytest.mark.engines("postgres")
async def test_news_from_other_processes_arrives_again_after_the_listen_connection_dies(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    discord = fake_discord
    settings = make_settings(
        tmp_path,
        discord,
        fake_apiframe,
        http_port=free_port(),
        apiframe_webhook_url="https://bot.example.test/apiframe/webhook",
        apiframe_webhook_poll_interval_seconds=60,
    )
    harness = RunningBot(settings, discord)
    bot = await harness.start()
    try:
        fake_apiframe.scripts.append(JobScript(polls_before_done=1))  # done at the 2nd check
        asked = await discord.invoke("hailuo", hailuo("news"), member=discord.add_member("ana"))
        await discord.wait_for(lambda: bool(fake_apiframe.jobs))
        [remote] = fake_apiframe.jobs.values()
        assert (
            bot.services.relay is not None and remote.polls == 0
        )  # webhooks on: polled once a minute
        pid = bot.services.relay.server_pid
        await bot.services.database.fetch("SELECT pg_terminate_backend($1)", pid)
        # Restored, the bot checks what it may have missed at once (the job is still running).
        await discord.wait_for(lambda: remote.polls == 1, within=20)
        assert bot.services.relay.server_pid not in (None, pid)
        # News relayed by another process (as a NOTIFY) reaches the job again.
        await bot.services.database.fetch(
            "SELECT pg_notify('hailuo_job_news', $1)", json.dumps([remote.id, "COMPLETED", 100])
        )
        await discord.wait_reply(asked, READY, within=10)  # not the minute of the safety net
    finally:
        await harness.stop()
