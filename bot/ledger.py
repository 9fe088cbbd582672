"""Credits: balances, their append-only ledger, and the moves of money around a job.

Every money move is one transaction run by the database's writer: a conditional statement on the
balance plus its ledger row, whole or not at all. The balance never goes below zero (a CHECK backs
this up), and a unique (job, kind) index makes a job's reserve, charge and refund happen at most
once each. The transaction bodies are plain functions of a `sqlite3.Connection` (`_reserve`,
`_settle`, ...) so that they cannot await anything while they hold the write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.allowances import Period as AllowancePeriod
from bot.allowances import applicable, month_after, next_period_start, period_key, period_start
from bot.database import Database, from_db_time, to_db_time, utc_now
from bot.errors import CapReached, InsufficientCredits, RepeatedRequest
from bot.guilds import GuildSettings, read_guild_settings
from bot.jobs import JobState, NewJob, insert_job, sources_of
from bot.metrics import Metrics

Clock = Callable[[], datetime]
# Within this time, a second job from the same result and button is a double click.
REPEAT_WINDOW = timedelta(seconds=30)
Row = sqlite3.Row


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
    def from_row(cls, row: Row) -> LedgerEntry:
        return cls(
            id=row["id"],
            guild_id=row["guild_id"],
            member_id=row["member_id"],
            kind=EntryKind(row["kind"]),
            delta=row["delta"],
            balance_after=row["balance_after"],
            job_id=row["job_id"],
            actor_id=row["actor_id"],
            reason=row["reason"],
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
    price: int = 0


@dataclass(frozen=True, slots=True)
class AllowanceStatus:
    amount: int
    period: AllowancePeriod
    next_refill: datetime


class Ledger:
    def __init__(
        self,
        database: Database,
        default_credits: int,
        *,
        clock: Clock = utc_now,
        metrics: Metrics | None = None,
        simulated: bool = False,
    ) -> None:
        self._db = database
        self._fallback_default = default_credits
        self._clock = clock
        self._metrics = metrics
        # With Apiframe simulated, every job's ledger rows say so.
        self._mark = " (simulated)" if simulated else ""
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
        balance, wrote = await self._db.write(
            self._balance, guild_id, member_id, tuple(role_ids), self._clock()
        )
        if wrote:
            self._changed()
        return balance

    async def stored_balance(self, guild_id: int, member_id: int) -> int | None:
        """The balance as stored, opening nothing and applying no allowance; None for a member
        without an account yet. For reads that must not write, like the owner's shell."""
        row = await self._db.fetch_one(
            "SELECT balance FROM accounts WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        return None if row is None else int(row[0])

    async def allowance_status(
        self, guild_id: int, role_ids: Iterable[int]
    ) -> AllowanceStatus | None:
        settings = await self._db.read(read_guild_settings, guild_id, self._fallback_default)
        allowance = applicable(settings.allowances, role_ids)
        if allowance is None:
            return None
        return AllowanceStatus(
            allowance.amount, allowance.period, next_period_start(allowance.period, self._clock())
        )

    async def history(
        self, guild_id: int, member_id: int, limit: int = 10, offset: int = 0
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

    async def month_spend(self, guild_id: int) -> int:
        """Credits this server has spent or holds reserved this calendar month (UTC)."""
        return await self._db.read(_month_spend, guild_id, self._clock())

    async def top_spenders(self, guild_id: int, limit: int = 5) -> list[tuple[int, int]]:
        start = to_db_time(period_start(AllowancePeriod.MONTHLY, self._clock()))
        rows = await self._db.fetch_all(
            "SELECT member_id, SUM(price) AS spent FROM jobs WHERE guild_id = ? "
            "AND created_at >= ? AND state != ? GROUP BY member_id "
            "ORDER BY spent DESC, member_id LIMIT ?",
            (guild_id, start, JobState.FAILED.value, limit),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    # -- a job's money --------------------------------------------------------------------

    async def reserve(self, job: NewJob) -> int:
        """Take the job's price from the member and write the job row; returns the balance left.

        Raises `CapReached` or `InsufficientCredits` (and writes nothing) when it may not go on.
        """
        balance_after = await self._db.write(self._reserve, job, self._clock())
        self._changed()
        self._count("reserved", job.price)
        return balance_after

    async def commit_charge(self, job_id: str, video_url: str) -> Settlement:
        """Mark the job completed and turn its reservation into a charge, once."""
        settlement = await self._db.write(
            _settle,
            job_id,
            JobState.COMPLETED,
            self._clock(),
            video_url,
            None,
            None,
            False,
            self._mark,
        )
        if settlement.applied:
            self._changed()
            self._count("charged", settlement.price)
        return settlement

    async def refund(
        self,
        job_id: str,
        reason: str,
        *,
        actor_id: int | None = None,
        only_if_waiting: bool = False,
    ) -> Settlement:
        """Mark the job failed and give its reservation back, once.

        With `only_if_waiting`, only a job still waiting in its server's queue is refunded
        (a member's Cancel): one already on its way to Apiframe is left alone.
        """
        settlement = await self._db.write(
            _settle,
            job_id,
            JobState.FAILED,
            self._clock(),
            None,
            reason,
            actor_id,
            only_if_waiting,
            self._mark,
        )
        if settlement.applied:
            self._changed()
            self._count("refunded", settlement.price)
        return settlement

    def _count(self, movement: str, amount: int) -> None:
        if self._metrics is not None:
            self._metrics.credits.labels(movement).inc(amount)

    # -- admin changes --------------------------------------------------------------------

    async def set_balance(
        self, guild_id: int, member_id: int, amount: int, actor_id: int
    ) -> BalanceChange:
        if amount < 0:
            raise ValueError("a balance cannot be negative")
        change = await self._db.write(
            self._set_balance, guild_id, member_id, amount, actor_id, self._clock()
        )
        self._changed()
        return change

    async def add_credits(
        self, guild_id: int, member_id: int, amount: int, actor_id: int
    ) -> BalanceChange:
        """Grant (or, when negative, remove) credits; the balance stops at zero."""
        change = await self._db.write(
            self._add_credits, guild_id, member_id, amount, actor_id, self._clock()
        )
        self._changed()
        return change

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

    def _reserve(self, tx: sqlite3.Connection, job: NewJob, now: datetime) -> int:
        origin = job.origin
        settings = read_guild_settings(tx, origin.guild_id, self._fallback_default)
        if settings.monthly_cap is not None:
            spent = _month_spend(tx, origin.guild_id, now)
            if spent + job.price > settings.monthly_cap:
                raise CapReached(
                    cap=settings.monthly_cap,
                    spent=spent,
                    price=job.price,
                    resets_at=month_after(now),
                )
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
            allowance = applicable(settings.allowances, origin.role_ids)
            refill = (
                None
                if allowance is None
                else (allowance.amount, next_period_start(allowance.period, now))
            )
            raise InsufficientCredits(balance=balance, price=job.price, refill=refill)
        balance_after = int(row[0])
        insert_job(tx, job, now)
        _append(
            tx,
            origin.guild_id,
            origin.member_id,
            EntryKind.RESERVE,
            -job.price,
            balance_after,
            job_id=job.id,
            actor_id=origin.member_id,
            now=now,
            reason=f"{job.spec.resolution.value} {job.spec.duration}s video{self._mark}",
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
        _append(
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
        _append(
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
            _append(
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
        allowance = applicable(settings.allowances, role_ids)
        if allowance is None:
            return balance
        key = period_key(allowance, now)
        if key == last_key:
            return balance
        topped = max(balance, allowance.amount)
        tx.execute(
            "UPDATE accounts SET balance = ?, allowance_key = ? WHERE guild_id = ? "
            "AND member_id = ?",
            (topped, key, guild_id, member_id),
        )
        if topped != balance:
            _append(
                tx,
                guild_id,
                member_id,
                EntryKind.ALLOWANCE,
                topped - balance,
                topped,
                job_id=None,
                actor_id=None,
                now=now,
                reason=f"{allowance.period.value} allowance of {allowance.amount}",
            )
        return topped


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


def _month_spend(tx: sqlite3.Connection, guild_id: int, now: datetime) -> int:
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


def _settle(
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
        _append(
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
        _append(
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


def _append(
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
