"""Allowance top-ups across period boundaries, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.i18n import ENGLISH_ONLY
from bot.money.allowances import EVERYONE, Allowance, Period, applicable, next_period_start
from bot.money.ledger import EntryKind, Ledger
from bot.money.servers import ServerSettings
from bot.store.ledger import SqlLedgerStore
from bot.store.settings import SqlGuildSettingsStore
from bot.store.sqlite import SqliteDatabase
from cogs.front_end._errors import refusal
from tests.bot.factories import GUILD

ADMIN = 900
ARTISTS = 555
PATRONS = 666


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))  # a Tuesday


@pytest.fixture
def guilds(database: SqliteDatabase) -> ServerSettings:
    return ServerSettings(SqlGuildSettingsStore(database, 0))


def ledger_for(database: SqliteDatabase, clock: Clock) -> Ledger:
    return Ledger(SqlLedgerStore(database, 0), clock=clock)


@pytest.mark.parametrize(
    ("period", "still_same", "next_one"),
    [
        (Period.DAILY, timedelta(hours=11, minutes=59), timedelta(hours=12)),
        (Period.WEEKLY, timedelta(days=5, hours=11), timedelta(days=5, hours=12)),  # to Monday
        (Period.MONTHLY, timedelta(days=6, hours=11), timedelta(days=6, hours=12)),  # to 1 Dec
    ],
)
async def test_top_up_once_per_period(
    database: SqliteDatabase,
    guilds: ServerSettings,
    clock: Clock,
    period: Period,
    still_same: timedelta,
    next_one: timedelta,
) -> None:
    ledger = ledger_for(database, clock)
    await guilds.set_allowance(GUILD, None, 30, period, ADMIN)
    start = clock.now
    assert await ledger.balance(GUILD, 1) == 30
    await ledger.add_credits(GUILD, 1, -25, ADMIN)  # spent down to 5
    clock.now = start + still_same
    assert await ledger.balance(GUILD, 1) == 5  # same period: no second top-up
    clock.now = start + next_one
    assert await ledger.balance(GUILD, 1) == 30
    kinds = [e.kind for e in await ledger.history(GUILD, 1)]
    assert kinds.count(EntryKind.ALLOWANCE) == 2


async def test_hand_grants_above_the_allowance_are_kept(
    database: SqliteDatabase, guilds: ServerSettings, clock: Clock
) -> None:
    ledger = ledger_for(database, clock)
    await guilds.set_allowance(GUILD, None, 10, Period.DAILY, ADMIN)
    assert await ledger.balance(GUILD, 2) == 10
    await ledger.add_credits(GUILD, 2, 40, ADMIN)
    clock.now += timedelta(days=1)
    assert await ledger.balance(GUILD, 2) == 50  # never taken down to 10
    entries = await ledger.history(GUILD, 2)
    assert entries[0].kind is EntryKind.GRANT  # and no zero-amount allowance row was written


async def test_largest_allowance_of_overlapping_roles_applies(
    database: SqliteDatabase, guilds: ServerSettings, clock: Clock
) -> None:
    ledger = ledger_for(database, clock)
    await guilds.set_allowance(GUILD, None, 5, Period.DAILY, ADMIN)
    await guilds.set_allowance(GUILD, ARTISTS, 20, Period.WEEKLY, ADMIN)
    await guilds.set_allowance(GUILD, PATRONS, 50, Period.MONTHLY, ADMIN)
    assert await ledger.balance(GUILD, 10) == 5
    assert await ledger.balance(GUILD, 11, [ARTISTS]) == 20
    assert await ledger.balance(GUILD, 12, [ARTISTS, PATRONS]) == 50
    status = await ledger.allowance_status(GUILD, [ARTISTS])
    assert status is not None and status.amount == 20 and status.period is Period.WEEKLY
    assert status.next_refill == datetime(2026, 11, 30, tzinfo=UTC)


async def test_a_new_role_mid_period_tops_up_to_the_larger_allowance(
    database: SqliteDatabase, guilds: ServerSettings, clock: Clock
) -> None:
    ledger = ledger_for(database, clock)
    await guilds.set_allowance(GUILD, None, 5, Period.DAILY, ADMIN)
    await guilds.set_allowance(GUILD, PATRONS, 50, Period.MONTHLY, ADMIN)
    assert await ledger.balance(GUILD, 13) == 5
    assert await ledger.balance(GUILD, 13, [PATRONS]) == 50


async def test_amount_zero_removes_an_allowance(
    database: SqliteDatabase, guilds: ServerSettings, clock: Clock
) -> None:
    ledger = ledger_for(database, clock)
    await guilds.set_allowance(GUILD, None, 15, Period.DAILY, ADMIN)
    await guilds.set_allowance(GUILD, None, 0, Period.DAILY, ADMIN)
    assert (await guilds.get(GUILD)).allowances == ()
    assert await ledger.balance(GUILD, 14) == 0
    log = await database.fetch("SELECT setting, new_value, actor_id FROM guild_settings_log")
    assert [tuple(r) for r in log] == [
        ("allowance:0", "15 daily", ADMIN),
        ("allowance:0", None, ADMIN),
    ]


def test_period_boundaries_are_utc() -> None:
    late = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert next_period_start(Period.DAILY, late) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_period_start(Period.MONTHLY, late) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_period_start(Period.WEEKLY, late) == datetime(2027, 1, 4, tzinfo=UTC)


def test_applicable_ignores_roles_not_held() -> None:
    allowances = [Allowance(EVERYONE, 5, Period.DAILY), Allowance(ARTISTS, 90, Period.DAILY)]
    assert applicable(allowances, []) == allowances[0]
    assert applicable(allowances, [ARTISTS]) == allowances[1]
    assert applicable([], [ARTISTS]) is None


async def test_a_short_balance_says_when_the_allowance_refills(
    database: SqliteDatabase, guilds: ServerSettings, clock: Clock
) -> None:
    from bot.errors import InsufficientCredits
    from tests.bot.factories import new_job

    ledger = ledger_for(database, clock)
    await guilds.set_allowance(GUILD, None, 5, Period.DAILY, ADMIN)
    await ledger.reserve(new_job(member_id=20))
    with pytest.raises(InsufficientCredits) as caught:
        await ledger.reserve(new_job(member_id=20))
    # A Discord timestamp: each member reads it in their own time zone and language.
    assert "tops you up to 5 <t:1795564800:R>" in refusal(ENGLISH_ONLY, caught.value)
