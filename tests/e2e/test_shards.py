"""Shards across processes on one PostgreSQL database: each process answers its own shards'
servers, the money stays right with both writing at once, and a process that dies has its
jobs finished by the other."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.clock import utc_now
from bot.settings import load_store_settings
from bot.store import stores_for
from testkit.commands import hailuo, integer, sub
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeInteraction, FakeMember
from testkit.harness import free_port
from testkit.postgres import PASSWORD, Cluster
from testkit.processes import BotProcess
from tests.conftest import fresh_database

READY = "your video is ready"
SHARDS = 2
# Shards across processes need PostgreSQL; these tests make their own databases.
pytestmark = pytest.mark.engines("postgres")


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARDS


async def two_processes(
    tmp_path: Path,
    discord: FakeDiscord,
    apiframe: FakeApiframe,
    url: str,
    each: list[dict[str, str]] | None = None,
    **settings: str,
) -> tuple[BotProcess, BotProcess]:
    """The bot as one process per shard on one database (`each`: settings per shard)."""
    processes = []
    for shard in range(SHARDS):
        workdir = tmp_path / f"shard{shard}"
        workdir.mkdir()
        process = BotProcess(
            workdir,
            discord,
            apiframe,
            DATABASE_URL=url,
            SHARD_COUNT=str(SHARDS),
            SHARD_IDS=str(shard),
            **settings,
            **(each[shard] if each else {}),
        )
        await process.start()
        processes.append(process)
    return processes[0], processes[1]


async def verified(url: str) -> list[str]:
    stores = stores_for(load_store_settings(env_file=None, database_url=url))
    await stores.database.open()
    try:
        return await stores.ledger.disagreements()
    finally:
        await stores.database.close()


async def answered(discord: FakeDiscord, interactions: list[FakeInteraction]) -> list[str]:
    """The bot's first words to each interaction (waiting for every one of them)."""
    await discord.wait_for(
        lambda: all(
            discord.replies_to(i) and discord.replies_to(i)[0].content for i in interactions
        ),
        within=90,
    )
    return [discord.replies_to(i)[0].content for i in interactions]


async def test_two_processes_share_the_work_and_the_money_stays_right(
    tmp_path: Path,
    fake_discord: FakeDiscord,
    fake_apiframe: FakeApiframe,
    postgres_cluster: Cluster,
) -> None:
    discord = fake_discord
    other_guild, _ = discord.add_guild((shard_of(discord.guild_id) + 1) % SHARDS, SHARDS)
    url = await fresh_database(postgres_cluster)
    first, second = await two_processes(tmp_path, discord, fake_apiframe, url)
    try:
        assert sorted(discord.shard_identifies) == [(0, SHARDS), (1, SHARDS)]
        admin = discord.add_member("admin", admin=True)
        for guild in (discord.guild_id, other_guild):
            capped = await discord.invoke(
                "quota", [sub("cap", integer("amount", 60))], member=admin, guild_id=guild
            )
            await discord.wait_reply(capped, "credits a month", within=30)
        members: list[FakeMember] = [discord.add_member(f"m{n}") for n in range(10)]
        # 200 at once: every member asks ten times in each server (20 credits buy four).
        asks = [
            discord.invoke("hailuo", hailuo(f"a kite {n}"), member=member, guild_id=guild)
            for n in range(10)
            for member in members
            for guild in (discord.guild_id, other_guild)
        ]
        interactions = list(await asyncio.gather(*asks))
        replies = await answered(discord, interactions)
        accepted = [r for r in replies if "credits reserved" in r]
        refused = [r for r in replies if "monthly cap" in r or "you have" in r]
        assert len(accepted) + len(refused) == 200, Counter(r[:40] for r in replies)
        assert len(accepted) == 24  # 60-credit cap: twelve 5-credit videos in each server
        await discord.wait_for(
            lambda: (
                sum(1 for i in interactions for m in discord.replies_to(i) if READY in m.content)
                == len(accepted)
            ),
            within=90,
        )
    finally:
        await first.close()
        await second.close()
    assert discord.command_syncs == 1  # only shard 0's process syncs the commands
    assert await verified(url) == []
    stores = stores_for(load_store_settings(env_file=None, database_url=url))
    await stores.database.open()
    try:
        for guild in (discord.guild_id, other_guild):
            assert await stores.ledger.month_spend(guild, utc_now()) == 60
            for member in members:
                balance = await stores.ledger.stored_balance(guild, member.id)
                assert balance is None or balance >= 0  # None: refused by the cap first
    finally:
        await stores.database.close()
    assert len(fake_apiframe.jobs) == 24


