"""The owner's bounds on every store (SQLite and PostgreSQL): a server's monthly budget, the
whole bot's monthly limit and servers waiting for approval, held inside the reservation's own
transaction, so that neither concurrent requests nor two processes on one database together
cross them, and a refund gives the month back."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bot.errors import BudgetReached, MonthlyLimitReached, ServerWaiting
from bot.money.economy import Approval, OwnerPolicy, ServerBook, ServerFacts, SpendAlerts
from bot.money.ledger import Ledger
from bot.store import stores_on
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase
from testkit.postgres import Cluster
from tests.bot.factories import GUILD, new_job
from tests.conftest import Backend, fresh_database

REPO = Path(__file__).resolve().parents[3]
PRICE = 5  # new_job's default video


def facts(guild_id: int = GUILD, owner_id: int = 7) -> ServerFacts:
    return ServerFacts(guild_id, f"server {guild_id}", owner_id, 10)


def ledger_with(backend: Backend, policy: OwnerPolicy) -> Ledger:
    return Ledger(backend.store, policy=policy)


async def test_a_budget_holds_against_many_requests_at_once(backend: Backend) -> None:
    await backend.set_default(GUILD, 1000)
    ledger = ledger_with(backend, OwnerPolicy(default_budget=4 * PRICE))
    jobs = [new_job(n % 5, prompt=f"shot {n}") for n in range(30)]
    outcomes = await asyncio.gather(*(ledger.reserve(j) for j in jobs), return_exceptions=True)
    assert sum(isinstance(o, int) for o in outcomes) == 4
    refused = [o for o in outcomes if not isinstance(o, int)]
    assert all(isinstance(o, BudgetReached) for o in refused)
    assert {o.budget for o in refused if isinstance(o, BudgetReached)} == {4 * PRICE}
    # The check before the work (Extend's) says the same, reserving nothing.
    with pytest.raises(BudgetReached):
        await ledger.check_affordable(GUILD, 1, (), PRICE)
    # A refund gives the budget back.
    reserved = [j for j, o in zip(jobs, outcomes, strict=True) if isinstance(o, int)]
    await ledger.refund(reserved[0].id, "failed")
    assert isinstance(await ledger.reserve(new_job(1, prompt="again")), int)
    assert await backend.store.disagreements() == []


async def test_the_owners_own_servers_and_unlimited_ones_have_no_budget(backend: Backend) -> None:
    await backend.set_default(GUILD, 1000)
    await backend.set_default(GUILD + 1, 1000)
    policy = OwnerPolicy(default_budget=PRICE, owners=frozenset({7}))
    book = ServerBook(backend.stores.servers, policy)
    await book.seen(facts(GUILD, owner_id=7), joined=True)  # the owner's
    await book.seen(facts(GUILD + 1, owner_id=8), joined=True)
    ledger = ledger_with(backend, policy)
    for n in range(3):
        await ledger.reserve(new_job(1, prompt=f"mine {n}"))
    await ledger.reserve(new_job(1, guild_id=GUILD + 1, prompt="theirs"))
    with pytest.raises(BudgetReached):
        await ledger.reserve(new_job(1, guild_id=GUILD + 1, prompt="theirs again"))
    await book.set_budget(GUILD + 1, None, actor_id=7, unlimited=True)
    await ledger.reserve(new_job(1, guild_id=GUILD + 1, prompt="now unlimited"))
    # The owner may still give their own server a budget.
    await book.set_budget(GUILD, 3 * PRICE, actor_id=7)
    with pytest.raises(BudgetReached):
        await ledger.reserve(new_job(1, prompt="mine, over"))


async def test_the_monthly_limit_spans_servers_and_its_alerts_go_out_once(
    backend: Backend,
) -> None:
    for guild in (GUILD, GUILD + 1):
        await backend.set_default(guild, 1000)
    policy = OwnerPolicy(default_budget=None, monthly_limit=5 * PRICE)
    told: list[int] = []

    class Notices:
        async def server_waiting(self, server: object) -> None:
            raise AssertionError("no server waits here")

        async def limit_share(self, share: int, spent: int, limit: int, month: str) -> None:
            told.append(share)

    ledgers = [ledger_with(backend, policy) for _ in range(2)]  # as two processes would be
    for ledger in ledgers:
        alerts = SpendAlerts(policy, backend.stores.state)
        alerts.tell(Notices())
        ledger.watch_month(alerts.month_moved)
    jobs = [new_job(n % 3, guild_id=GUILD + n % 2, prompt=f"shot {n}") for n in range(20)]
    outcomes = await asyncio.gather(
        *(ledgers[n % 2].reserve(job) for n, job in enumerate(jobs)), return_exceptions=True
    )
    assert sum(isinstance(o, int) for o in outcomes) == 5
    assert all(isinstance(o, MonthlyLimitReached) for o in outcomes if not isinstance(o, int))
    assert sorted(told) == [80, 100]
    assert await backend.stores.servers.month_spent(jobs[0].origin.interaction_created_at) == 25


async def test_a_waiting_server_reserves_nothing_until_approved(backend: Backend) -> None:
    await backend.set_default(GUILD, 1000)
    policy = OwnerPolicy(default_budget=None, approve_new_servers=True)
    book = ServerBook(backend.stores.servers, policy)
    server, waits = await book.seen(facts(), joined=True)
    assert waits and server.approval is Approval.WAITING
    ledger = ledger_with(backend, policy)
    with pytest.raises(ServerWaiting):
        await ledger.reserve(new_job(1))
    with pytest.raises(ServerWaiting):
        await ledger.check_affordable(GUILD, 1, (), PRICE)
    # Seen again (a restart, a renamed server): still waiting, and not asked about twice.
    _, asked_again = await book.seen(facts(), joined=False)
    assert not asked_again
    await book.approve(GUILD, actor_id=7)
    assert isinstance(await ledger.reserve(new_job(1)), int)
    # Switched back to open, no server waits.
    policy.approve_new_servers = False
    await book.seen(facts(GUILD + 1), joined=True)
    assert not book.waiting(await book.get(GUILD + 1))


async def test_a_server_that_used_an_older_release_is_let_in(backend: Backend) -> None:
    await backend.set_default(GUILD, 30)  # its admins set it up before servers were kept
    book = ServerBook(
        backend.stores.servers, OwnerPolicy(default_budget=None, approve_new_servers=True)
    )
    _, waits = await book.seen(facts(), joined=False)
    assert not waits
    # Added again after the bot left, it waits like any new server.
    await book.left(GUILD)
    _, waits = await book.seen(facts(), joined=True)
    assert waits


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_two_processes_never_cross_a_budget_or_the_limit_together(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two OS processes, each with its own connections, reserving at once in two servers."""
    if engine == "sqlite":
        where = str(tmp_path / "bot.sqlite3")
        database: SqliteDatabase | PostgresDatabase = SqliteDatabase(Path(where))
    else:
        cluster: Cluster = request.getfixturevalue("postgres_cluster")
        where = await fresh_database(cluster)
        database = PostgresDatabase(where)
    budget, limit = 12 * PRICE, 20 * PRICE
    await database.open()  # made and migrated before the workers start
    await database.close()
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bot.money.owner_bounds_worker",
            where,
            "90",
            str(budget),
            str(limit),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await worker.communicate() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs
    accepted = sum(int(out.decode()) for out, _ in outputs)
    await database.open()
    try:
        stores = stores_on(database, 0)
        spent = {
            int(row["guild_id"]): int(row["spent"])
            for row in await database.fetch(
                "SELECT guild_id, SUM(price) AS spent FROM jobs WHERE state <> 'failed' "
                "GROUP BY guild_id"
            )
        }
        month = await database.fetch("SELECT spent FROM month_spend")
        assert await stores.ledger.disagreements() == []
    finally:
        await database.close()
    assert accepted >= 20  # the limit was reached (refunds may have made room again)
    assert all(amount <= budget for amount in spent.values()), spent
    assert sum(spent.values()) <= limit
    # The whole bot's month row agrees with the jobs it counts.
    assert [int(row["spent"]) for row in month] == [sum(spent.values())]
