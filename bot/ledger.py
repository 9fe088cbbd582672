"""Credits: balances, their append-only ledger, and the moves of money around a job.

Every change of a balance is one conditional statement plus its ledger row, inside one
`BEGIN IMMEDIATE` transaction; the balance never goes below zero (a CHECK backs this up), and
the unique (job, kind) index makes a job's reserve, charge and refund happen at most once each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import aiosqlite

from bot.allowances import Period as AllowancePeriod
from bot.allowances import applicable, month_after, next_period_start, period_key, period_start
from bot.database import Database, from_db_time, to_db_time, utc_now
from bot.errors import CapReached, InsufficientCredits
from bot.guilds import GuildSettings, read_guild_settings
from bot.jobs import JobState, NewJob, insert_job, sources_of

Clock = Callable[[], datetime]


class EntryKind(StrEnum):
    OPENING = "opening"
    GRANT = "grant"
    SET = "set"
    ALLOWANCE = "allowance"
    RESERVE = "reserve"
    CHARGE = "charge"
    REFUND = "refund"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    guild_id: int
    member_id: int
    kind: EntryKind
    delta: int
    balance_after: int
    job_id: str | None
    actor_id: int | None
    reason: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: aiosqlite.Row) -> LedgerEntry:
        return cls(
            id=row["id"], guild_id=row["guild_id"], member_id=row["member_id"],
            kind=EntryKind(row["kind"]), delta=row["delta"], balance_after=row["balance_after"],
            job_id=row["job_id"], actor_id=row["actor_id"], reason=row["reason"],
            created_at=from_db_time(row["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """The outcome of an admin change: what moved and what is left."""

    delta: int
    balance: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """A job's final money move; `applied` is False when another call had already made it."""

    applied: bool
    balance: int


@dataclass(frozen=True, slots=True)
class AllowanceStatus:
    amount: int
    period: AllowancePeriod
    next_refill: datetime


