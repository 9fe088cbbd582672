"""The ledger against a real SQLite file: no overspend, no double charge, no lost refund."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import InsufficientCredits
from bot.i18n import ENGLISH_ONLY
from bot.jobs.records import JobState
from bot.money.ledger import EntryKind, Ledger
from bot.money.servers import ServerSettings
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.settings import SqlGuildSettingsStore
from bot.store.sqlite import SqliteDatabase
from cogs.front_end._errors import refusal
from tests.bot.factories import GUILD, new_job


async def ledger_sum(db: SqliteDatabase, member_id: int, guild_id: int = GUILD) -> int:
    row = await db.fetch_one(
        "SELECT COALESCE(SUM(delta), 0) AS total FROM ledger "
        "WHERE guild_id = $1 AND member_id = $2",
        guild_id,
        member_id,
    )
    assert row is not None
    return int(row["total"])


async def test_new_member_starts_with_the_default(database: SqliteDatabase) -> None:
    ledger = Ledger(SqlLedgerStore(database, 20))
    assert await ledger.balance(GUILD, 1) == 20
    await ServerSettings(SqlGuildSettingsStore(database, 20)).set_default_credits(
        GUILD, 7, actor_id=99
    )
    assert await ledger.balance(GUILD, 2) == 7
    assert await ledger.balance(GUILD, 1) == 20  # existing balances keep theirs
    [opening] = await ledger.history(GUILD, 2)
    assert opening.kind is EntryKind.OPENING and opening.delta == 7


async def test_reserve_takes_the_price_and_writes_the_job(database: SqliteDatabase) -> None:
    ledger, jobs = Ledger(SqlLedgerStore(database, 20)), SqlJobStore(database, 20)
    job = new_job(resolution="1080p")
    assert await ledger.reserve(job) == 10
    saved = await jobs.require(job.id)
    assert saved.state is JobState.RESERVED and saved.price == 10
    assert saved.idempotency_key == f"hailuo-bot-{job.id}"
    assert await ledger_sum(database, 42) == 10


async def test_short_balance_reserves_nothing(database: SqliteDatabase) -> None:
    ledger, jobs = Ledger(SqlLedgerStore(database, 4)), SqlJobStore(database, 20)
    job = new_job()
    with pytest.raises(InsufficientCredits) as caught:
        await ledger.reserve(job)
    assert (caught.value.balance, caught.value.price) == (4, 5)
    assert (caught.value.price, caught.value.balance) == (5, 4)
    assert "costs 5 credits and you have 4" in refusal(ENGLISH_ONLY, caught.value)
    assert await jobs.get(job.id) is None
    assert await ledger.balance(GUILD, 42) == 4


async def test_charge_and_refund_happen_once_and_exclude_each_other(
    database: SqliteDatabase,
) -> None:
    ledger, jobs = Ledger(SqlLedgerStore(database, 20)), SqlJobStore(database, 20)
    charged, refunded = new_job(), new_job()
    await ledger.reserve(charged)
    await ledger.reserve(refunded)
    await jobs.record_submitted(charged.id, "remote-1", "QUEUED")
    assert (await ledger.commit_charge(charged.id, "https://v/1.mp4")).applied
    assert not (await ledger.commit_charge(charged.id, "https://v/1.mp4")).applied
    assert not (await ledger.refund(charged.id, "late failure")).applied
    assert (await ledger.refund(refunded.id, "policy")).applied
    assert not (await ledger.refund(refunded.id, "policy")).applied
    assert not (await ledger.commit_charge(refunded.id, "https://v/2.mp4")).applied
    assert await ledger.balance(GUILD, 42) == 15
    assert await ledger_sum(database, 42) == 15


async def test_a_job_cannot_be_charged_before_it_was_submitted(database: SqliteDatabase) -> None:
    ledger = Ledger(SqlLedgerStore(database, 20))
    job = new_job()
    await ledger.reserve(job)
    assert not (await ledger.commit_charge(job.id, "https://v.mp4")).applied
    assert await ledger.balance(GUILD, 42) == 15


async def test_concurrent_settlements_of_one_job_apply_once(database: SqliteDatabase) -> None:
    ledger, jobs = Ledger(SqlLedgerStore(database, 20)), SqlJobStore(database, 20)
    job = new_job()
    await ledger.reserve(job)
    await jobs.record_submitted(job.id, "remote-1", "QUEUED")
    results = await asyncio.gather(
        *[ledger.refund(job.id, "x") for _ in range(20)],
        *[ledger.commit_charge(job.id, "https://v.mp4") for _ in range(20)],
    )
    assert sum(r.applied for r in results) == 1
    assert await ledger.balance(GUILD, 42) == await ledger_sum(database, 42)


async def test_150_concurrent_reserves_never_overspend(tmp_path: Path) -> None:
    async with SqliteDatabase(tmp_path / "race.sqlite3") as db:
        ledger = Ledger(SqlLedgerStore(db, 100))  # room for exactly 20 videos at 5

        async def attempt() -> bool:
            try:
                await ledger.reserve(new_job(member_id=7))
            except InsufficientCredits:
                return False
            return True

        outcomes = await asyncio.gather(*[attempt() for _ in range(150)])
        assert sum(outcomes) == 20
        assert await ledger.balance(GUILD, 7) == 0
        assert await ledger_sum(db, 7) == 0
        reserves = await db.fetch("SELECT * FROM ledger WHERE kind = 'reserve'")
        assert len(reserves) == 20


async def test_two_connections_to_one_file_never_overspend(tmp_path: Path) -> None:
    """Two bot processes on one file (a mistake, but the money must still hold)."""
    path = tmp_path / "shared.sqlite3"
    async with SqliteDatabase(path) as first, SqliteDatabase(path) as second:
        ledgers = [Ledger(SqlLedgerStore(first, 50)), Ledger(SqlLedgerStore(second, 50))]

        async def attempt(index: int) -> bool:
            try:
                await ledgers[index % 2].reserve(new_job(member_id=8))
            except InsufficientCredits:
                return False
            return True

        outcomes = await asyncio.gather(*[attempt(i) for i in range(100)])
        assert sum(outcomes) == 10
        assert await ledgers[0].balance(GUILD, 8) == 0


async def test_admin_changes_are_recorded_with_their_actor(database: SqliteDatabase) -> None:
    ledger = Ledger(SqlLedgerStore(database, 20))
    assert (await ledger.set_balance(GUILD, 5, 50, actor_id=900)).delta == 30
    change = await ledger.add_credits(GUILD, 5, -80, actor_id=901)
    assert (change.delta, change.balance) == (-50, 0)  # stops at zero
    change = await ledger.add_credits(GUILD, 5, 12, actor_id=902)
    assert (change.delta, change.balance) == (12, 12)
    entries = await ledger.history(GUILD, 5)
    assert [(e.kind, e.delta, e.actor_id) for e in entries] == [
        (EntryKind.GRANT, 12, 902),
        (EntryKind.GRANT, -50, 901),
        (EntryKind.SET, 30, 900),
        (EntryKind.OPENING, 20, None),
    ]
    assert await ledger_sum(database, 5) == 12


async def test_refund_after_admin_zeroed_the_balance_still_returns_the_price(
    database: SqliteDatabase,
) -> None:
    ledger = Ledger(SqlLedgerStore(database, 20))
    job = new_job()
    await ledger.reserve(job)
    await ledger.set_balance(GUILD, 42, 0, actor_id=1)
    settlement = await ledger.refund(job.id, "failed")
    assert settlement.balance == 5
    assert await ledger_sum(database, 42) == 5


async def test_ledger_rows_cannot_be_changed_or_removed(database: SqliteDatabase) -> None:
    ledger = Ledger(SqlLedgerStore(database, 20))
    await ledger.balance(GUILD, 1)
    with pytest.raises(Exception, match="append-only"):
        await database.write(lambda tx: tx.execute("UPDATE ledger SET delta = 1000"))
    with pytest.raises(Exception, match="append-only"):
        await database.write(lambda tx: tx.execute("DELETE FROM ledger"))
    assert await ledger.balance(GUILD, 1) == 20


async def test_balances_survive_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "reopen.sqlite3"
    async with SqliteDatabase(path) as db:
        await Ledger(SqlLedgerStore(db, 20)).add_credits(GUILD, 3, 5, actor_id=1)
    async with SqliteDatabase(path) as db:
        assert await Ledger(SqlLedgerStore(db, 20)).balance(GUILD, 3) == 25
        row = await db.fetch_one("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
