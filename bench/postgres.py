"""7. PostgreSQL: the ledger beside a plain asyncpg loop, a flood of servers admitting on a small
pool, and two shard processes beside one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path

import asyncpg

from bench.ledger import make_job, make_jobs, reserve_submit_charge
from bench.plain import PlainPostgres
from bench.stage import Row, Sizes, Stage, ms, percentile
from bot.jobs.records import NewJob
from bot.money.ledger import Ledger
from bot.runner import admissible
from bot.store import stores_on
from bot.store.ledger import SqlLedgerStore
from bot.store.postgres import PostgresDatabase
from testkit.commands import hailuo
from testkit.fake_apiframe import JobScript
from testkit.fake_discord import FakeInteraction
from testkit.postgres import running_cluster
from testkit.postgres import unavailable as postgres_unavailable


async def _pg_pairs(
    url: str, jobs: list[NewJob], members: int, tasks: int, pool: int
) -> tuple[float, int]:
    """Reserve→charge pairs per second through the project's ledger on PostgreSQL, and the
    mismatches afterwards (`db verify` problems, plus a wrong total of balances)."""
    starting = 10**9
    async with PostgresDatabase(url, min_size=min(pool, 4), max_size=pool) as database:
        store = SqlLedgerStore(database, starting)
        ledger = Ledger(store)
        for member in range(members):
            await ledger.balance(1, member)
        queue = list(jobs)

        async def worker() -> None:
            while queue:
                await reserve_submit_charge(database, ledger, queue.pop())

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(tasks)])
        rate = len(jobs) / (time.perf_counter() - started)
        problems = await store.disagreements()
        total = await database.fetch_one("SELECT SUM(balance) FROM accounts")
    assert total is not None
    mismatches = len(problems) + int(int(total[0]) != members * starting - len(jobs) * 5)
    return rate, mismatches


async def _plain_asyncpg_pairs(url: str, jobs: list[NewJob], members: int) -> float:
    """The floor: the store's own transaction bodies for a reservation, a submit and a charge,
    one pair after another on one plain asyncpg connection (no pool, no retries)."""
    starting = 10**9
    async with PostgresDatabase(url):
        pass  # migrated
    connection = await asyncpg.connect(url)
    try:
        plain = PlainPostgres(connection)
        ledger = Ledger(SqlLedgerStore(plain, starting))
        for member in range(members):
            await ledger.balance(1, member)
        started = time.perf_counter()
        for job in jobs:
            await reserve_submit_charge(plain, ledger, job)
        return len(jobs) / (time.perf_counter() - started)
    finally:
        await connection.close()


async def _admission_flood(url: str, servers: int, pool: int) -> tuple[float, float]:
    """`servers` servers admitting their queues at once (three waiting jobs each) while their
    members read their balances, on a pool of `pool` connections: seconds until every pass and
    read is done, and the longest any one of them took."""
    async with PostgresDatabase(url, max_size=pool) as database:
        stores = stores_on(database, 20)
        ledger = Ledger(stores.ledger)
        guilds = range(9000, 9000 + servers)
        for guild in guilds:
            for member in range(3):
                await ledger.reserve(make_job(guild, member))
        longest = 0.0

        async def timed(work: Awaitable[object]) -> None:
            nonlocal longest
            began = time.perf_counter()
            await work
            longest = max(longest, time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(
            *(timed(stores.jobs.admit_waiting(guild, admissible)) for guild in guilds),
            *(timed(ledger.balance(guild, 0)) for guild in guilds),
        )
        drained = time.perf_counter() - started
        admitted = await database.fetch_one(
            "SELECT COUNT(*) FROM jobs WHERE admitted_at IS NOT NULL"
        )
    assert admitted is not None and int(admitted[0]) == servers * 3, admitted
    return drained, longest


async def _two_shard_burst(workdir: Path, url: str, count: int, processes: int) -> list[float]:
    """Acknowledgement times of `count` commands at once, spread over one server per shard,
    with the shards in `processes` processes on one PostgreSQL database."""
    async with Stage(workdir / f"shards-{processes}-{count}") as stage:
        stage.apiframe.default_script = JobScript(polls_before_done=10**9)
        discord = stage.discord
        guilds = [discord.guild_id]
        if processes == 2:
            shard = ((discord.guild_id >> 22) % 2 + 1) % 2
            guilds.append(discord.add_guild(shard, 2)[0])
        bots = []
        for index in range(processes):
            shards = {} if processes == 1 else {"SHARD_COUNT": "2", "SHARD_IDS": str(index)}
            bot = stage.bot(f"bot{index}", DATABASE_URL=url, **shards)
            await bot.start()
            bots.append(bot)
        await stage.settle_in()
        members = [discord.add_member(f"s{index}") for index in range(count)]
        interactions: list[FakeInteraction] = await asyncio.gather(
            *[
                discord.invoke(
                    "hailuo",
                    hailuo(f"shard burst {index}"),
                    member=member,
                    guild_id=guilds[index % len(guilds)],
                )
                for index, member in enumerate(members)
            ]
        )
        await discord.wait_for(lambda: all(i.callback_at for i in interactions), within=180)
        for bot in bots:
            await bot.close()
    return [i.callback_at - i.sent_at for i in interactions if i.callback_at]


async def postgres(workdir: Path, sizes: Sizes) -> list[Row]:
    reason = postgres_unavailable()
    if reason is not None:
        return [Row("PostgreSQL", "skipped", reason, "", "", None)]
    rows: list[Row] = []
    pairs = max(200, sizes.ledger_pairs // 5)
    with running_cluster() as cluster:
        for label, members in (("100 members", 100), ("5 hot members", 5)):
            jobs = make_jobs(pairs, members)
            floor_url = await cluster.new_database("bench")
            floor_rate = await _plain_asyncpg_pairs(floor_url, jobs, members)
            ours_url = await cluster.new_database("bench")
            rate, mismatches = await _pg_pairs(
                ours_url, make_jobs(pairs, members), members, tasks=100, pool=10
            )
            rows.append(
                Row(
                    f"PostgreSQL ledger: {pairs:,} reserve→charge pairs, 100 tasks, {label}",
                    f"{rate:,.0f} pairs/s",
                    f"{floor_rate:,.0f} pairs/s",
                    f"{rate / floor_rate:.0%}",
                    "≥ 50% of the plain asyncpg loop",
                    rate >= 0.5 * floor_rate,
                )
            )
            rows.append(
                Row(
                    f"PostgreSQL ledger, {label}: double spends and mismatches after the run",
                    str(mismatches),
                    "",
                    "",
                    "0",
                    mismatches == 0,
                )
            )
        servers = sizes.admitting_servers
        drained, longest = await _admission_flood(
            await cluster.new_database("bench"), servers, pool=2
        )
        reference, reference_longest = await _admission_flood(
            await cluster.new_database("bench"), servers, pool=10
        )
        rows.append(
            Row(
                f"PostgreSQL: {servers} servers admitting at once (and reading balances), "
                "POSTGRES_POOL_SIZE=2: time to drain (reference: the default pool of 10)",
                f"{drained:.2f} s",
                f"{reference:.2f} s",
                f"{drained / reference:.2f}×",
                "drains; never stuck",
                True,
            )
        )
        rows.append(
            Row(
                f"PostgreSQL: {servers} servers admitting at once, pool of 2: the longest "
                "stall of any one operation (reference: pool of 10)",
                ms(longest),
                ms(reference_longest),
                f"{longest / reference_longest:.2f}×",
                "< 10 s (the acquire timeout)",
                longest < 10.0,
            )
        )
        count = sizes.big_burst
        one = await _two_shard_burst(
            workdir, await cluster.new_database("bench"), count, processes=1
        )
        two = await _two_shard_burst(
            workdir, await cluster.new_database("bench"), count, processes=2
        )
        for label, share in (("p50", 0.5), ("p99", 0.99)):
            ours, reference = percentile(two, share), percentile(one, share)
            rows.append(
                Row(
                    f"answer latency on PostgreSQL, {count} at once over 2 shards, {label}: "
                    "two processes (reference: one)",
                    ms(ours),
                    ms(reference),
                    f"{ours / reference:.2f}×",
                    "< 1 s" if label == "p99" else "",
                    ours < 1.0 if label == "p99" else None,
                )
            )
    return rows
