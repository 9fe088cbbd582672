"""Members' wallets on either engine: the balances (`wallets`), their append-only ledger
(`wallet_ledger`) and the purchases Discord reported (`entitlements`).

A purchase is credited in the transaction that records its entitlement (whose id is the
primary key), so that no replay, restart or second process credits it twice. A video paid from
a wallet moves it inside the reservation's (and the settlement's) own transaction, through the
functions below that take a `Tx`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from bot.money.wallet import (
    Credited,
    Crediting,
    MonthSales,
    Purchase,
    PurchaseRefund,
    WalletKind,
    WalletMove,
)
from bot.store.driver import Driver, Row, Tx, moment

RECORD: Final = (
    "INSERT INTO wallet_ledger (member_id, kind, delta, balance_after, shortfall, job_id, "
    "entitlement_id, sku_id, test, actor_id, reason, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
ADD: Final = (
    "INSERT INTO wallets (member_id, balance, created_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (member_id) DO UPDATE SET balance = wallets.balance + excluded.balance "
    "RETURNING balance"
)
# The whole price or nothing: the row changes only when the wallet covers it.
SPEND: Final = (
    "UPDATE wallets SET balance = balance - $2 WHERE member_id = $1 AND balance >= $2 "
    "RETURNING balance"
)
BALANCE: Final = "SELECT balance FROM wallets WHERE member_id = $1"


async def record(
    tx: Tx,
    member_id: int,
    kind: WalletKind,
    delta: int,
    balance_after: int,
    now: datetime,
    *,
    job_id: str | None = None,
    entitlement_id: int | None = None,
    sku_id: int | None = None,
    test: bool = False,
    shortfall: int = 0,
    actor_id: int | None = None,
    reason: str = "",
) -> None:
    await tx.execute(
        RECORD,
        member_id,
        kind.value,
        delta,
        balance_after,
        shortfall,
        job_id,
        entitlement_id,
        sku_id,
        test,
        actor_id,
        reason,
        now,
    )


async def wallet_balance(tx: Tx, member_id: int) -> int:
    value = await tx.value(BALANCE, member_id)
    return 0 if value is None else int(value)


async def spend_wallet(tx: Tx, member_id: int, price: int) -> int | None:
    """Take a job's whole price from the wallet (its row locked to the commit): what is left,
    or None when the wallet does not cover it (nothing taken). `record_reserve` follows, once
    the job's row is written."""
    left = await tx.value(SPEND, member_id, price)
    return None if left is None else int(left)


async def record_reserve(
    tx: Tx, member_id: int, price: int, left: int, job_id: str, reason: str, now: datetime
) -> None:
    await record(tx, member_id, WalletKind.RESERVE, -price, left, now, job_id=job_id, reason=reason)


async def settle_wallet(
    tx: Tx, member_id: int, job_id: str, price: int, *, refund: bool, reason: str, now: datetime
) -> int:
    """A wallet-paid job's outcome: charged (the reservation stands) or refunded to the
    wallet; the wallet's balance after."""
    if refund:
        balance = int(await tx.value(ADD, member_id, price, now))
        await record(
            tx, member_id, WalletKind.REFUND, price, balance, now, job_id=job_id, reason=reason
        )
        return balance
    balance = int(await tx.value(BALANCE + tx.row_lock, member_id) or 0)
    await record(tx, member_id, WalletKind.CHARGE, 0, balance, now, job_id=job_id, reason=reason)
    return balance


def move_from_row(row: Row) -> WalletMove:
    created = moment(row["created_at"])
    assert created is not None
    return WalletMove(
        kind=WalletKind(row["kind"]),
        delta=int(row["delta"]),
        balance_after=int(row["balance_after"]),
        created_at=created,
        reason=str(row["reason"]),
        shortfall=int(row["shortfall"]),
        job_id=row["job_id"],
        entitlement_id=None if row["entitlement_id"] is None else int(row["entitlement_id"]),
        test=bool(row["test"]),
    )


