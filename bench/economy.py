"""10. The owner's bounds: admission (the reservation every request makes before anything is
sent to Apiframe) with a budget on every server and the whole bot's monthly limit on, beside
the same admission with neither, 200 requests at once, on SQLite and on PostgreSQL.

Two layouts: the 200 requests spread over 200 servers (each server's row locked by its own
reservation only), and all in one server (every reservation waits its turn at that server's
row: the budget's worst case). The bounds are set high enough never to refuse, so both sides
do the same work apart from them. Rounds alternate between the two sides, on one database
each, and the median round is reported."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from bench.ledger import make_job
from bench.stage import Row, Sizes, ms
from bot.jobs.records import NewJob
from bot.money.economy import OwnerPolicy, ServerBook, ServerFacts
from bot.money.ledger import Ledger
from bot.store import Database, stores_on
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase
from testkit.postgres import running_cluster
from testkit.postgres import unavailable as postgres_unavailable

AT_ONCE: Final = 200
ROUNDS: Final = 21
STARTING: Final = 10**9
GENEROUS: Final = 10**9  # budgets and the limit: on, but never reached
TARGET: Final = 1.1


def requests(layout: str) -> list[NewJob]:
    """200 requests from different members: over 200 servers, or all in one."""
    jobs = []
    for index in range(AT_ONCE):
        guild = 1 + index if layout == "200 servers" else 1
        jobs.append(make_job(guild, index))
    return jobs


async def admit(ledger: Ledger, jobs: list[NewJob]) -> float:
    began = time.perf_counter()
    await asyncio.gather(*(ledger.reserve(job) for job in jobs))
    return time.perf_counter() - began


async def prepared(database: Database, policy: OwnerPolicy) -> Ledger:
    """A ledger whose servers are known (as the bot records them when it joins), and whose
    members' accounts are open."""
    stores = stores_on(database, STARTING)
    book = ServerBook(stores.servers, policy)
    ledger = Ledger(stores.ledger, policy=policy)
    for guild in range(1, AT_ONCE + 1):
        await book.seen(ServerFacts(guild, f"server {guild}", 99, 10), joined=True)
        await ledger.balance(guild, guild - 1)
    for member in range(AT_ONCE):
        await ledger.balance(1, member)
    return ledger


async def compare(bounded_db: Database, open_db: Database, layout: str) -> tuple[float, float]:
    """Median seconds to admit 200 at once: with the owner's bounds, and without them."""
    on = OwnerPolicy(default_budget=GENEROUS, monthly_limit=GENEROUS)
    off = OwnerPolicy(default_budget=None, monthly_limit=None)
    with_bounds = await prepared(bounded_db, on)
    without = await prepared(open_db, off)
    await admit(with_bounds, requests(layout))  # warm both up
    await admit(without, requests(layout))
    timed_on: list[float] = []
    timed_off: list[float] = []
    for round_number in range(1, ROUNDS + 1):
        sides = [(with_bounds, timed_on), (without, timed_off)]
        if round_number % 2:
            sides.reverse()
        for ledger, timings in sides:
            timings.append(await admit(ledger, requests(layout)))
    return statistics.median(timed_on), statistics.median(timed_off)


@asynccontextmanager
async def sqlite_pair(workdir: Path, layout: str) -> AsyncIterator[tuple[Database, Database]]:
    tag = layout.replace(" ", "-")
    async with (
        SqliteDatabase(workdir / f"bounds-on-{tag}.sqlite3") as bounded,
        SqliteDatabase(workdir / f"bounds-off-{tag}.sqlite3") as unbounded,
    ):
        yield bounded, unbounded


def row(engine: str, layout: str, on: float, off: float) -> Row:
    return Row(
        f"{engine}: {AT_ONCE} requests admitted at once, {layout}: with server budgets and "
        "the monthly limit (reference: neither)",
        ms(on),
        ms(off),
        f"{on / off:.2f}×",
        f"≤ {TARGET}×",
        on <= TARGET * off,
    )


async def owner_bounds(workdir: Path, sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    for layout in ("200 servers", "one server"):
        async with sqlite_pair(workdir, layout) as (bounded, unbounded):
            rows.append(row("SQLite", layout, *await compare(bounded, unbounded, layout)))
    reason = postgres_unavailable()
    if reason is not None:
        rows.append(Row("PostgreSQL: the owner's bounds", "skipped", reason, "", "", None))
        return rows
    with running_cluster() as cluster:
        for layout in ("200 servers", "one server"):
            async with (
                PostgresDatabase(await cluster.new_database("bench")) as bounded,
                PostgresDatabase(await cluster.new_database("bench")) as unbounded,
            ):
                rows.append(row("PostgreSQL", layout, *await compare(bounded, unbounded, layout)))
    return rows
