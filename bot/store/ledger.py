"""The ledger's store: balances, the append-only ledger and the money moves around a job, written
once for both engines.

Every move is one transaction body. How it stays right with many moves at once depends on the
engine, and the body is the same for both:
- On SQLite one writer thread runs every transaction, so moves never interleave.
- On PostgreSQL each move first locks the rows it decides on (`Tx.row_lock`, at READ COMMITTED):
  the member's account row before their balance is read, topped up or spent (no balance is
  spent twice; an allowance tops up once per period); a capped server's settings row before its
  month is summed (reservations in one capped server take turns, so the cap is never crossed by
  one credit); and a job's row by the conditional UPDATE that settles it (a second settlement
  waits, re-reads the state and finds nothing to move). Row locks rather than SERIALIZABLE:
  these are hot, narrow rows locked in a fixed order (server, then account; or job, then
  account), so there is nothing to retry in normal operation and no cycle to deadlock on;
  should PostgreSQL still report one, the engine runs the body again.

The schema backs the code up on both: balances never below zero, a job reserved, charged and
refunded at most once each (and settled once), and a ledger that refuses UPDATE and DELETE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from bot.errors import InsufficientCredits, RepeatedRequest, ServerWaiting
from bot.jobs.records import JobState, NewJob, PaidFrom, sources_of
from bot.money.allowances import Period, applicable, period_start
from bot.money.economy import (
    OwnerPolicy,
    Server,
    budget_crossed,
    budget_of,
    limit_crossed,
    waiting_for_approval,
)
from bot.money.rules import (
    OPENING_REASON,
    REPEAT_WINDOW,
    BalanceChange,
    EntryKind,
    LedgerEntry,
    Reservation,
    Settlement,
    balance_problem,
    cap_crossed,
    charge_reason,
    grant_reason,
    job_problems,
    last_row_problem,
    orphan_problem,
    refund_reason,
    reserve_reason,
    set_reason,
    too_poor,
    top_up,
)
from bot.money.servers import GuildSettings
from bot.store.driver import Driver, Tx, moment, placeholders, to_db_time, where_given
from bot.store.jobs import insert_job
from bot.store.rows import entry_from_row, required
from bot.store.servers import (
    lower_months,
    month_spent,
    raise_month,
    raise_server_month,
    read_server,
    server_month,
)
from bot.store.settings import read_guild_settings
from bot.store.wallets import (
    record_reserve,
    settle_wallet,
    spend_wallet,
    wallet_balance,
    wallet_problems,
)

APPEND: Final = (
    "INSERT INTO ledger (guild_id, member_id, kind, delta, balance_after, job_id, "
    "actor_id, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
BALANCE: Final = "SELECT balance FROM accounts WHERE guild_id = $1 AND member_id = $2"
ACCOUNT: Final = (
    "SELECT balance, allowance_key FROM accounts WHERE guild_id = $1 AND member_id = $2"
)
# Two moves opening one account at once: one inserts, the other inserts nothing (on
# PostgreSQL it waits for the first), so there is one opening row.
OPEN_ACCOUNT: Final = (
    "INSERT INTO accounts (guild_id, member_id, balance, created_at) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING balance"
)
SPEND: Final = (
    "UPDATE accounts SET balance = balance - $3 "
    "WHERE guild_id = $1 AND member_id = $2 AND balance >= $3 RETURNING balance"
)
SET_BALANCE: Final = "UPDATE accounts SET balance = $3 WHERE guild_id = $1 AND member_id = $2"
ADD: Final = (
    "UPDATE accounts SET balance = CASE WHEN balance + $3 < 0 THEN 0 ELSE balance + $3 END "
    "WHERE guild_id = $1 AND member_id = $2 RETURNING balance"
)
REFUND: Final = (
    "UPDATE accounts SET balance = balance + $3 WHERE guild_id = $1 AND member_id = $2 "
    "RETURNING balance"
)
TOP_UP: Final = (
    "UPDATE accounts SET balance = $3, allowance_key = $4 WHERE guild_id = $1 AND member_id = $2"
)
MONTH_SPEND: Final = (
    "SELECT COALESCE(SUM(price), 0) FROM jobs WHERE guild_id = $1 AND created_at >= $2 "
    "AND state <> 'failed'"
)


@dataclass(frozen=True, slots=True)
class Account:
    """One member's account, inside one money move: every ledger row it writes carries the
    move's time."""

    tx: Tx
    guild_id: int
    member_id: int
    now: datetime

    async def record(
        self,
        kind: EntryKind,
        delta: int,
        balance_after: int,
        reason: str,
        *,
        job_id: str | None = None,
        actor_id: int | None = None,
    ) -> None:
        await self.tx.execute(
            APPEND,
            self.guild_id,
            self.member_id,
            kind.value,
            delta,
            balance_after,
            job_id,
            actor_id,
            reason,
            self.now,
        )


