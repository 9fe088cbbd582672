"""Credits: balances, their append-only ledger, and the moves of money around a job.

Every change of a balance is one conditional statement plus its ledger row, inside one
`BEGIN IMMEDIATE` transaction; the balance never goes below zero (a CHECK backs this up), and
the unique (job, kind) index makes a job's reserve, charge and refund happen at most once each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import aiosqlite

from bot.database import Database, from_db_time, to_db_time, utc_now
from bot.errors import InsufficientCredits
from bot.jobs import JobState, NewJob, insert_job, sources_of


class EntryKind(StrEnum):
    OPENING = "opening"
    GRANT = "grant"
    SET = "set"
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
    """A job's final money move, or None fields when another call had already made it."""

    applied: bool
    balance: int


class Ledger:
    def __init__(self, database: Database, default_credits: int) -> None:
        self._db = database
        self._fallback_default = default_credits

    # -- reading --------------------------------------------------------------------------

    async def balance(self, guild_id: int, member_id: int) -> int:
        """The member's spendable credits, opening their account on first sight."""
        async with self._db.transaction() as tx:
            return await self._open_account(tx, guild_id, member_id, utc_now())

    async def default_credits(self, guild_id: int) -> int:
        row = await self._db.fetch_one(
            "SELECT default_credits FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        if row is None or row["default_credits"] is None:
            return self._fallback_default
        return int(row["default_credits"])

    async def history(self, guild_id: int, member_id: int, limit: int = 10,
                      before_id: int | None = None) -> list[LedgerEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM ledger WHERE guild_id = ? AND member_id = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (guild_id, member_id, before_id if before_id is not None else 2**62, limit),
        )
        return [LedgerEntry.from_row(row) for row in rows]

    # -- a job's money --------------------------------------------------------------------

    async def reserve(self, job: NewJob) -> int:
        """Take the job's price from the member and write the job row; returns the balance left.

        Raises `InsufficientCredits` (and writes nothing) when the balance is short.
        """
        origin = job.origin
        now = utc_now()
        async with self._db.transaction() as tx:
            balance = await self._open_account(tx, origin.guild_id, origin.member_id, now)
            cursor = await tx.execute(
                "UPDATE accounts SET balance = balance - :price "
                "WHERE guild_id = :guild AND member_id = :member AND balance >= :price "
                "RETURNING balance",
                {"price": job.price, "guild": origin.guild_id, "member": origin.member_id},
            )
            row = await cursor.fetchone()
            await cursor.close()
            if row is None:
                raise InsufficientCredits(balance=balance, price=job.price)
            balance_after = int(row[0])
            await insert_job(tx, job, now)
            await self._append(
                tx, origin.guild_id, origin.member_id, EntryKind.RESERVE, -job.price,
                balance_after, job_id=job.id, actor_id=origin.member_id, now=now,
                reason=f"{job.spec.resolution.value} {job.spec.duration}s video",
            )
            return balance_after

    async def commit_charge(self, job_id: str, video_url: str) -> Settlement:
        """Mark the job completed and turn its reservation into a charge, once."""
        now = utc_now()
        async with self._db.transaction() as tx:
            job = await self._finish_job(tx, job_id, JobState.COMPLETED, now,
                                         video_url=video_url, reason=None)
            if job is None:
                return Settlement(applied=False, balance=await self._current(tx, job_id))
            guild_id, member_id, _price = job
            balance = await self._balance_in(tx, guild_id, member_id)
            await self._append(tx, guild_id, member_id, EntryKind.CHARGE, 0, balance,
                               job_id=job_id, actor_id=None, now=now, reason="video delivered")
            return Settlement(applied=True, balance=balance)

    async def refund(self, job_id: str, reason: str) -> Settlement:
        """Mark the job failed and give its reservation back, once."""
        now = utc_now()
        async with self._db.transaction() as tx:
            job = await self._finish_job(tx, job_id, JobState.FAILED, now,
                                         video_url=None, reason=reason)
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
                               job_id=job_id, actor_id=None, now=now, reason=reason[:200])
            return Settlement(applied=True, balance=balance)

    # -- admin changes --------------------------------------------------------------------

    async def set_balance(self, guild_id: int, member_id: int, amount: int,
                          actor_id: int) -> BalanceChange:
        if amount < 0:
            raise ValueError("a balance cannot be negative")
        now = utc_now()
        async with self._db.transaction() as tx:
            before = await self._open_account(tx, guild_id, member_id, now)
            await tx.execute(
                "UPDATE accounts SET balance = ? WHERE guild_id = ? AND member_id = ?",
                (amount, guild_id, member_id),
            )
            await self._append(tx, guild_id, member_id, EntryKind.SET, amount - before, amount,
                               job_id=None, actor_id=actor_id, now=now,
                               reason=f"balance set to {amount}")
            return BalanceChange(delta=amount - before, balance=amount)

    async def add_credits(self, guild_id: int, member_id: int, amount: int,
                          actor_id: int) -> BalanceChange:
        """Grant (or, when negative, remove) credits; the balance stops at zero."""
        now = utc_now()
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
            return BalanceChange(delta=delta, balance=balance)

    async def set_default_credits(self, guild_id: int, amount: int, actor_id: int) -> None:
        if amount < 0:
            raise ValueError("a default balance cannot be negative")
        now = to_db_time(utc_now())
        async with self._db.transaction() as tx:
            cursor = await tx.execute(
                "SELECT default_credits FROM guild_settings WHERE guild_id = ?", (guild_id,)
            )
            row = await cursor.fetchone()
            await cursor.close()
            old = None if row is None else row[0]
            await tx.execute(
                "INSERT INTO guild_settings (guild_id, default_credits, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
                "default_credits = excluded.default_credits, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                (guild_id, amount, now, actor_id),
            )
            await tx.execute(
                "INSERT INTO guild_settings_log "
                "(guild_id, setting, old_value, new_value, actor_id, created_at) "
                "VALUES (?, 'default_credits', ?, ?, ?, ?)",
                (guild_id, None if old is None else str(old), str(amount), actor_id, now),
            )

    # -- internals ------------------------------------------------------------------------

    async def _open_account(self, tx: aiosqlite.Connection, guild_id: int, member_id: int,
                            now: datetime) -> int:
        """The member's balance, creating the account with the server's default if new."""
        cursor = await tx.execute(
            "SELECT balance FROM accounts WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        if row is not None:
            return int(row[0])
        cursor = await tx.execute(
            "SELECT default_credits FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        settings = await cursor.fetchone()
        await cursor.close()
        opening = (
            self._fallback_default
            if settings is None or settings[0] is None
            else int(settings[0])
        )
        await tx.execute(
            "INSERT INTO accounts (guild_id, member_id, balance, created_at) VALUES (?, ?, ?, ?)",
            (guild_id, member_id, opening, to_db_time(now)),
        )
        await self._append(tx, guild_id, member_id, EntryKind.OPENING, opening, opening,
                           job_id=None, actor_id=None, now=now, reason="starting balance")
        return opening

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
                          now: datetime, *, video_url: str | None,
                          reason: str | None) -> tuple[int, int, int] | None:
        """Move the job to its final state if it may still move; None if it already had."""
        allowed = sources_of(target)
        placeholders = ", ".join("?" for _ in allowed)
        stamp = to_db_time(now)
        cursor = await tx.execute(
            f"UPDATE jobs SET state = ?, video_url = COALESCE(?, video_url), "  # noqa: S608
            f"failure_reason = COALESCE(?, failure_reason), finished_at = ?, updated_at = ? "
            f"WHERE id = ? AND state IN ({placeholders}) "
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
