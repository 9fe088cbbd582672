"""Members' own wallets: credits a member bought in Discord's store (a credit pack, sold as a
consumable SKU) or was given by the bot's owner, good in every server and on the member's own
account, beside each server's balances.

- **Packs**: `CREDIT_PACKS` maps each consumable SKU to its credits; unset, nothing is sold.
- **A purchase** is an entitlement Discord reports (on the gateway, or in its list, which the
  bot reads at start and now and then): credited once per entitlement id, whatever replays or
  crashes, and only then consumed at Discord. Nothing a member sends can make one.
- **A refund** (the entitlement deleted) takes the credits back, never below 0: what was spent
  already is the shortfall, kept in the ledger and shown to the owner.
- **Paying**: in a server, a video is paid whole from the member's credits there when they
  cover it, otherwise whole from the wallet; on the member's own account, from the wallet only.
  Refunds go back where the credits came from (`bot/store/ledger.py` does both, in the
  reservation's own transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from bot.clock import utc_now
from bot.money.allowances import Period, period_start
from bot.money.rules import MAX_AMOUNT

log = logging.getLogger(__name__)

# The most credits one pack may give (as for any grant).
MAX_PACK: Final = MAX_AMOUNT


class WalletKind(StrEnum):
    PURCHASE = "purchase"
    PURCHASE_REFUND = "purchase_refund"
    RESERVE = "reserve"
    CHARGE = "charge"
    REFUND = "refund"
    GIFT = "gift"


@dataclass(frozen=True, slots=True)
class WalletMove:
    kind: WalletKind
    delta: int
    balance_after: int
    created_at: datetime
    reason: str = ""
    shortfall: int = 0
    job_id: str | None = None
    entitlement_id: int | None = None
    test: bool = False


@dataclass(frozen=True, slots=True)
class Purchase:
    """A purchase as Discord reported it: whose, which SKU, and whether it was made in the
    application's test mode."""

    entitlement_id: int
    member_id: int
    sku_id: int
    test: bool = False


class Credited(StrEnum):
    NEW = "new"  # credited now
    BEFORE = "before"  # credited earlier (a replay, or found again in Discord's list)


@dataclass(frozen=True, slots=True)
class Crediting:
    outcome: Credited
    balance: int
    consumed: bool  # consumed at Discord already, as far as the bot knows


@dataclass(frozen=True, slots=True)
class PurchaseRefund:
    applied: bool  # False: not a purchase the bot credited, or refunded already
    member_id: int = 0
    taken: int = 0  # credits taken back from the wallet
    shortfall: int = 0  # credits already spent, which could not be
    balance: int = 0


@dataclass(frozen=True, slots=True)
class MonthSales:
    """The month's purchases and refunds of credit packs, for the owner's table."""

    sold: int = 0
    credits: int = 0
    refunded: int = 0
    refunded_credits: int = 0
    shortfall: int = 0


class CreditPacks:
    """Which consumable SKUs are credit packs, and how many credits each gives."""

    def __init__(self, packs: Mapping[int, int]) -> None:
        self._packs = dict(packs)

    def __bool__(self) -> bool:
        return bool(self._packs)

    def credits(self, sku_id: int) -> int | None:
        return self._packs.get(sku_id)

    @property
    def skus(self) -> list[int]:
        """The packs' SKUs, the smallest pack first (as Buy buttons show them)."""
        return sorted(self._packs, key=lambda sku: (self._packs[sku], sku))


class WalletStore(Protocol):
    async def balance(self, member_id: int) -> int: ...
    async def history(self, member_id: int, limit: int) -> list[WalletMove]: ...
    async def credit(self, purchase: Purchase, amount: int, now: datetime) -> Crediting: ...
    async def consumed(self, entitlement_id: int, now: datetime) -> None: ...
    async def refund_purchase(self, entitlement_id: int, now: datetime) -> PurchaseRefund: ...
    async def gift(
        self, member_id: int, amount: int, actor_id: int, reason: str, now: datetime
    ) -> int: ...
    async def month_sales(self, since: datetime) -> MonthSales: ...


class Wallets:
    """The wallets, as the front ends and the owner's shell use them."""

    def __init__(self, store: WalletStore, packs: CreditPacks) -> None:
        self._store = store
        self.packs = packs

    async def balance(self, member_id: int) -> int:
        return await self._store.balance(member_id)

    async def history(self, member_id: int, limit: int = 10) -> list[WalletMove]:
        return await self._store.history(member_id, limit)

    async def credit(self, purchase: Purchase) -> Crediting | None:
        """Credit a purchase once (None: not a pack's SKU, so left alone)."""
        amount = self.packs.credits(purchase.sku_id)
        if amount is None:
            return None
        crediting = await self._store.credit(purchase, amount, utc_now())
        if crediting.outcome is Credited.NEW:
            log.info(
                "member %s bought %d credits (entitlement %s%s)",
                purchase.member_id,
                amount,
                purchase.entitlement_id,
                ", test mode" if purchase.test else "",
            )
        return crediting

    async def consumed(self, entitlement_id: int) -> None:
        await self._store.consumed(entitlement_id, utc_now())

    async def refund_purchase(self, entitlement_id: int) -> PurchaseRefund:
        refund = await self._store.refund_purchase(entitlement_id, utc_now())
        if refund.applied:
            log.warning(
                "a purchase was refunded (entitlement %s): %d credits taken back from member "
                "%s's wallet%s",
                entitlement_id,
                refund.taken,
                refund.member_id,
                f", {refund.shortfall} short (already spent)" if refund.shortfall else "",
            )
        return refund

    async def gift(self, member_id: int, amount: int, actor_id: int, reason: str) -> int:
        if not 0 < amount <= MAX_PACK:
            raise ValueError(f"a gift is a whole number of credits from 1 to {MAX_PACK}")
        return await self._store.gift(member_id, amount, actor_id, reason, utc_now())

    async def month_sales(self) -> MonthSales:
        return await self._store.month_sales(period_start(Period.MONTHLY, utc_now()))
