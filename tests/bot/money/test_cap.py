"""The monthly cap under concurrent requests: never crossed, not even by one credit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.errors import CapReached, InsufficientCredits
from bot.i18n import ENGLISH_ONLY
from bot.money.ledger import Ledger
from bot.money.servers import ServerSettings
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.settings import SqlGuildSettingsStore
from bot.store.sqlite import SqliteDatabase
from cogs.front_end._errors import refusal
from tests.bot.factories import GUILD, new_job


async def test_concurrent_requests_never_cross_the_cap(database: SqliteDatabase) -> None:
    await ServerSettings(SqlGuildSettingsStore(database, 100)).set_monthly_cap(
        GUILD, 52, actor_id=1
    )
    ledger = Ledger(SqlLedgerStore(database, 100))

    async def attempt(member: int) -> str:
        try:
            await ledger.reserve(new_job(member_id=member))
        except CapReached:
            return "cap"
        except InsufficientCredits:
            return "balance"
        return "ok"

    outcomes = await asyncio.gather(*[attempt(1000 + i % 40) for i in range(120)])
    assert outcomes.count("ok") == 10  # 10 x 5 = 50; an 11th would make 55 > 52
    assert outcomes.count("cap") == 110
    assert await ledger.month_spend(GUILD) == 50


async def test_refunded_jobs_give_their_room_back(database: SqliteDatabase) -> None:
    await ServerSettings(SqlGuildSettingsStore(database, 100)).set_monthly_cap(
        GUILD, 10, actor_id=1
    )
    ledger, jobs = Ledger(SqlLedgerStore(database, 100)), SqlJobStore(database, 20)
    first = new_job(member_id=1)
    await ledger.reserve(first)
    await ledger.reserve(new_job(member_id=2))
    with pytest.raises(CapReached) as caught:
        await ledger.reserve(new_job(member_id=3))
    assert caught.value.resets_at.day == 1
    assert (caught.value.cap, caught.value.spent, caught.value.price) == (10, 10, 5)
    await jobs.record_submitted(first.id, "remote", "QUEUED")
    await ledger.refund(first.id, "failed")
    await ledger.reserve(new_job(member_id=3))


async def test_the_cap_resets_with_the_month(database: SqliteDatabase) -> None:
    now = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    await ServerSettings(SqlGuildSettingsStore(database, 100)).set_monthly_cap(GUILD, 5, actor_id=1)
    ledger = Ledger(SqlLedgerStore(database, 100), clock=lambda: now)
    await ledger.reserve(new_job(member_id=1))
    with pytest.raises(CapReached) as caught:
        await ledger.reserve(new_job(member_id=1))
    assert caught.value.resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert "resets <t:1796083200:D>" in refusal(ENGLISH_ONLY, caught.value)
