"""Credits: balances, their append-only ledger, and the moves of money around a job.

The `Ledger` is what the rest of the bot talks to: it stamps each move with the time, counts it
in the metrics and tells listeners (the audit trail) about it. Each move is one transaction in
the `LedgerStore` (kept by `bot/store/ledger.py`, on SQLite or PostgreSQL), which keeps the same
promises on either engine, in its schema as well as its code: a balance never below zero, a job
reserved, charged and refunded at most once each, a server's monthly cap never crossed, and an
allowance topped up once per period.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.clock import utc_now
from bot.errors import MonthlyLimitReached
from bot.jobs.records import JobState, NewJob
from bot.metrics import Metrics
from bot.money.allowances import Period as AllowancePeriod
from bot.money.allowances import applicable, next_period_start
from bot.money.economy import OwnerPolicy
from bot.money.rules import (
    REPEAT_WINDOW,
    BalanceChange,
    EntryKind,
    LedgerEntry,
    Reservation,
    Settlement,
    too_poor,
)
from bot.money.servers import GuildSettings

__all__ = [
    "REPEAT_WINDOW",
    "AllowanceStatus",
    "BalanceChange",
    "EntryKind",
    "Ledger",
    "LedgerEntry",
    "LedgerStore",
    "Settlement",
]

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class AllowanceStatus:
    amount: int
    period: AllowancePeriod
    next_refill: datetime


class LedgerStore(Protocol):
    """The money moves and reads of the ledger, each one transaction."""

    async def balance(
        self, guild_id: int, member_id: int, role_ids: tuple[int, ...], now: datetime
    ) -> tuple[int, bool]:
        """The spendable balance (opening the account, applying an allowance due), and
        whether anything was written."""
        ...

    async def stored_balance(self, guild_id: int, member_id: int) -> int | None: ...

    async def guild_settings(self, guild_id: int) -> GuildSettings: ...

    async def history(
        self, guild_id: int, member_id: int, limit: int, offset: int
    ) -> list[LedgerEntry]: ...

    async def history_size(self, guild_id: int, member_id: int) -> int: ...

    async def month_spend(self, guild_id: int, now: datetime) -> int: ...
    async def credits_set_up(self, guild_id: int) -> bool:
        """Whether the server's admins have handed out credits in any way yet."""
        ...

    async def top_spenders(
        self, guild_id: int, now: datetime, limit: int
    ) -> list[tuple[int, int]]: ...

    async def reserve(
        self, jobs: Sequence[NewJob], now: datetime, mark: str, policy: OwnerPolicy
    ) -> Reservation:
        """Take the price and record the jobs (one, or a story's scenes: all or none, paid
        from one place); raises `ServerWaiting`, `CapReached`, `BudgetReached`,
        `InsufficientCredits`, `RepeatedRequest` or `MonthlyLimitReached` having written
        nothing."""
        ...

    async def month_bounds(
        self, guild_id: int, price: int, now: datetime, policy: OwnerPolicy
    ) -> None:
        """Raise what `reserve` would for the server's approval and its month (the owner's
        budget, the admins' cap) and for the whole bot's limit, without reserving anything."""
        ...

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
        apiframe_cost: int | None = None,
    ) -> Settlement:
        """Move the job to COMPLETED (charge) or FAILED (refund), once, noting what Apiframe
        billed for it when it said."""
        ...

    async def set_balance(
        self,
        guild_id: int,
        member_id: int,
        amount: int,
        actor_id: int,
        now: datetime,
        note: str = "",
    ) -> BalanceChange: ...

    async def add_credits(
        self,
        guild_id: int,
        member_id: int,
        amount: int,
        actor_id: int,
        now: datetime,
        note: str = "",
    ) -> BalanceChange: ...

    async def entries_after(self, cursor: int, limit: int) -> list[LedgerEntry]:
        """Ledger rows of every server after the row `cursor`, oldest first (the audit trail)."""
        ...

    async def export_page(
        self, guild_id: int, after_id: int, limit: int
    ) -> list[tuple[int, tuple[object, ...]]]:
        """Up to `limit` rows of the server's ledger after row `after_id`, oldest first, each
        (its id, its CSV fields: time (ISO 8601, UTC), member, change, balance after, kind,
        reason, job, actor)."""
        ...

    async def disagreements(self) -> list[str]:
        """Every way balances, ledger rows and jobs disagree (`db verify`); empty when sound."""
        ...


# Told all servers' spend this month before and after a reservation (or, refused at the limit,
# the limit itself as after): how the owner hears of the whole bot's month.
MonthWatch = Callable[[int, int], Awaitable[None]]


