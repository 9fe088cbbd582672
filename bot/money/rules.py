"""The vocabulary of money: ledger entries and the outcomes of money moves, shared by the
ledger and every store that keeps it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from bot.errors import CapReached, InsufficientCredits
from bot.jobs.records import JobState, PaidFrom
from bot.money.allowances import Allowance, applicable, month_after, next_period_start, period_key


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


@dataclass(frozen=True, slots=True)
class BalanceChange:
    """The outcome of an admin change: what moved and what is left."""

    delta: int
    balance: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """A reservation made: the balance it was taken from, what is left of it, and all servers'
    spend this month after it (what the whole bot's limit counts)."""

    balance: int
    month_spent: int
    paid_from: PaidFrom = PaidFrom.SERVER


@dataclass(frozen=True, slots=True)
class Settlement:
    """A job's final money move; `applied` is False when another call had already made it."""

    applied: bool
    balance: int
    price: int = 0


# -- decisions every store takes the same way ---------------------------------------------------

# Within this time, a second job from the same result and button, by the same member, is a
# double click (the same request); after it, a new one (Again twice on purpose makes two).
REPEAT_WINDOW: Final = timedelta(seconds=2)
# The most credits one admin action may set or move (a starting balance, an allowance, a
# grant), whether from Discord or the shell: far beyond any real use, far inside 64 bits.
MAX_AMOUNT: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class TopUp:
    """An allowance period has begun for this member: their balance after it, the period's
    key (so it happens once), and the allowance (for the ledger row's reason)."""

    balance: int
    key: str
    allowance: Allowance

    @property
    def reason(self) -> str:
        return f"{self.allowance.period.value} allowance of {self.allowance.amount}"


def top_up(
    allowances: Iterable[Allowance],
    role_ids: Iterable[int],
    balance: int,
    last_key: str | None,
    now: datetime,
) -> TopUp | None:
    """The top-up due now, if any: to the largest allowance that applies, never down."""
    allowance = applicable(allowances, role_ids)
    if allowance is None:
        return None
    key = period_key(allowance, now)
    if key == last_key:
        return None
    return TopUp(max(balance, allowance.amount), key, allowance)


def cap_crossed(cap: int | None, spent: int, price: int, now: datetime) -> CapReached | None:
    """The refusal when this price would take the server past its monthly cap."""
    if cap is None or spent + price <= cap:
        return None
    return CapReached(cap=cap, spent=spent, price=price, resets_at=month_after(now))


def too_poor(
    allowances: Iterable[Allowance],
    role_ids: Iterable[int],
    balance: int,
    price: int,
    now: datetime,
    *,
    server_set_up: bool = True,
    wallet: int = 0,
) -> InsufficientCredits:
    """The refusal for a balance (and a wallet) below the price, with the next top-up when one
    applies."""
    allowance = applicable(allowances, role_ids)
    refill = (
        None if allowance is None else (allowance.amount, next_period_start(allowance.period, now))
    )
    return InsufficientCredits(
        balance=balance, price=price, refill=refill, server_set_up=server_set_up, wallet=wallet
    )


def reserve_reason(resolution: str, duration: int, mark: str) -> str:
    return f"{resolution} {duration}s video{mark}"


OPENING_REASON: Final = "starting balance"


# The most of an admin's note a ledger row keeps.
NOTE_LIMIT: Final = 200


def with_note(reason: str, note: str) -> str:
    """A reason with the admin's own words after it (one line, bounded)."""
    words = " ".join(note.split())[:NOTE_LIMIT]
    return f"{reason}: {words}" if words else reason


def set_reason(amount: int, note: str = "") -> str:
    return with_note(f"balance set to {amount}", note)


def grant_reason(amount: int, note: str = "") -> str:
    return with_note(f"{'granted' if amount >= 0 else 'removed'} {abs(amount)}", note)


def charge_reason(mark: str) -> str:
    return f"video delivered{mark}"


def refund_reason(reason: str | None, mark: str) -> str:
    return (reason or "refunded")[:200] + mark


# -- what `db verify` reports, whichever store counted ------------------------------------------


def balance_problem(guild_id: int, member_id: int, balance: int, total: int) -> str:
    return (
        f"guild {guild_id} member {member_id}: balance is {balance} "
        f"but the ledger adds up to {total}"
    )


def last_row_problem(guild_id: int, member_id: int, balance_after: int, balance: int) -> str:
    return (
        f"guild {guild_id} member {member_id}: last ledger row says {balance_after}, "
        f"balance is {balance}"
    )


def job_problems(job_id: str, state: str, reserves: int, charges: int, refunds: int) -> list[str]:
    """How a job's ledger rows disagree with its state: one reservation, at most one
    settlement, and the settlement its final state calls for."""
    problems: list[str] = []
    if reserves != 1:
        problems.append(f"job {job_id}: {reserves} reservations (expected 1)")
    if charges > 1 or refunds > 1 or (charges and refunds):
        problems.append(f"job {job_id}: charged {charges} and refunded {refunds} times")
    if not JobState(state).is_final and (charges or refunds):
        problems.append(f"job {job_id} is unfinished ({state}) but was settled")
    if state == JobState.COMPLETED and charges != 1:
        problems.append(f"job {job_id} completed without a charge")
    if state == JobState.FAILED and refunds != 1:
        problems.append(f"job {job_id} failed without a refund")
    return problems


def orphan_problem(row_id: int, job_id: str) -> str:
    return f"ledger row {row_id} names job {job_id}, which does not exist"
