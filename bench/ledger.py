"""2. Ledger throughput: reserve-then-charge pairs from 100 tasks through the project's ledger,
against the same transactions run in a plain sqlite3 loop on one connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench.plain import PlainSqlite
from bench.stage import Row, Sizes
from bot.clock import utc_now
from bot.jobs.records import NewJob, RequestOrigin
from bot.money.ledger import Ledger
from bot.money.pricing import price_of
from bot.requests.rules import GenerationRequest, validate_request
from bot.store import stores_on
from bot.store.driver import Driver
from bot.store.ledger import SqlLedgerStore
from bot.store.sqlite import SqliteDatabase


def make_job(guild_id: int, member_id: int) -> NewJob:
    spec = validate_request(GenerationRequest("a benchmark video"))
    return NewJob(
        id=NewJob.new_id(),
        origin=RequestOrigin(
            guild_id=guild_id,
            channel_id=2,
            member_id=member_id,
            application_id=3,
            interaction_token="t",
            interaction_created_at=utc_now(),
        ),
        spec=spec,
        price=price_of(spec),
    )


def make_jobs(count: int, members: int) -> list[NewJob]:
    spec = validate_request(GenerationRequest("a benchmark video"))
    origin_time = utc_now()
    return [
        NewJob(
            id=NewJob.new_id(),
            origin=RequestOrigin(
                guild_id=1,
                channel_id=2,
                member_id=index % members,
                application_id=3,
                interaction_token="t",
                interaction_created_at=origin_time,
            ),
            spec=spec,
            price=price_of(spec),
        )
        for index in range(count)
    ]


SUBMITTED = (
    "UPDATE jobs SET state = 'submitted', apiframe_job_id = $1, remote_status = 'QUEUED', "
    "submitted_at = $2, updated_at = $2 WHERE id = $1 AND state = 'reserved'"
)


async def reserve_submit_charge(driver: Driver, ledger: Ledger, job: NewJob) -> None:
    """One pair: the reservation, the submit's record, and the charge."""
    await ledger.reserve(job)
    await driver.execute(SUBMITTED, job.id, utc_now())
    await ledger.commit_charge(job.id, "https://v")


async def ledger_throughput(workdir: Path, sizes: Sizes) -> list[Row]:
    pairs, members = sizes.ledger_pairs, 100
    starting = 10**9

    # The floor: the very same transaction bodies, one after another on one connection.
    path = workdir / "ledger-plain.sqlite3"
    async with SqliteDatabase(path):
        pass  # created and migrated
    plain = PlainSqlite(str(path))
    ledger = Ledger(SqlLedgerStore(plain, starting))
    for member in range(members):
        await ledger.balance(1, member)
    jobs = make_jobs(pairs, members)
    started = time.perf_counter()
    for job in jobs:
        await reserve_submit_charge(plain, ledger, job)
    plain_rate = pairs / (time.perf_counter() - started)
    plain.close()

    # The project's ledger, from 100 concurrent tasks.
    async with SqliteDatabase(workdir / "ledger.sqlite3") as database:
        stores = stores_on(database, starting)
        ledger = Ledger(stores.ledger)
        for member in range(members):
            await ledger.balance(1, member)
        queue = make_jobs(pairs, members)

        async def worker() -> None:
            while queue:
                await reserve_submit_charge(database, ledger, queue.pop())

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(100)])
        rate = pairs / (time.perf_counter() - started)
        problems = await stores.ledger.disagreements()
        charged = await database.fetch_one("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'")
        spent = await database.fetch_one("SELECT SUM(balance) FROM accounts")
    assert charged is not None and spent is not None
    expected_total = members * starting - pairs * 5
    double_spends = (
        len(problems) + int(int(spent[0]) != expected_total) + abs(int(charged[0]) - pairs)
    )
    return [
        Row(
            f"ledger: {pairs:,} reserve→charge pairs, 100 tasks",
            f"{rate:,.0f} pairs/s",
            f"{plain_rate:,.0f} pairs/s",
            f"{rate / plain_rate:.0%}",
            "≥ 50% of the limit",
            rate >= 0.5 * plain_rate,
        ),
        Row(
            "ledger: double spends and mismatches after the run",
            str(double_spends),
            "",
            "",
            "0",
            double_spends == 0,
        ),
    ]