class Ledger:
    def __init__(self, database: Database, default_credits: int, *,
                 clock: Clock = utc_now) -> None:
        self._db = database
        self._fallback_default = default_credits
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every committed change of the ledger."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- reading --------------------------------------------------------------------------

    async def balance(self, guild_id: int, member_id: int, role_ids: Iterable[int] = ()) -> int:
        """The member's spendable credits, opening the account and applying any allowance due."""
        async with self._db.transaction() as tx:
            entries_before = tx.total_changes
            balance = await self._open_account(tx, guild_id, member_id, self._clock(),
                                               tuple(role_ids))
            wrote = tx.total_changes != entries_before
        if wrote:
            self._changed()
        return balance

    async def allowance_status(self, guild_id: int, role_ids: Iterable[int]
                               ) -> AllowanceStatus | None:
        async with self._db.transaction() as tx:
            settings = await read_guild_settings(tx, guild_id, self._fallback_default)
        allowance = applicable(settings.allowances, role_ids)
        if allowance is None:
            return None
        return AllowanceStatus(allowance.amount, allowance.period,
                               next_period_start(allowance.period, self._clock()))

    async def history(self, guild_id: int, member_id: int, limit: int = 10,
                      offset: int = 0) -> list[LedgerEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM ledger WHERE guild_id = ? AND member_id = ? "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            (guild_id, member_id, limit, offset),
        )
        return [LedgerEntry.from_row(row) for row in rows]

    async def history_size(self, guild_id: int, member_id: int) -> int:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) FROM ledger WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id))
        return 0 if row is None else int(row[0])

    async def month_spend(self, guild_id: int) -> int:
        """Credits this server has spent or holds reserved this calendar month (UTC)."""
        async with self._db.transaction() as tx:
            return await self._month_spend(tx, guild_id, self._clock())

    async def top_spenders(self, guild_id: int, limit: int = 5) -> list[tuple[int, int]]:
        start = to_db_time(period_start(AllowancePeriod.MONTHLY, self._clock()))
        rows = await self._db.fetch_all(
            "SELECT member_id, SUM(price) AS spent FROM jobs WHERE guild_id = ? "
            "AND created_at >= ? AND state != 'failed' GROUP BY member_id "
            "ORDER BY spent DESC, member_id LIMIT ?", (guild_id, start, limit))
        return [(int(r[0]), int(r[1])) for r in rows]

    # -- a job's money --------------------------------------------------------------------

    async def reserve(self, job: NewJob) -> int:
        """Take the job's price from the member and write the job row; returns the balance left.

        Raises `InsufficientCredits` (and writes nothing) when the balance is short.
        """
        origin = job.origin
        now = self._clock()
        async with self._db.transaction() as tx:
            settings = await read_guild_settings(tx, origin.guild_id, self._fallback_default)
            if settings.monthly_cap is not None:
                spent = await self._month_spend(tx, origin.guild_id, now)
                if spent + job.price > settings.monthly_cap:
                    raise CapReached(cap=settings.monthly_cap, spent=spent, price=job.price,
                                     resets_at=month_after(now))
            balance = await self._open_account(tx, origin.guild_id, origin.member_id, now,
                                               origin.role_ids, settings)
            cursor = await tx.execute(
                "UPDATE accounts SET balance = balance - :price "
                "WHERE guild_id = :guild AND member_id = :member AND balance >= :price "
                "RETURNING balance",
                {"price": job.price, "guild": origin.guild_id, "member": origin.member_id},
            )
            row = await cursor.fetchone()
            await cursor.close()
            if row is None:
                allowance = applicable(settings.allowances, origin.role_ids)
                refill = None if allowance is None else (
                    allowance.amount, next_period_start(allowance.period, now))
                raise InsufficientCredits(balance=balance, price=job.price, refill=refill)
            balance_after = int(row[0])
            await insert_job(tx, job, now)
            await self._append(
                tx, origin.guild_id, origin.member_id, EntryKind.RESERVE, -job.price,
                balance_after, job_id=job.id, actor_id=origin.member_id, now=now,
                reason=f"{job.spec.resolution.value} {job.spec.duration}s video",
            )
        self._changed()
        return balance_after

    async def commit_charge(self, job_id: str, video_url: str) -> Settlement:
        """Mark the job completed and turn its reservation into a charge, once."""
        now = self._clock()
        async with self._db.transaction() as tx:
            job = await self._finish_job(tx, job_id, JobState.COMPLETED, now,
                                         video_url=video_url, reason=None)
            if job is None:
                return Settlement(applied=False, balance=await self._current(tx, job_id))
            guild_id, member_id, _price = job
            balance = await self._balance_in(tx, guild_id, member_id)
            await self._append(tx, guild_id, member_id, EntryKind.CHARGE, 0, balance,
                               job_id=job_id, actor_id=None, now=now, reason="video delivered")
        self._changed()
        return Settlement(applied=True, balance=balance)

    async def refund(self, job_id: str, reason: str, *, actor_id: int | None = None,
                     only_if_waiting: bool = False) -> Settlement:
        """Mark the job failed and give its reservation back, once.

        With `only_if_waiting`, only a job still waiting in its server's queue is refunded
        (a member's Cancel): one already on its way to Apiframe is left alone.
        """
        now = self._clock()
        async with self._db.transaction() as tx:
            job = await self._finish_job(tx, job_id, JobState.FAILED, now, video_url=None,
                                         reason=reason, only_if_waiting=only_if_waiting)
            if job is None:
                return Settlement(applied=False, balance=await self._current(tx, job_id))
            guild_id, member_id, price = job
            cursor = await tx.execute(
                "UPDATE accounts SET balance = balance + ? WHERE guild_id = ? AND member_id = ? "
                "RETURNING balance",
                (price, guild_id, member_id),
            )
            row = await cursor.fetchone()
            await cursor.close()
            assert row is not None, "a reserved job always has an account"
            balance = int(row[0])
            await self._append(tx, guild_id, member_id, EntryKind.REFUND, price, balance,
                               job_id=job_id, actor_id=actor_id, now=now, reason=reason[:200])
        self._changed()
        return Settlement(applied=True, balance=balance)

    # -- admin changes --------------------------------------------------------------------

    async def set_balance(self, guild_id: int, member_id: int, amount: int,
                          actor_id: int) -> BalanceChange:
        if amount < 0:
            raise ValueError("a balance cannot be negative")
        now = self._clock()
        async with self._db.transaction() as tx:
            before = await self._open_account(tx, guild_id, member_id, now)
            await tx.execute(
                "UPDATE accounts SET balance = ? WHERE guild_id = ? AND member_id = ?",
                (amount, guild_id, member_id),
            )
            await self._append(tx, guild_id, member_id, EntryKind.SET, amount - before, amount,
                               job_id=None, actor_id=actor_id, now=now,
                               reason=f"balance set to {amount}")
        self._changed()
        return BalanceChange(delta=amount - before, balance=amount)

    async def add_credits(self, guild_id: int, member_id: int, amount: int,
                          actor_id: int) -> BalanceChange:
        """Grant (or, when negative, remove) credits; the balance stops at zero."""
        now = self._clock()
        async with self._db.transaction() as tx:
            before = await self._open_account(tx, guild_id, member_id, now)
            cursor = await tx.execute(
                "UPDATE accounts SET balance = MAX(0, balance + ?) "
                "WHERE guild_id = ? AND member_id = ? RETURNING balance",
                (amount, guild_id, member_id),
            )
            row = await cursor.fetchone()
            await cursor.close()
            assert row is not None
            balance = int(row[0])
            delta = balance - before
            await self._append(tx, guild_id, member_id, EntryKind.GRANT, delta, balance,
                               job_id=None, actor_id=actor_id, now=now,
                               reason=f"{'granted' if amount >= 0 else 'removed'} {abs(amount)}")
        self._changed()
        return BalanceChange(delta=delta, balance=balance)

    # -- internals ------------------------------------------------------------------------

    async def _open_account(self, tx: aiosqlite.Connection, guild_id: int, member_id: int,
                            now: datetime, role_ids: tuple[int, ...] = (),
                            settings: GuildSettings | None = None) -> int:
        """The member's balance: the account is opened with the server's default if new, and
        topped up to their allowance if a new allowance period has begun."""
        if settings is None:
            settings = await read_guild_settings(tx, guild_id, self._fallback_default)
        cursor = await tx.execute(
            "SELECT balance, allowance_key FROM accounts WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        if row is None:
            balance, last_key = settings.default_credits, None
            await tx.execute(
                "INSERT INTO accounts (guild_id, member_id, balance, created_at) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, member_id, balance, to_db_time(now)),
            )
            await self._append(tx, guild_id, member_id, EntryKind.OPENING, balance, balance,
                               job_id=None, actor_id=None, now=now, reason="starting balance")
        else:
            balance, last_key = int(row[0]), row[1]
        allowance = applicable(settings.allowances, role_ids)
        if allowance is None:
            return balance
        key = period_key(allowance, now)
        if key == last_key:
            return balance
        topped = max(balance, allowance.amount)
        await tx.execute(
            "UPDATE accounts SET balance = ?, allowance_key = ? WHERE guild_id = ? "
            "AND member_id = ?", (topped, key, guild_id, member_id))
        if topped != balance:
            await self._append(tx, guild_id, member_id, EntryKind.ALLOWANCE, topped - balance,
                               topped, job_id=None, actor_id=None, now=now,
                               reason=f"{allowance.period.value} allowance of {allowance.amount}")
        return topped

    async def _month_spend(self, tx: aiosqlite.Connection, guild_id: int,
                           now: datetime) -> int:
        start = to_db_time(period_start(AllowancePeriod.MONTHLY, now))
        cursor = await tx.execute(
            "SELECT COALESCE(SUM(price), 0) FROM jobs WHERE guild_id = ? AND created_at >= ? "
            "AND state != 'failed'", (guild_id, start))
        row = await cursor.fetchone()
        await cursor.close()
        return 0 if row is None else int(row[0])

    async def _balance_in(self, tx: aiosqlite.Connection, guild_id: int, member_id: int) -> int:
        cursor = await tx.execute(
            "SELECT balance FROM accounts WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        return 0 if row is None else int(row[0])

    async def _current(self, tx: aiosqlite.Connection, job_id: str) -> int:
        cursor = await tx.execute(
            "SELECT a.balance FROM jobs j JOIN accounts a "
            "ON a.guild_id = j.guild_id AND a.member_id = j.member_id WHERE j.id = ?",
            (job_id,),
        )
        row = await cursor.fetchone()
        await cursor.close()
        return 0 if row is None else int(row[0])

    async def _finish_job(self, tx: aiosqlite.Connection, job_id: str, target: JobState,
                          now: datetime, *, video_url: str | None, reason: str | None,
                          only_if_waiting: bool = False) -> tuple[int, int, int] | None:
        """Move the job to its final state if it may still move; None if it already had."""
        allowed = (JobState.RESERVED,) if only_if_waiting else sources_of(target)
        placeholders = ", ".join("?" for _ in allowed)
        waiting = " AND admitted_at IS NULL" if only_if_waiting else ""
        stamp = to_db_time(now)
        cursor = await tx.execute(
            f"UPDATE jobs SET state = ?, video_url = COALESCE(?, video_url), "  # noqa: S608
            f"failure_reason = COALESCE(?, failure_reason), finished_at = ?, updated_at = ? "
            f"WHERE id = ? AND state IN ({placeholders}){waiting} "
            f"RETURNING guild_id, member_id, price",
            (target.value, video_url, reason, stamp, stamp, job_id,
             *(state.value for state in allowed)),
        )
        row = await cursor.fetchone()
        await cursor.close()
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    async def _append(self, tx: aiosqlite.Connection, guild_id: int, member_id: int,
                      kind: EntryKind, delta: int, balance_after: int, *, job_id: str | None,
                      actor_id: int | None, now: datetime, reason: str) -> None:
        await tx.execute(
            "INSERT INTO ledger (guild_id, member_id, kind, delta, balance_after, job_id, "
            "actor_id, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (guild_id, member_id, kind.value, delta, balance_after, job_id, actor_id, reason,
             to_db_time(now)),
        )