async def test_when_a_process_dies_the_other_finishes_its_jobs_once(
    tmp_path: Path,
    fake_discord: FakeDiscord,
    fake_apiframe: FakeApiframe,
    postgres_cluster: Cluster,
) -> None:
    discord = fake_discord
    discord.add_guild((shard_of(discord.guild_id) + 1) % SHARDS, SHARDS)
    url = await fresh_database(postgres_cluster)
    processes = await two_processes(tmp_path, discord, fake_apiframe, url, JOB_LEASE_SECONDS="3")
    owner, survivor = (
        (processes[0], processes[1])
        if shard_of(discord.guild_id) == 0
        else (processes[1], processes[0])
    )
    try:
        for _ in range(4):
            fake_apiframe.scripts.append(JobScript(polls_before_done=1_000_000))
        members = [discord.add_member(f"m{n}") for n in range(4)]
        interactions = [
            await discord.invoke("hailuo", hailuo(f"a long render {n}"), member=member)
            for n, member in enumerate(members)
        ]
        await discord.wait_for(
            lambda: (
                len(fake_apiframe.jobs) == 4
                and all(job.polls >= 1 for job in fake_apiframe.jobs.values())
            ),
            within=60,
        )
        await owner.kill()  # SIGKILL: its leases are left to expire
        for remote in fake_apiframe.jobs.values():
            remote.script.polls_before_done = remote.polls + 2
        for interaction in interactions:
            await discord.wait_reply(interaction, READY, within=60)
    finally:
        await owner.close()
        await survivor.close()
    assert len(fake_apiframe.jobs) == 4  # followed by the survivor, never sent again
    assert PASSWORD not in owner.logs() + survivor.logs()
    for interaction in interactions:
        ready = [m for m in discord.replies_to(interaction) if READY in m.content]
        assert len(ready) == 1
    assert await verified(url) == []


async def test_a_webhook_received_by_the_other_process_reaches_the_job_at_once(
    tmp_path: Path,
    fake_discord: FakeDiscord,
    fake_apiframe: FakeApiframe,
    postgres_cluster: Cluster,
) -> None:
    discord = fake_discord
    discord.add_guild((shard_of(discord.guild_id) + 1) % SHARDS, SHARDS)
    url = await fresh_database(postgres_cluster)
    ports = [free_port() for _ in range(SHARDS)]
    # Apiframe calls one address for every job: the process of the *other* shard's port.
    receiver = ports[(shard_of(discord.guild_id) + 1) % SHARDS]
    processes = await two_processes(
        tmp_path,
        discord,
        fake_apiframe,
        url,
        each=[{"HTTP_PORT": str(port)} for port in ports],
        APIFRAME_WEBHOOK_URL=f"http://127.0.0.1:{receiver}/apiframe/webhook",
        APIFRAME_WEBHOOK_POLL_INTERVAL_SECONDS="60",
    )
    try:
        fake_apiframe.scripts.append(JobScript(render_seconds=1.5))
        member = discord.add_member("gus")
        asked = await discord.invoke("hailuo", hailuo("a webhook"), member=member)
        await discord.wait_reply(asked, READY, within=20)
        seen = time.monotonic()
    finally:
        for process in processes:
            await process.close()
    [remote] = fake_apiframe.jobs.values()
    assert remote.completed_at is not None
    # Polling alone would wait up to a minute; the news went through PostgreSQL instead.
    assert seen - (remote.created + 1.5) < 3.0
    assert ("completed", 200) in fake_apiframe.webhooks_sent