HANDED_OUT: Final = "SELECT EXISTS (SELECT 1 FROM ledger WHERE guild_id = $1 AND delta > 0)"


async def handed_out(tx: Tx, settings: GuildSettings) -> bool:
    """Whether the server's admins have given credits in any way: a starting balance, an
    allowance, or any credit ever added (asked only when a member is refused)."""
    if settings.default_credits > 0 or settings.allowances:
        return True
    return bool(await tx.value(HANDED_OUT, settings.guild_id))


async def month_spend(tx: Tx, guild_id: int, now: datetime) -> int:
    """Credits the server spent or holds reserved this calendar month (UTC)."""
    return int(await tx.value(MONTH_SPEND, guild_id, period_start(Period.MONTHLY, now)))


class SqlLedgerStore:
    def __init__(self, driver: Driver, default_credits: int) -> None:
        self._db = driver
        self._fallback_default = default_credits

    # -- reads ----------------------------------------------------------------------------

    async def stored_balance(self, guild_id: int, member_id: int) -> int | None:
        row = await self._db.fetch_one(BALANCE, guild_id, member_id)
        return None if row is None else int(row[0])

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        async def body(tx: Tx) -> GuildSettings:
            return await read_guild_settings(tx, guild_id, self._fallback_default)

        return await self._db.read(body)

    async def history(
        self, guild_id: int, member_id: int, limit: int, offset: int
    ) -> list[LedgerEntry]:
        rows = await self._db.fetch(
            "SELECT * FROM ledger WHERE guild_id = $1 AND member_id = $2 "
            "ORDER BY id DESC LIMIT $3 OFFSET $4",
            guild_id,
            member_id,
            limit,
            offset,
        )
        return [entry_from_row(row) for row in rows]

    async def history_size(self, guild_id: int, member_id: int) -> int:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) FROM ledger WHERE guild_id = $1 AND member_id = $2",
            guild_id,
            member_id,
        )
        return 0 if row is None else int(row[0])

    async def month_spend(self, guild_id: int, now: datetime) -> int:
        async def body(tx: Tx) -> int:
            return await month_spend(tx, guild_id, now)

        return await self._db.read(body)

    async def credits_set_up(self, guild_id: int) -> bool:
        async def body(tx: Tx) -> bool:
            settings = await read_guild_settings(tx, guild_id, self._fallback_default)
            return await handed_out(tx, settings)

        return await self._db.read(body)

    async def top_spenders(self, guild_id: int, now: datetime, limit: int) -> list[tuple[int, int]]:
        rows = await self._db.fetch(
            "SELECT member_id, SUM(price) AS spent FROM jobs WHERE guild_id = $1 "
            "AND created_at >= $2 AND state <> 'failed' GROUP BY member_id "
            "ORDER BY spent DESC, member_id LIMIT $3",
            guild_id,
            period_start(Period.MONTHLY, now),
            limit,
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def entries_page(
        self,
        guild_id: int,
        *,
        member_id: int | None = None,
        kind: EntryKind | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[LedgerEntry]:
        """The server's ledger newest first, from before row `before_id` (pages that stay put
        while new rows arrive), for one member or one kind of move when asked."""
        where, values = where_given(
            (
                ("guild_id = {}", guild_id),
                ("member_id = {}", member_id),
                ("kind = {}", None if kind is None else kind.value),
                ("id < {}", before_id),
            )
        )
        rows = await self._db.fetch(
            f"SELECT * FROM ledger WHERE {where} "  # noqa: S608 - fixed clauses
            f"ORDER BY id DESC LIMIT ${len(values) + 1}",
            *values,
            limit,
        )
        return [entry_from_row(row) for row in rows]

    async def handed_out_since(self, guild_id: int, since: datetime) -> int:
        """Credits the server's admins gave since `since`: starting balances, allowance
        top-ups, grants and balances set higher (refunds are not handed out)."""
        value = await self._db.fetch_one(
            "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE guild_id = $1 AND created_at >= $2 "
            "AND delta > 0 AND kind IN ('opening', 'allowance', 'grant', 'set')",
            guild_id,
            since,
        )
        return 0 if value is None else int(value[0])

    async def balances(
        self, guild_id: int, member_ids: Sequence[int] | None = None, limit: int = 50
    ) -> list[tuple[int, int]]:
        """(member, balance) of the server's accounts, largest first, or of `member_ids`."""
        if member_ids is not None:
            if not member_ids:
                return []
            rows = await self._db.fetch(
                "SELECT member_id, balance FROM accounts WHERE guild_id = $1 "  # noqa: S608
                f"AND member_id IN ({placeholders(len(member_ids), 2)}) ORDER BY balance DESC",
                guild_id,
                *member_ids,
            )
        else:
            rows = await self._db.fetch(
                "SELECT member_id, balance FROM accounts WHERE guild_id = $1 "
                "ORDER BY balance DESC, member_id LIMIT $2",
                guild_id,
                limit,
            )
        return [(int(row[0]), int(row[1])) for row in rows]

    async def entries_after(self, cursor: int, limit: int) -> list[LedgerEntry]:
        rows = await self._db.fetch(
            "SELECT * FROM ledger WHERE id > $1 ORDER BY id LIMIT $2", cursor, limit
        )
        return [entry_from_row(row) for row in rows]

    async def export_page(
        self, guild_id: int, after_id: int, limit: int
    ) -> list[tuple[int, tuple[object, ...]]]:
        rows = await self._db.fetch(
            "SELECT id, created_at, member_id, delta, balance_after, kind, reason, job_id, "
            "actor_id FROM ledger WHERE guild_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            guild_id,
            after_id,
            limit,
        )
        return [(int(row[0]), (to_db_time(required(row[1])), *tuple(row)[2:])) for row in rows]

    async def disagreements(self) -> list[str]:
        """Every way balances, ledger rows and jobs disagree (`db verify`); empty when sound."""

        async def body(tx: Tx) -> list[str]:
            problems = [
                balance_problem(int(r[0]), int(r[1]), int(r[2]), int(r[3]))
                for r in await tx.fetch(
                    "SELECT a.guild_id, a.member_id, a.balance, COALESCE(SUM(l.delta), 0) "
                    "FROM accounts a LEFT JOIN ledger l ON l.guild_id = a.guild_id "
                    "AND l.member_id = a.member_id GROUP BY a.guild_id, a.member_id, a.balance "
                    "HAVING a.balance <> COALESCE(SUM(l.delta), 0)"
                )
            ]
            problems.extend(
                last_row_problem(int(r[0]), int(r[1]), int(r[2]), int(r[3]))
                for r in await tx.fetch(
                    "SELECT l.guild_id, l.member_id, l.balance_after, a.balance FROM ledger l "
                    "JOIN (SELECT MAX(id) AS id FROM ledger GROUP BY guild_id, member_id) m "
                    "ON m.id = l.id JOIN accounts a ON a.guild_id = l.guild_id "
                    "AND a.member_id = l.member_id WHERE l.balance_after <> a.balance"
                )
            )
            for r in await tx.fetch(
                "SELECT j.id, j.state, "
                "COALESCE(SUM(CASE WHEN l.kind = 'reserve' THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN l.kind = 'charge' THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN l.kind = 'refund' THEN 1 ELSE 0 END), 0) "
                "FROM jobs j LEFT JOIN (SELECT job_id, kind FROM ledger UNION ALL "
                "SELECT job_id, kind FROM wallet_ledger) l ON l.job_id = j.id "
                "GROUP BY j.id, j.state"
            ):
                problems.extend(job_problems(r[0], r[1], int(r[2]), int(r[3]), int(r[4])))
            problems.extend(
                orphan_problem(int(r[0]), r[1])
                for r in await tx.fetch(
                    "SELECT l.id, l.job_id FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id "
                    "WHERE l.job_id IS NOT NULL AND j.id IS NULL"
                )
            )
            problems.extend(await wallet_problems(tx))
            return problems

        return await self._db.read(body)

    # -- money moves ------------------------------------------------------------------------

    async def balance(
        self, guild_id: int, member_id: int, role_ids: tuple[int, ...], now: datetime
    ) -> tuple[int, bool]:
        """The spendable balance (opening the account, applying an allowance due), and
        whether anything was written."""

        async def body(tx: Tx) -> tuple[int, bool]:
            return await self._open(Account(tx, guild_id, member_id, now), role_ids)

        return await self._db.write(body)

    async def reserve(
        self, jobs: Sequence[NewJob], now: datetime, mark: str, policy: OwnerPolicy
    ) -> Reservation:
        """Take the price and record the jobs (one, or a story's scenes, all or none); raises
        `ServerWaiting`, `CapReached`, `BudgetReached`, `InsufficientCredits`,
        `RepeatedRequest` or `MonthlyLimitReached` having written nothing."""
        # A story is priced as a whole, paid from one place, and refused as a whole.
        job = jobs[0] if len(jobs) == 1 else replace(jobs[0], price=sum(j.price for j in jobs))
        origin = job.origin
        guild_id, member_id = origin.guild_id, origin.member_id

        async def body(tx: Tx) -> Reservation:
            settings = await read_guild_settings(tx, guild_id, self._fallback_default)
            server = await read_server(tx, guild_id)
            if waiting_for_approval(server, policy):
                raise ServerWaiting()
            paid_from, left = await self._take_price(tx, job, now, settings, server, policy)
            # Each job's own reservation row, the balance after each as if taken in turn.
            after = left + job.price
            for one in jobs:
                after -= one.price
                await insert_job(tx, one, now, paid_from)
                why = reserve_reason(one.spec.resolution.value, one.spec.duration, mark)
                if paid_from is PaidFrom.WALLET:
                    await record_reserve(tx, member_id, one.price, after, one.id, why, now)
                else:
                    await Account(tx, guild_id, member_id, now).record(
                        EntryKind.RESERVE, -one.price, after, why, job_id=one.id, actor_id=member_id
                    )
            # Last, the running totals, each raised only within its bound by the one statement
            # that checks it: their rows are locked from here to the commit, no longer, so
            # reservations in one server (or in all) take turns only for that moment, in any
            # process. The owner's budget counts what the server's admins handed out; the
            # admins' cap counts the wallets' spend in their server too.
            if not origin.personal:
                budget = budget_of(server, policy) if paid_from is PaidFrom.SERVER else None
                raised = await raise_server_month(
                    tx, guild_id, now, job.price, paid_from, budget, settings.monthly_cap
                )
                if raised is None:
                    await _refuse_over_month(tx, job, now, settings, server, policy, paid_from)
            total = await raise_month(tx, now, job.price, policy.monthly_limit)
            if total is None:
                crossed_limit = limit_crossed(
                    policy.monthly_limit, await month_spent(tx, now), job.price, now
                )
                assert crossed_limit is not None
                raise crossed_limit
            return Reservation(left, total, paid_from)

        return await self._db.write(body)

    async def _take_price(
        self,
        tx: Tx,
        job: NewJob,
        now: datetime,
        settings: GuildSettings,
        server: Server | None,
        policy: OwnerPolicy,
    ) -> tuple[PaidFrom, int]:
        """Take the job's whole price from where it is paid: the member's credits in the
        server when they cover it, else the wallet; on the member's own account, the wallet
        only. Where they are, and what is left; or the refusal that says why not."""
        origin = job.origin
        member_id = origin.member_id
        if origin.personal:
            if job.source is not None:
                await _refuse_repeated_click(tx, job, now)
            left = await spend_wallet(tx, member_id, job.price)
            if left is None:
                raise InsufficientCredits(
                    await wallet_balance(tx, member_id), job.price, personal=True
                )
            return PaidFrom.WALLET, left
        account = Account(tx, origin.guild_id, member_id, now)
        balance, _ = await self._open(account, origin.role_ids, settings)
        if job.source is not None:
            # After the account's lock: a double click's second job waits for the first,
            # then sees it.
            await _refuse_repeated_click(tx, job, now)
        if balance >= job.price and not await self._over_budget(tx, job, now, server, policy):
            left = await tx.value(SPEND, origin.guild_id, member_id, job.price)
            if left is not None:
                return PaidFrom.SERVER, int(left)
        # The server's credits do not cover it (or the owner's budget for them is spent): the
        # member's own wallet pays, which the budget does not count.
        from_wallet = await spend_wallet(tx, member_id, job.price)
        if from_wallet is not None:
            return PaidFrom.WALLET, from_wallet
        # Neither pays: a crossed budget or cap says more than the balance does.
        await _refuse_over_month(tx, job, now, settings, server, policy, PaidFrom.SERVER)
        raise too_poor(
            settings.allowances,
            origin.role_ids,
            balance,
            job.price,
            now,
            server_set_up=await handed_out(tx, settings),
            wallet=await wallet_balance(tx, member_id),
        )

    @staticmethod
    async def _over_budget(
        tx: Tx, job: NewJob, now: datetime, server: Server | None, policy: OwnerPolicy
    ) -> bool:
        """Whether paying from the server's credits would cross the owner's budget for it, as
        the month stands (the reservation's last statement checks it again, atomically)."""
        budget = budget_of(server, policy)
        if budget is None:
            return False
        month = await server_month(tx, job.origin.guild_id, now)
        return budget_crossed(budget, month.server, job.price, now) is not None

    async def month_bounds(
        self, guild_id: int, price: int, now: datetime, policy: OwnerPolicy
    ) -> None:
        async def body(tx: Tx) -> None:
            server = await read_server(tx, guild_id)
            if waiting_for_approval(server, policy):
                raise ServerWaiting()
            settings = await read_guild_settings(tx, guild_id, self._fallback_default)
            month = await server_month(tx, guild_id, now)
            crossed = budget_crossed(
                budget_of(server, policy), month.server, price, now
            ) or cap_crossed(settings.monthly_cap, month.total, price, now)
            if crossed is not None:
                raise crossed
            crossed_limit = limit_crossed(
                policy.monthly_limit, await month_spent(tx, now), price, now
            )
            if crossed_limit is not None:
                raise crossed_limit

        await self._db.read(body)

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
        """Move the job to COMPLETED (charge) or FAILED (refund), once, if it may still move;
        with what Apiframe billed for it, when it said."""
        allowed = [
            s.value for s in ((JobState.RESERVED,) if only_if_waiting else sources_of(target))
        ]
        waiting = " AND admitted_at IS NULL" if only_if_waiting else ""

        async def body(tx: Tx) -> Settlement:
            row = await tx.fetch_one(
                "UPDATE jobs SET state = $1, video_url = COALESCE($2, video_url), "  # noqa: S608
                "failure_reason = COALESCE($3, failure_reason), finished_at = $4, "
                "apiframe_cost = COALESCE($6, apiframe_cost), "
                f"updated_at = $4 WHERE id = $5 AND state IN ({placeholders(len(allowed), 7)})"
                f"{waiting} RETURNING guild_id, member_id, price, created_at, paid_from",
                target.value,
                video_url,
                reason,
                now,
                job_id,
                apiframe_cost,
                *allowed,
            )
            if row is None:
                balance = await tx.value(
                    "SELECT a.balance FROM jobs j JOIN accounts a ON a.guild_id = j.guild_id "
                    "AND a.member_id = j.member_id WHERE j.id = $1",
                    job_id,
                )
                return Settlement(applied=False, balance=int(balance or 0))
            account = Account(tx, int(row[0]), int(row[1]), now)
            price = int(row[2])
            paid_from = PaidFrom(row[4])
            if target is not JobState.COMPLETED:
                created = moment(row[3])
                assert created is not None
                await lower_months(tx, account.guild_id, created, price, paid_from)
            if paid_from is PaidFrom.WALLET:
                refunded = target is not JobState.COMPLETED
                why = refund_reason(reason, mark) if refunded else charge_reason(mark)
                balance = await settle_wallet(
                    tx, account.member_id, job_id, price, refund=refunded, reason=why, now=now
                )
                return Settlement(applied=True, balance=balance, price=price)
            if target is JobState.COMPLETED:
                balance = int(await tx.value(BALANCE + tx.row_lock, account.guild_id, row[1]))
                await account.record(
                    EntryKind.CHARGE, 0, balance, charge_reason(mark), job_id=job_id
                )
            else:
                balance = int(await tx.value(REFUND, account.guild_id, account.member_id, price))
                why = refund_reason(reason, mark)
                await account.record(
                    EntryKind.REFUND, price, balance, why, job_id=job_id, actor_id=actor_id
                )
            return Settlement(applied=True, balance=balance, price=price)

        return await self._db.write(body)

    async def set_balance(
        self,
        guild_id: int,
        member_id: int,
        amount: int,
        actor_id: int,
        now: datetime,
        note: str = "",
    ) -> BalanceChange:
        async def body(tx: Tx) -> BalanceChange:
            account = Account(tx, guild_id, member_id, now)
            before, _ = await self._open(account, open_empty=True)
            await tx.execute(SET_BALANCE, guild_id, member_id, amount)
            why = set_reason(amount, note)
            await account.record(EntryKind.SET, amount - before, amount, why, actor_id=actor_id)
            return BalanceChange(delta=amount - before, balance=amount)

        return await self._db.write(body)

    async def add_credits(
        self,
        guild_id: int,
        member_id: int,
        amount: int,
        actor_id: int,
        now: datetime,
        note: str = "",
    ) -> BalanceChange:
        """Grant (or, negative, remove) credits; a balance stops at zero."""

        async def body(tx: Tx) -> BalanceChange:
            account = Account(tx, guild_id, member_id, now)
            before, _ = await self._open(account, open_empty=True)
            balance = int(await tx.value(ADD, guild_id, member_id, amount))
            why = grant_reason(amount, note)
            await account.record(EntryKind.GRANT, balance - before, balance, why, actor_id=actor_id)
            return BalanceChange(delta=balance - before, balance=balance)

        return await self._db.write(body)

    async def _open(
        self,
        account: Account,
        role_ids: tuple[int, ...] = (),
        settings: GuildSettings | None = None,
        *,
        open_empty: bool = False,
    ) -> tuple[int, bool]:
        """Lock the member's account (opening it with the server's default if new) and top it
        up if a new allowance period has begun; the balance, and whether anything was written.
        An account that would open empty is opened only with `open_empty` (credits are about
        to be set or added)."""
        tx, guild_id, member_id, now = account.tx, account.guild_id, account.member_id, account.now
        if settings is None:
            settings = await read_guild_settings(tx, guild_id, self._fallback_default)
        if (
            not open_empty
            and settings.default_credits == 0
            and applicable(settings.allowances, role_ids) is None
        ):
            # Nothing to open an account with: none is opened, so that the member is still
            # new to the bot, and gets the starting balance, once the admins set one.
            row = await tx.fetch_one(ACCOUNT + tx.row_lock, guild_id, member_id)
            if row is None:
                return 0, False
        opened = await tx.value(OPEN_ACCOUNT, guild_id, member_id, settings.default_credits, now)
        if opened is not None:
            await account.record(EntryKind.OPENING, int(opened), int(opened), OPENING_REASON)
        row = await tx.fetch_one(ACCOUNT + tx.row_lock, guild_id, member_id)
        assert row is not None
        balance = int(row[0])
        due = top_up(settings.allowances, role_ids, balance, row[1], now)
        if due is None:
            return balance, opened is not None
        await tx.execute(TOP_UP, guild_id, member_id, due.balance, due.key)
        if due.balance != balance:
            await account.record(
                EntryKind.ALLOWANCE, due.balance - balance, due.balance, due.reason
            )
        return due.balance, True


async def _refuse_over_month(
    tx: Tx,
    job: NewJob,
    now: datetime,
    settings: GuildSettings,
    server: Server | None,
    policy: OwnerPolicy,
    paid_from: PaidFrom,
) -> None:
    """Raise the server's monthly bound this job would cross, if any: the owner's budget
    (which its admins cannot lift, and which counts only what they handed out) before their
    own cap (which counts the wallets' spend in the server too)."""
    month = await server_month(tx, job.origin.guild_id, now)
    if paid_from is PaidFrom.SERVER:
        over_budget = budget_crossed(budget_of(server, policy), month.server, job.price, now)
        if over_budget is not None:
            raise over_budget
    over_cap = cap_crossed(settings.monthly_cap, month.total, job.price, now)
    if over_cap is not None:
        raise over_cap


async def _refuse_repeated_click(tx: Tx, job: NewJob, now: datetime) -> None:
    """A double click on a result's button must not make two jobs: refuse a second job from
    the same source, by the same member, for the same action, within a few seconds."""
    assert job.source is not None
    found = await tx.value(
        "SELECT id FROM jobs WHERE source_job_id = $1 AND source_action = $2 AND member_id = $3 "
        "AND created_at >= $4 LIMIT 1",
        job.source.job_id,
        job.source.action.value,
        job.origin.member_id,
        now - REPEAT_WINDOW,
    )
    if found is not None:
        raise RepeatedRequest(existing_job_id=str(found))
