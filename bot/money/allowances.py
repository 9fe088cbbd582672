"""Periodic allowances: which one applies to a member, and when periods begin (UTC)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

EVERYONE = 0  # the role id stored for an allowance without a role


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class Allowance:
    role_id: int  # EVERYONE, or the role whose holders get it
    amount: int
    period: Period


def period_start(period: Period, now: datetime) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAILY:
        return day
    if period is Period.WEEKLY:
        return day - timedelta(days=day.weekday())  # Mondays, as ISO weeks
    return day.replace(day=1)


def next_period_start(period: Period, now: datetime) -> datetime:
    start = period_start(period, now)
    if period is Period.DAILY:
        return start + timedelta(days=1)
    if period is Period.WEEKLY:
        return start + timedelta(days=7)
    return month_after(start)


def month_after(moment: datetime) -> datetime:
    first = moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


def period_key(allowance: Allowance, now: datetime) -> str:
    """Names the period a top-up belongs to; a new key means a new top-up is due."""
    start = period_start(allowance.period, now)
    return f"{allowance.period.value}:{allowance.amount}:{start.date().isoformat()}"


def applicable(allowances: Iterable[Allowance], role_ids: Iterable[int]) -> Allowance | None:
    """The largest allowance the member qualifies for, if any."""
    held = {EVERYONE, *role_ids}
    candidates = [a for a in allowances if a.role_id in held and a.amount > 0]
    return max(candidates, key=lambda a: (a.amount, a.period != Period.MONTHLY), default=None)
