"""The ledger on SQLite: the embedded default.

Every money move is one transaction run by the database's single writer thread, so moves never
interleave: a conditional statement on the balance plus its ledger row, whole or not at all. The
schema backs the code up: a CHECK keeps balances at zero or above, a unique (job, kind) index
makes a job's reserve, charge and refund happen at most once each, and triggers keep the ledger
append-only. The transaction bodies are plain functions of a `sqlite3.Connection`, so that they
cannot await anything while they hold the write lock.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.allowances import Period as AllowancePeriod
from bot.allowances import period_start
from bot.database import Database, to_db_time
from bot.errors import RepeatedRequest
from bot.guilds import GuildSettings, read_guild_settings
from bot.integrity import verify
from bot.jobs import JobState, NewJob, insert_job, sources_of
from bot.money import (
    REPEAT_WINDOW,
    BalanceChange,
    EntryKind,
    LedgerEntry,
    Settlement,
    cap_crossed,
    reserve_reason,
    too_poor,
    top_up,
)


class SqliteLedgerStore:
    def __init__(self, database: Database, default_credits: int) -> None:
        self._db = database
        self._fallback_default = default_credits

    # -- reads ----------------------------------------------------------------------------

    async def stored_balance(self, guild_id: int, member_id: int) -> int | None:
        row = await self._db.fetch_one(
            "SELECT balance FROM accounts WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        return None if row is None else int(row[0])

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        return await self._db.read(read_guild_settings, guild_id, self._fallback_default)

    async def history(
        self, guild_id: int, member_id: int, limit: int, offset: int
    ) -> list[LedgerEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM ledger WHERE guild_id = ? AND member_id = ? "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            (guild_id, member_id, limit, offset),
        )
        return [LedgerEntry.from_row(row) for row in rows]

    async def history_size(self, guild_id: int, member_id: int) -> int:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) FROM ledger WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        return 0 if row is None else int(row[0])

    async def month_spend(self, guild_id: int, now: datetime) -> int:
        return await self._db.read(month_spend, guild_id, now)

    async def top_spenders(self, guild_id: int, now: datetime, limit: int) -> list[tuple[int, int]]:
        start = to_db_time(period_start(AllowancePeriod.MONTHLY, now))
        rows = await self._db.fetch_all(
            "SELECT member_id, SUM(price) AS spent FROM jobs WHERE guild_id = ? "
            "AND created_at >= ? AND state != ? GROUP BY member_id "
            "ORDER BY spent DESC, member_id LIMIT ?",
            (guild_id, start, JobState.FAILED.value, limit),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def entries_after(self, cursor: int, limit: int) -> list[LedgerEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM ledger WHERE id > ? ORDER BY id LIMIT ?", (cursor, limit)
        )
        return [LedgerEntry.from_row(row) for row in rows]

    async def export_rows(self, guild_id: int) -> list[tuple[object, ...]]:
        rows = await self._db.fetch_all(
            "SELECT created_at, member_id, delta, balance_after, kind, reason, job_id, actor_id "
            "FROM ledger WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        return [tuple(row) for row in rows]

    async def disagreements(self) -> list[str]:
        return await verify(self._db)

    # -- writes ---------------------------------------------------------------------------

    async def balance(
        self, guild_id: int, member_id: int, role_ids: tuple[int, ...], now: datetime
    ) -> tuple[int, bool]:
        return await self._db.write(self._balance, guild_id, member_id, role_ids, now)

    async def reserve(self, job: NewJob, now: datetime, mark: str) -> int:
        return await self._db.write(self._reserve, job, now, mark)

    async def settle(
        self,
        job_id: str,
        target: JobState,
        now: datetime,
        *,
        video_url: str | None,
        reason: str | None,
        actor_id: int | None,
        only_if_waiting: bool,
        mark: str,
    ) -> Settlement:
        return await self._db.write(
            settle, job_id, target, now, video_url, reason, actor_id, only_if_waiting, mark
        )

    async def set_balance(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, now: datetime
    ) -> BalanceChange:
        return await self._db.write(self._set_balance, guild_id, member_id, amount, actor_id, now)

    async def add_credits(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, now: datetime
    ) -> BalanceChange:
        return await self._db.write(self._add_credits, guild_id, member_id, amount, actor_id, now)

    # -- transaction bodies (run on the writer thread) ---------------------------------------

    def _balance(
        self,
        tx: sqlite3.Connection,
        guild_id: int,
        member_id: int,
        role_ids: tuple[int, ...],
        now: datetime,
    ) -> tuple[int, bool]:
        before = tx.total_changes
        balance = self._open_account(tx, guild_id, member_id, now, role_ids)
        return balance, tx.total_changes != before

    def _reserve(self, tx: sqlite3.Connection, job: NewJob, now: datetime, mark: str) -> int:
        origin = job.origin
        settings = read_guild_settings(tx, origin.guild_id, self._fallback_default)
        if settings.monthly_cap is not None:
            crossed = cap_crossed(
                settings.monthly_cap, month_spend(tx, origin.guild_id, now), job.price, now
            )
            if crossed is not None:
                raise crossed
        if job.source is not None:
            _refuse_repeated_click(tx, job, now)
        balance = self._open_account(
            tx, origin.guild_id, origin.member_id, now, origin.role_ids, settings
        )
        row = tx.execute(
            "UPDATE accounts SET balance = balance - :price "
            "WHERE guild_id = :guild AND member_id = :member AND balance >= :price "
            "RETURNING balance",
            {"price": job.price, "guild": origin.guild_id, "member": origin.member_id},
        ).fetchone()
        if row is None:
            raise too_poor(settings.allowances, origin.role_ids, balance, job.price, now)
        balance_after = int(row[0])
        insert_job(tx, job, now)
        append(
            tx,
            origin.guild_id,
            origin.member_id,
            EntryKind.RESERVE,
            -job.price,
            balance_after,
            job_id=job.id,
            actor_id=origin.member_id,
            now=now,
            reason=reserve_reason(job.spec.resolution.value, job.spec.duration, mark),
        )
        return balance_after

    def _set_balance(
        self,
        tx: sqlite3.Connection,
        guild_id: int,
        member_id: int,
        amount: int,
        actor_id: int,
        now: datetime,
    ) -> BalanceChange:
        before = self._open_account(tx, guild_id, member_id, now)
        tx.execute(
            "UPDATE accounts SET balance = ? WHERE guild_id = ? AND member_id = ?",
            (amount, guild_id, member_id),
        )
        append(
            tx,
            guild_id,
            member_id,
            EntryKind.SET,
            amount - before,
            amount,
            job_id=None,
            actor_id=actor_id,
            now=now,
            reason=f"balance set to {amount}",
        )
        return BalanceChange(delta=amount - before, balance=amount)

    def _add_credits(
        self,
        tx: sqlite3.Connection,
        guild_id: int,
        member_id: int,
        amount: int,
        actor_id: int,
        now: datetime,
    ) -> BalanceChange:
        before = self._open_account(tx, guild_id, member_id, now)
        balance = int(
            tx.execute(
                "UPDATE accounts SET balance = MAX(0, balance + ?) "
                "WHERE guild_id = ? AND member_id = ? RETURNING balance",
                (amount, guild_id, member_id),
            ).fetchone()[0]
        )
        append(
            tx,
            guild_id,
            member_id,
            EntryKind.GRANT,
            balance - before,
            balance,
            job_id=None,
            actor_id=actor_id,
            now=now,
            reason=f"{'granted' if amount >= 0 else 'removed'} {abs(amount)}",
        )
        return BalanceChange(delta=balance - before, balance=balance)

    def _open_account(
        self,
        tx: sqlite3.Connection,
        guild_id: int,
        member_id: int,
        now: datetime,
        role_ids: tuple[int, ...] = (),
        settings: GuildSettings | None = None,
    ) -> int:
        """The member's balance: the account is opened with the server's default if new, and
        topped up to their allowance if a new allowance period has begun."""
        if settings is None:
            settings = read_guild_settings(tx, guild_id, self._fallback_default)
        row = tx.execute(
            "SELECT balance, allowance_key FROM accounts WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        ).fetchone()
        if row is None:
            balance, last_key = settings.default_credits, None
            tx.execute(
                "INSERT INTO accounts (guild_id, member_id, balance, created_at) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, member_id, balance, to_db_time(now)),
            )
            append(
                tx,
                guild_id,
                member_id,
                EntryKind.OPENING,
                balance,
                balance,
                job_id=None,
                actor_id=None,
                now=now,
                reason="starting balance",
            )
        else:
            balance, last_key = int(row[0]), row[1]
        due = top_up(settings.allowances, role_ids, balance, last_key, now)
        if due is None:
            return balance
        tx.execute(
            "UPDATE accounts SET balance = ?, allowance_key = ? WHERE guild_id = ? "
            "AND member_id = ?",
            (due.balance, due.key, guild_id, member_id),
        )
        if due.balance != balance:
            append(
                tx,
                guild_id,
                member_id,
                EntryKind.ALLOWANCE,
                due.balance - balance,
                due.balance,
                job_id=None,
                actor_id=None,
                now=now,
                reason=due.reason,
            )
        return due.balance


def _refuse_repeated_click(tx: sqlite3.Connection, job: NewJob, now: datetime) -> None:
    """A double click on a result's button must not make two jobs: refuse a second job from
    the same source, by the same member, for the same action, within a few seconds."""
    assert job.source is not None
    since = to_db_time(now - REPEAT_WINDOW)
    row = tx.execute(
        "SELECT id FROM jobs WHERE source_job_id = ? AND source_action = ? AND member_id = ? "
        "AND created_at >= ? LIMIT 1",
        (job.source.job_id, job.source.action.value, job.origin.member_id, since),
    ).fetchone()
    if row is not None:
        raise RepeatedRequest(existing_job_id=str(row[0]))


def month_spend(tx: sqlite3.Connection, guild_id: int, now: datetime) -> int:
    """Credits the server spent or holds reserved this calendar month (UTC)."""
    start = to_db_time(period_start(AllowancePeriod.MONTHLY, now))
    row = tx.execute(
        "SELECT COALESCE(SUM(price), 0) FROM jobs WHERE guild_id = ? AND created_at >= ? "
        "AND state != ?",
        (guild_id, start, JobState.FAILED.value),
    ).fetchone()
    return 0 if row is None else int(row[0])


def _balance_of(tx: sqlite3.Connection, guild_id: int, member_id: int) -> int:
    row = tx.execute(
        "SELECT balance FROM accounts WHERE guild_id = ? AND member_id = ?", (guild_id, member_id)
    ).fetchone()
    return 0 if row is None else int(row[0])


def settle(
    tx: sqlite3.Connection,
    job_id: str,
    target: JobState,
    now: datetime,
    video_url: str | None,
    reason: str | None,
    actor_id: int | None,
    only_if_waiting: bool,
    mark: str = "",
) -> Settlement:
    """Move the job to its final state, if it may still move, with its money move."""
    allowed = (JobState.RESERVED,) if only_if_waiting else sources_of(target)
    placeholders = ", ".join("?" for _ in allowed)
    waiting = " AND admitted_at IS NULL" if only_if_waiting else ""
    stamp = to_db_time(now)
    row = tx.execute(
        f"UPDATE jobs SET state = ?, video_url = COALESCE(?, video_url), "  # noqa: S608
        f"failure_reason = COALESCE(?, failure_reason), finished_at = ?, updated_at = ? "
        f"WHERE id = ? AND state IN ({placeholders}){waiting} "
        f"RETURNING guild_id, member_id, price",
        (
            target.value,
            video_url,
            reason,
            stamp,
            stamp,
            job_id,
            *(state.value for state in allowed),
        ),
    ).fetchone()
    if row is None:
        owner = tx.execute(
            "SELECT guild_id, member_id FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        balance = 0 if owner is None else _balance_of(tx, int(owner[0]), int(owner[1]))
        return Settlement(applied=False, balance=balance)
    guild_id, member_id, price = int(row[0]), int(row[1]), int(row[2])
    if target is JobState.COMPLETED:
        balance = _balance_of(tx, guild_id, member_id)
        append(
            tx,
            guild_id,
            member_id,
            EntryKind.CHARGE,
            0,
            balance,
            job_id=job_id,
            actor_id=None,
            now=now,
            reason=f"video delivered{mark}",
        )
    else:
        balance = int(
            tx.execute(
                "UPDATE accounts SET balance = balance + ? WHERE guild_id = ? AND member_id = ? "
                "RETURNING balance",
                (price, guild_id, member_id),
            ).fetchone()[0]
        )
        append(
            tx,
            guild_id,
            member_id,
            EntryKind.REFUND,
            price,
            balance,
            job_id=job_id,
            actor_id=actor_id,
            now=now,
            reason=(reason or "refunded")[:200] + mark,
        )
    return Settlement(applied=True, balance=balance, price=price)


def append(
    tx: sqlite3.Connection,
    guild_id: int,
    member_id: int,
    kind: EntryKind,
    delta: int,
    balance_after: int,
    *,
    job_id: str | None,
    actor_id: int | None,
    now: datetime,
    reason: str,
) -> None:
    tx.execute(
        "INSERT INTO ledger (guild_id, member_id, kind, delta, balance_after, job_id, "
        "actor_id, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            member_id,
            kind.value,
            delta,
            balance_after,
            job_id,
            actor_id,
            reason,
            to_db_time(now),
        ),
    )
