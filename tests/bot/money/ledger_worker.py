"""One process of the multi-process ledger test: `python -m tests.bot.money.ledger_worker URL N`.

Opens its own pool on the database and makes N money moves at once on the same few members
of one capped server (reservations, then charges or refunds, grants, balance reads that top up
allowances), printing how many reservations went through."""

from __future__ import annotations

import asyncio
import random
import sys

from bot.errors import CapReached, InsufficientCredits
from bot.money.ledger import Ledger
from bot.store.ledger import SqlLedgerStore
from bot.store.postgres import PostgresDatabase
from tests.bot.factories import GUILD, new_job

MEMBERS = 5


async def work(url: str, moves: int) -> int:
    async with PostgresDatabase(url, max_size=8) as database:
        ledger = Ledger(SqlLedgerStore(database, 20))
        accepted = 0

        async def one(n: int) -> None:
            nonlocal accepted
            member = n % MEMBERS
            try:
                job = new_job(member)
                await ledger.reserve(job)
            except (CapReached, InsufficientCredits):
                await ledger.balance(GUILD, member)
                return
            accepted += 1
            await asyncio.sleep(random.random() / 100)
            async with database.connection() as connection:
                await connection.execute(
                    "UPDATE jobs SET state = 'submitted' WHERE id = $1", job.id
                )
            settle = (
                ledger.commit_charge(job.id, "https://v") if n % 3 else ledger.refund(job.id, "no")
            )
            # Both processes may settle the same job only if something is wrong; settle twice
            # here on purpose: the second must change nothing.
            await asyncio.gather(settle, ledger.refund(job.id, "late"))
            if n % 7 == 0:
                await ledger.add_credits(GUILD, member, 5, actor_id=1)

        await asyncio.gather(*(one(n) for n in range(moves)))
        return accepted


if __name__ == "__main__":
    print(asyncio.run(work(sys.argv[1], int(sys.argv[2]))))