class Ledger:
    def __init__(
        self,
        store: LedgerStore,
        *,
        clock: Clock = utc_now,
        metrics: Metrics | None = None,
        simulated: bool = False,
        policy: OwnerPolicy | None = None,
    ) -> None:
        self._store = store
        # What the bot's owner allows (none given: no bounds beyond the servers' own).
        self.policy = policy if policy is not None else OwnerPolicy(default_budget=None)
        self._month_watch: MonthWatch | None = None
        self._clock = clock
        self._metrics = metrics
        # With Apiframe simulated, every job's ledger rows say so.
        self._mark = " (simulated)" if simulated else ""
        self._listeners: list[Callable[[], None]] = []

    @property
    def store(self) -> LedgerStore:
        return self._store

    def watch_month(self, watch: MonthWatch) -> None:
        """Call `watch` with all servers' spend this month, before and after, when a
        reservation moves it (for the owner's alerts at the limit's shares)."""
        self._month_watch = watch

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every committed change of the ledger."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- reading --------------------------------------------------------------------------

    async def balance(self, guild_id: int, member_id: int, role_ids: Iterable[int] = ()) -> int:
        """The member's spendable credits, opening the account and applying any allowance due."""
        balance, wrote = await self._store.balance(
            guild_id, member_id, tuple(role_ids), self._clock()
        )
        if wrote:
            self._changed()
        return balance

    async def stored_balance(self, guild_id: int, member_id: int) -> int | None:
        """The balance as stored, opening nothing and applying no allowance; None for a member
        without an account yet. For reads that must not write, like the owner's shell."""
        return await self._store.stored_balance(guild_id, member_id)

    async def allowance_status(
        self, guild_id: int, role_ids: Iterable[int]
    ) -> AllowanceStatus | None:
        settings = await self._store.guild_settings(guild_id)
        allowance = applicable(settings.allowances, role_ids)
        if allowance is None:
            return None
        return AllowanceStatus(
            allowance.amount, allowance.period, next_period_start(allowance.period, self._clock())
        )

    async def history(
        self, guild_id: int, member_id: int, limit: int = 10, offset: int = 0
    ) -> list[LedgerEntry]:
        return await self._store.history(guild_id, member_id, limit, offset)

    async def history_size(self, guild_id: int, member_id: int) -> int:
        return await self._store.history_size(guild_id, member_id)

    async def month_spend(self, guild_id: int) -> int:
        """Credits this server has spent or holds reserved this calendar month (UTC)."""
        return await self._store.month_spend(guild_id, self._clock())

    async def top_spenders(self, guild_id: int, limit: int = 5) -> list[tuple[int, int]]:
        return await self._store.top_spenders(guild_id, self._clock(), limit)

    async def check_affordable(
        self, guild_id: int, member_id: int, role_ids: Iterable[int], price: int
    ) -> None:
        """Whether a reservation of `price` would go through now, without making it: raises
        what it would (the server's approval and month, the whole bot's limit, or
        `InsufficientCredits`). For a request
        that has work to do before it can be reserved (Extend), so that a refusal comes before
        the work."""
        now = self._clock()
        await self._store.month_bounds(guild_id, price, now, self.policy)
        settings = await self._store.guild_settings(guild_id)
        roles = tuple(role_ids)
        balance = await self.balance(guild_id, member_id, roles)
        if balance < price:
            raise too_poor(
                settings.allowances,
                roles,
                balance,
                price,
                now,
                server_set_up=await self._store.credits_set_up(guild_id),
            )

    async def credits_set_up(self, guild_id: int) -> bool:
        """Whether the server's admins have handed out credits in any way yet."""
        return await self._store.credits_set_up(guild_id)

    # -- a job's money --------------------------------------------------------------------

    async def reserve(self, job: NewJob) -> int:
        """Take the job's price from the member and write the job row; returns the balance left
        (of the server's credits, or of the wallet when that paid). Raises the refusal (and
        writes nothing) when it may not go on."""
        return (await self.take(job)).balance

    async def take(self, job: NewJob, *more: NewJob) -> Reservation:
        """`reserve`, saying where the price was taken from; with `more`, a story's scenes
        reserved with the first in one transaction, all or none."""
        jobs = (job, *more)
        price = sum(one.price for one in jobs)
        try:
            made = await self._store.reserve(jobs, self._clock(), self._mark, self.policy)
        except MonthlyLimitReached as refused:
            if self._month_watch is not None:
                await self._month_watch(refused.spent, refused.limit)
            raise
        self._changed()
        self._count("reserved", price)
        if self._month_watch is not None:
            await self._month_watch(made.month_spent - price, made.month_spent)
        return made

    async def commit_charge(
        self, job_id: str, video_url: str, apiframe_cost: int | None = None
    ) -> Settlement:
        """Mark the job completed and turn its reservation into a charge, once; with the
        credits Apiframe billed for it, when it said."""
        settlement = await self._store.settle(
            job_id,
            JobState.COMPLETED,
            self._clock(),
            video_url=video_url,
            reason=None,
            actor_id=None,
            only_if_waiting=False,
            mark=self._mark,
            apiframe_cost=apiframe_cost,
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
        apiframe_cost: int | None = None,
    ) -> Settlement:
        """Mark the job failed and give its reservation back, once.

        With `only_if_waiting`, only a job still waiting in its server's queue is refunded
        (a member's Cancel): one already on its way to Apiframe is left alone.
        """
        settlement = await self._store.settle(
            job_id,
            JobState.FAILED,
            self._clock(),
            video_url=None,
            reason=reason,
            actor_id=actor_id,
            only_if_waiting=only_if_waiting,
            mark=self._mark,
            apiframe_cost=apiframe_cost,
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
        self, guild_id: int, member_id: int, amount: int, actor_id: int, note: str = ""
    ) -> BalanceChange:
        """Set a balance; `note`, the admin's reason, goes on the ledger row."""
        if amount < 0:
            raise ValueError("a balance cannot be negative")
        change = await self._store.set_balance(
            guild_id, member_id, amount, actor_id, self._clock(), note
        )
        self._changed()
        return change

    async def add_credits(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, note: str = ""
    ) -> BalanceChange:
        """Grant (or, when negative, remove) credits; the balance stops at zero. `note`, the
        admin's reason, goes on the ledger row."""
        change = await self._store.add_credits(
            guild_id, member_id, amount, actor_id, self._clock(), note
        )
        self._changed()
        return change