class SqlWalletStore:
    def __init__(self, driver: Driver) -> None:
        self._db = driver

    async def balance(self, member_id: int) -> int:
        row = await self._db.fetch_one(BALANCE, member_id)
        return 0 if row is None else int(row[0])

    async def history(self, member_id: int, limit: int) -> list[WalletMove]:
        rows = await self._db.fetch(
            "SELECT * FROM wallet_ledger WHERE member_id = $1 ORDER BY id DESC LIMIT $2",
            member_id,
            limit,
        )
        return [move_from_row(row) for row in rows]

    async def credit(self, purchase: Purchase, amount: int, now: datetime) -> Crediting:
        """Credit a purchase, once per entitlement id, in any process."""

        async def body(tx: Tx) -> Crediting:
            new = await tx.value(
                "INSERT INTO entitlements (id, member_id, sku_id, credits, test, credited_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id",
                purchase.entitlement_id,
                purchase.member_id,
                purchase.sku_id,
                amount,
                purchase.test,
                now,
            )
            if new is None:
                row = await tx.fetch_one(
                    "SELECT member_id, consumed_at FROM entitlements WHERE id = $1",
                    purchase.entitlement_id,
                )
                assert row is not None
                balance = await wallet_balance(tx, int(row[0]))
                return Crediting(Credited.BEFORE, balance, row[1] is not None)
            balance = int(await tx.value(ADD, purchase.member_id, amount, now))
            await record(
                tx,
                purchase.member_id,
                WalletKind.PURCHASE,
                amount,
                balance,
                now,
                entitlement_id=purchase.entitlement_id,
                sku_id=purchase.sku_id,
                test=purchase.test,
                reason="credit pack (test mode)" if purchase.test else "credit pack",
            )
            return Crediting(Credited.NEW, balance, False)

        return await self._db.write(body)

    async def consumed(self, entitlement_id: int, now: datetime) -> None:
        await self._db.execute(
            "UPDATE entitlements SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL",
            entitlement_id,
            now,
        )

    async def refund_purchase(self, entitlement_id: int, now: datetime) -> PurchaseRefund:
        """Take a refunded purchase's credits back, once: never below 0, the rest recorded as
        the shortfall."""

        async def body(tx: Tx) -> PurchaseRefund:
            row = await tx.fetch_one(
                "UPDATE entitlements SET refunded_at = $2 WHERE id = $1 AND refunded_at IS NULL "
                "RETURNING member_id, credits, sku_id, test",
                entitlement_id,
                now,
            )
            if row is None:
                return PurchaseRefund(applied=False)
            member_id, bought = int(row[0]), int(row[1])
            balance = await tx.value(BALANCE + tx.row_lock, member_id)
            held = 0 if balance is None else int(balance)
            taken = min(held, bought)
            left = int(
                await tx.value(
                    "UPDATE wallets SET balance = balance - $2 WHERE member_id = $1 "
                    "RETURNING balance",
                    member_id,
                    taken,
                )
                or 0
            )
            await record(
                tx,
                member_id,
                WalletKind.PURCHASE_REFUND,
                -taken,
                left,
                now,
                entitlement_id=entitlement_id,
                sku_id=int(row[2]),
                test=bool(row[3]),
                shortfall=bought - taken,
                reason="credit pack refunded by Discord",
            )
            return PurchaseRefund(True, member_id, taken, bought - taken, left)

        return await self._db.write(body)

    async def gift(
        self, member_id: int, amount: int, actor_id: int, reason: str, now: datetime
    ) -> int:
        async def body(tx: Tx) -> int:
            balance = int(await tx.value(ADD, member_id, amount, now))
            await record(
                tx,
                member_id,
                WalletKind.GIFT,
                amount,
                balance,
                now,
                actor_id=actor_id,
                reason=reason or "a gift from the bot's owner",
            )
            return balance

        return await self._db.write(body)

    async def month_sales(self, since: datetime) -> MonthSales:
        row = await self._db.fetch_one(
            "SELECT "
            "COALESCE(SUM(CASE WHEN kind = 'purchase' THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN kind = 'purchase' THEN delta ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN kind = 'purchase_refund' THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN kind = 'purchase_refund' THEN shortfall - delta "
            "ELSE 0 END), 0), "
            "COALESCE(SUM(shortfall), 0) "
            "FROM wallet_ledger WHERE entitlement_id IS NOT NULL AND created_at >= $1",
            since,
        )
        assert row is not None
        return MonthSales(*(int(value) for value in row))


async def wallet_problems(tx: Tx) -> list[str]:
    """Every way wallets and their ledger disagree (part of `db verify`)."""
    problems = [
        f"member {r[0]}'s wallet holds {r[1]} but its ledger adds up to {r[2]}"
        for r in await tx.fetch(
            "SELECT w.member_id, w.balance, COALESCE(SUM(l.delta), 0) FROM wallets w "
            "LEFT JOIN wallet_ledger l ON l.member_id = w.member_id "
            "GROUP BY w.member_id, w.balance HAVING w.balance <> COALESCE(SUM(l.delta), 0)"
        )
    ]
    problems.extend(
        f"purchase {r[0]} was credited {r[1]} times"
        for r in await tx.fetch(
            "SELECT e.id, COUNT(l.id) FROM entitlements e LEFT JOIN wallet_ledger l "
            "ON l.entitlement_id = e.id AND l.kind = 'purchase' GROUP BY e.id "
            "HAVING COUNT(l.id) <> 1"
        )
    )
    return problems
