"""The ledger's promises, on every store: each test runs on SQLite and on PostgreSQL (ids
`sqlite` and `postgres`), against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import CapReached, InsufficientCredits, RepeatedRequest
from bot.jobs.records import JobSource, SourceAction
from bot.money.rules import EntryKind
from bot.store.ledger import SqlLedgerStore
from bot.store.postgres import PostgresDatabase
from tests.bot.factories import GUILD, new_job
from tests.conftest import Backend

REPO = Path(__file__).resolve().parents[3]


async def test_an_account_opens_with_the_servers_default_once(backend: Backend) -> None:
    ledger = backend.ledger()
    await backend.set_default(GUILD, 7)
    balances = await asyncio.gather(*(ledger.balance(GUILD, 42) for _ in range(20)))
    assert set(balances) == {7}
    history = await ledger.history(GUILD, 42)
    assert [entry.kind for entry in history] == [EntryKind.OPENING]
    assert await backend.store.disagreements() == []


async def test_a_job_is_reserved_then_charged_or_refunded_exactly_once(backend: Backend) -> None:
    ledger = backend.ledger()
    done, failed = new_job(42), new_job(42)
    assert await ledger.reserve(done) == 15
    assert await ledger.reserve(failed) == 10
    await backend.submitted(done.id)
    charges = await asyncio.gather(*(ledger.commit_charge(done.id, "https://v") for _ in range(5)))
    refunds = await asyncio.gather(*(ledger.refund(failed.id, "no") for _ in range(5)))
    assert [c.applied for c in charges].count(True) == 1
    assert [r.applied for r in refunds].count(True) == 1
    late = await ledger.refund(done.id, "too late")  # a charged job stays charged
    assert not late.applied
    assert await ledger.balance(GUILD, 42) == 15
    kinds = [entry.kind for entry in await ledger.history(GUILD, 42)]
    assert kinds.count(EntryKind.CHARGE) == 1 and kinds.count(EntryKind.REFUND) == 1
    assert await backend.store.disagreements() == []


async def test_a_member_can_never_spend_more_than_they_have(backend: Backend) -> None:
    ledger = backend.ledger()
    jobs = [new_job(42) for _ in range(40)]
    outcomes = await asyncio.gather(*(ledger.reserve(job) for job in jobs), return_exceptions=True)
    accepted = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, InsufficientCredits)]
    assert len(accepted) == 4 and len(refused) == 36  # 20 credits, 5 each
    assert sorted(accepted) == [0, 5, 10, 15]
    assert await ledger.balance(GUILD, 42) == 0
    assert await backend.store.disagreements() == []


async def test_the_monthly_cap_is_never_crossed_by_one_credit(backend: Backend) -> None:
    ledger = backend.ledger()
    await backend.set_cap(GUILD, 23)  # room for four 5-credit videos, not five
    jobs = [new_job(member) for member in range(100, 130)]
    outcomes = await asyncio.gather(*(ledger.reserve(job) for job in jobs), return_exceptions=True)
    assert sum(isinstance(o, int) for o in outcomes) == 4
    assert all(isinstance(o, int | CapReached) for o in outcomes)
    assert await ledger.month_spend(GUILD) == 20
    assert await backend.store.disagreements() == []


async def test_a_refused_reservation_writes_nothing(backend: Backend) -> None:
    ledger = backend.ledger()
    await ledger.set_balance(GUILD, 42, 3, actor_id=1)
    with pytest.raises(InsufficientCredits) as caught:
        await ledger.reserve(new_job(42))
    assert (caught.value.balance, caught.value.price) == (3, 5)
    assert await ledger.month_spend(GUILD) == 0
    assert [e.kind for e in await ledger.history(GUILD, 42)] == [EntryKind.SET, EntryKind.OPENING]


async def test_an_allowance_tops_up_once_per_period(backend: Backend) -> None:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    clock = [now]
    ledger = backend.ledger(clock=lambda: clock[0])
    await backend.set_allowance(GUILD, 30, "daily")
    assert set(await asyncio.gather(*(ledger.balance(GUILD, 42) for _ in range(10)))) == {30}
    await ledger.reserve(new_job(42))
    assert await ledger.balance(GUILD, 42) == 25  # same day: no second top-up
    clock[0] = now + timedelta(days=1)
    assert set(await asyncio.gather(*(ledger.balance(GUILD, 42) for _ in range(10)))) == {30}
    kinds = [e.kind for e in await ledger.history(GUILD, 42, limit=50)]
    assert kinds.count(EntryKind.ALLOWANCE) == 2
    assert await backend.store.disagreements() == []


async def test_grants_set_and_removals_stop_at_zero(backend: Backend) -> None:
    ledger = backend.ledger()
    assert (await ledger.add_credits(GUILD, 42, 5, actor_id=1)).balance == 25
    removed = await ledger.add_credits(GUILD, 42, -100, actor_id=1)
    assert (removed.delta, removed.balance) == (-25, 0)
    assert (await ledger.set_balance(GUILD, 42, 9, actor_id=1)).delta == 9
    assert await ledger.stored_balance(GUILD, 42) == 9
    assert await ledger.history_size(GUILD, 42) == 4
    assert await backend.store.disagreements() == []


async def test_a_double_click_on_a_result_makes_one_job(backend: Backend) -> None:
    ledger = backend.ledger()
    source = new_job(42)
    await ledger.reserve(source)
    await backend.submitted(source.id)
    assert (await ledger.commit_charge(source.id, "https://v")).applied
    clicks = [
        dataclasses.replace(new_job(42), source=JobSource(source.id, SourceAction.AGAIN))
        for _ in range(3)
    ]
    outcomes = await asyncio.gather(*(ledger.reserve(c) for c in clicks), return_exceptions=True)
    assert sum(isinstance(o, int) for o in outcomes) == 1
    assert sum(isinstance(o, RepeatedRequest) for o in outcomes) == 2


async def test_cancel_refunds_only_a_job_still_waiting(backend: Backend) -> None:
    ledger = backend.ledger()
    job = new_job(42)
    await ledger.reserve(job)
    cancelled = await ledger.refund(job.id, "cancelled", actor_id=42, only_if_waiting=True)
    assert cancelled.applied and cancelled.balance == 20
    assert not (await ledger.commit_charge(job.id, "https://v")).applied
    assert await backend.store.disagreements() == []


async def test_top_spenders_and_month_spend_leave_out_refunds(backend: Backend) -> None:
    ledger = backend.ledger()
    kept, refunded, other = new_job(1), new_job(1), new_job(2, resolution="1080p")
    for job in (kept, refunded, other):
        await ledger.reserve(job)
    await ledger.refund(refunded.id, "no")
    assert await ledger.month_spend(GUILD) == 15
    assert await ledger.top_spenders(GUILD) == [(2, 10), (1, 5)]


async def test_verify_finds_a_balance_that_disagrees_with_the_ledger(backend: Backend) -> None:
    ledger = backend.ledger()
    await ledger.balance(GUILD, 42)
    await backend.execute("UPDATE accounts SET balance = {0} WHERE member_id = {1}", (99, 42))
    problems = await backend.store.disagreements()
    assert any("balance is 99 but the ledger adds up to 20" in p for p in problems)


async def test_the_ledger_cannot_be_rewritten(backend: Backend) -> None:
    ledger = backend.ledger()
    await ledger.balance(GUILD, 42)
    with pytest.raises(Exception, match="append-only"):
        await backend.execute("UPDATE ledger SET delta = {0}", (1000,))
    with pytest.raises(Exception, match="append-only"):
        await backend.execute("DELETE FROM ledger WHERE member_id = {0}", (42,))


async def test_two_processes_moving_money_on_the_same_rows_keep_every_promise(
    postgres_url: str,
) -> None:
    """Two OS processes, each with its own pool, on the same members of one capped server."""
    async with PostgresDatabase(postgres_url) as database:
        async with database.connection() as connection:
            await connection.execute(
                "INSERT INTO guild_settings (guild_id, monthly_cap, updated_at) "
                "VALUES ($1, 60, now())",
                GUILD,
            )
            await connection.execute(
                "INSERT INTO allowances (guild_id, role_id, amount, period, updated_at) "
                "VALUES ($1, 0, 25, 'daily', now())",
                GUILD,
            )
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.bot.money.ledger_worker",
                postgres_url,
                "120",
                cwd=REPO,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = [await worker.communicate() for worker in workers]
        assert all(worker.returncode == 0 for worker in workers), outputs
        store = SqlLedgerStore(database, 20)
        assert await store.disagreements() == []
        async with database.connection() as connection:
            spent = await connection.fetchval(
                "SELECT COALESCE(SUM(price), 0) FROM jobs WHERE state <> 'failed'"
            )
            negative = await connection.fetchval("SELECT COUNT(*) FROM accounts WHERE balance < 0")
            top_ups = await connection.fetchval(
                "SELECT COUNT(*) FROM ledger WHERE kind = 'allowance'"
            )
            settlements = await connection.fetch(
                "SELECT job_id, COUNT(*) AS n FROM ledger WHERE kind IN ('charge', 'refund') "
                "GROUP BY job_id HAVING COUNT(*) > 1"
            )
        accepted = sum(int(out.decode()) for out, _ in outputs)
    assert accepted > 0
    assert spent <= 60  # the cap, never crossed, by reservations from both processes
    assert negative == 0
    assert settlements == []  # each job charged or refunded once
    assert top_ups <= 5  # one allowance top-up per member per day, whichever process
