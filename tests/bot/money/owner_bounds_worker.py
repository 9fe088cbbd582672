"""One process of the owner's-bounds test: `python -m tests.bot.money.owner_bounds_worker
WHERE N BUDGET LIMIT`, WHERE a SQLite file or a PostgreSQL URL.

Opens its own connection(s) to the database and makes N reservations at once across two
servers, each with a budget of BUDGET under a whole-bot limit of LIMIT, refunding every
fourth; prints how many reservations went through."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from bot.errors import BudgetReached, MonthlyLimitReached
from bot.money.economy import OwnerPolicy
from bot.money.ledger import Ledger
from bot.store import Database, stores_on
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase
from tests.bot.factories import GUILD, new_job

SERVERS = (GUILD, GUILD + 1)
STARTING_CREDITS = 10_000


def database_at(where: str) -> Database:
    if where.startswith("postgresql://"):
        return PostgresDatabase(where, max_size=8)
    return SqliteDatabase(Path(where))


async def work(where: str, moves: int, budget: int, limit: int) -> int:
    database = database_at(where)
    await database.open()
    try:
        policy = OwnerPolicy(default_budget=budget, monthly_limit=limit)
        ledger = Ledger(stores_on(database, STARTING_CREDITS).ledger, policy=policy)
        accepted = 0

        async def one(n: int) -> None:
            nonlocal accepted
            job = new_job(n % 7, guild_id=SERVERS[n % 2], prompt=f"shot {n}")
            try:
                await ledger.reserve(job)
            except (BudgetReached, MonthlyLimitReached):
                return
            accepted += 1
            if n % 4 == 0:
                await asyncio.sleep(random.random() / 50)
                await ledger.refund(job.id, "failed")

        await asyncio.gather(*(one(n) for n in range(moves)))
        return accepted
    finally:
        await database.close()


if __name__ == "__main__":
    where, moves, budget, limit = sys.argv[1], *map(int, sys.argv[2:5])
    print(asyncio.run(work(where, moves, budget, limit)))
