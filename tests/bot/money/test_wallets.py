"""Members' wallets on every store (SQLite and PostgreSQL): a purchase credited once whatever
replays it, a refund that never takes a wallet below 0, and videos paid whole from the
server's credits or else from the wallet, refunded where they came from, with the server's
cap counting both and the owner's budget only what the admins handed out."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import BudgetReached, CapReached, InsufficientCredits
from bot.jobs.records import JobState, PaidFrom, personal_space
from bot.money.economy import OwnerPolicy
from bot.money.wallet import Credited, CreditPacks, Purchase, Wallets
from tests.bot.factories import GUILD, new_job
from tests.conftest import Backend

PACK = 1111
PRICE = 5  # new_job's default video


def wallets(backend: Backend) -> Wallets:
    return Wallets(backend.stores.wallets, CreditPacks({PACK: 50}))


async def test_a_purchase_is_credited_once_however_often_it_is_reported(
    backend: Backend,
) -> None:
    book = wallets(backend)
    purchase = Purchase(entitlement_id=9001, member_id=42, sku_id=PACK)
    outcomes = await asyncio.gather(*(book.credit(purchase) for _ in range(20)))
    assert sum(o is not None and o.outcome is Credited.NEW for o in outcomes) == 1
    assert await book.balance(42) == 50
    again = await book.credit(purchase)
    assert again is not None and again.outcome is Credited.BEFORE and not again.consumed
    await book.consumed(9001)
    again = await book.credit(purchase)
    assert again is not None and again.consumed
    # A SKU that is no pack is left alone.
    assert await book.credit(Purchase(9002, 42, sku_id=2222)) is None
    test_mode = await book.credit(Purchase(9003, 42, sku_id=PACK, test=True))
    assert test_mode is not None and test_mode.balance == 100
    [latest, first] = await book.history(42, 2)
    assert latest.test and not first.test and latest.entitlement_id == 9003
    assert await backend.store.disagreements() == []


async def test_a_refund_takes_back_what_is_left_and_records_the_shortfall(
    backend: Backend,
) -> None:
    book = wallets(backend)
    await book.credit(Purchase(7001, 42, PACK))
    ledger = backend.ledger()
    await backend.set_default(GUILD, 0)
    spent = [new_job(42, prompt=f"shot {n}") for n in range(4)]
    for job in spent:
        assert (await ledger.take(job)).paid_from is PaidFrom.WALLET
    assert await book.balance(42) == 30
    refund = await book.refund_purchase(7001)
    assert (refund.taken, refund.shortfall, refund.balance) == (30, 20, 0)
    assert not (await book.refund_purchase(7001)).applied  # once
    sales = await book.month_sales()
    assert (sales.sold, sales.credits, sales.refunded, sales.refunded_credits) == (1, 50, 1, 50)
    assert sales.shortfall == 20
    assert await backend.store.disagreements() == []


async def test_a_video_is_paid_whole_from_the_server_else_from_the_wallet(
    backend: Backend,
) -> None:
    book = wallets(backend)
    await backend.set_default(GUILD, 7)  # one video's worth, and 2 over
    await book.credit(Purchase(5001, 42, PACK))
    ledger = backend.ledger()
    first, second = new_job(42, prompt="one"), new_job(42, prompt="two")
    made = await ledger.take(first)
    assert (made.paid_from, made.balance) == (PaidFrom.SERVER, 2)
    made = await ledger.take(second)
    assert (made.paid_from, made.balance) == (PaidFrom.WALLET, 45)
    assert await ledger.balance(GUILD, 42) == 2  # the server's credits untouched
    await backend.submitted(second.id)
    refunded = await ledger.refund(second.id, "failed")
    assert refunded.applied and refunded.balance == 50  # back to the wallet
    stored = await backend.jobs.require(second.id)
    assert stored.paid_from is PaidFrom.WALLET and stored.state is JobState.FAILED
    assert await backend.store.disagreements() == []


async def test_on_the_members_own_account_only_the_wallet_pays(backend: Backend) -> None:
    book = wallets(backend)
    await backend.set_default(personal_space(42), 1000)  # never read for a personal request
    ledger = backend.ledger()
    job = new_job(42, guild_id=personal_space(42))
    with pytest.raises(InsufficientCredits) as refused:
        await ledger.take(job)
    assert refused.value.personal and refused.value.balance == 0
    await book.credit(Purchase(4001, 42, PACK))
    made = await ledger.take(job)
    assert (made.paid_from, made.balance) == (PaidFrom.WALLET, 45)
    assert await backend.store.stored_balance(personal_space(42), 42) is None


async def test_the_cap_counts_wallets_and_the_budget_does_not(backend: Backend) -> None:
    book = wallets(backend)
    await backend.set_default(GUILD, 0)
    await backend.set_cap(GUILD, 3 * PRICE)
    for member in (1, 2):
        await book.credit(Purchase(3000 + member, member, PACK))
    ledger = backend.ledger(policy=OwnerPolicy(default_budget=0))  # the owner allows nothing
    for n in range(3):  # all from wallets: the budget of 0 does not count them
        assert (await ledger.take(new_job(n % 2 + 1, prompt=f"w{n}"))).paid_from is (
            PaidFrom.WALLET
        )
    with pytest.raises(CapReached):
        await ledger.take(new_job(1, prompt="over the cap"))
    # Credits from the server are held to the owner's budget: with it spent, a member's
    # wallet pays, and without one the budget is the refusal.
    await backend.set_cap(GUILD, 1000)
    for member in (2, 3):
        await ledger.add_credits(GUILD, member, 10, actor_id=9)
    made = await ledger.take(new_job(2, prompt="from the wallet instead"))
    assert made.paid_from is PaidFrom.WALLET
    with pytest.raises(BudgetReached):
        await ledger.take(new_job(3, prompt="from the server"))
    assert await backend.store.disagreements() == []


async def test_a_gift_from_the_owner_is_a_ledger_row(backend: Backend) -> None:
    book = wallets(backend)
    assert await book.gift(42, 25, actor_id=0, reason="for the contest") == 25
    [gift] = await book.history(42, 5)
    assert (gift.kind.value, gift.delta, gift.reason) == ("gift", 25, "for the contest")
    with pytest.raises(ValueError, match="from 1 to"):
        await book.gift(42, 0, actor_id=0, reason="")
