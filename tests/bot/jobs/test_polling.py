"""The check schedule bounds the member's wait, and one budget bounds the load on Apiframe."""

from __future__ import annotations

import asyncio
import math
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.apiframe.budget import RequestBudget
from bot.apiframe.client import BackoffGate
from bot.backoff import Backoff
from bot.jobs.polling import (
    MIN_SAMPLES,
    PollShape,
    RenderTimes,
    check_priority,
    urgency,
)
from bot.requests.rules import Resolution


def lag_of(shape: PollShape, render: float, earliest: float) -> float:
    """Seconds between a render ending and the first check that sees it."""
    elapsed = 0.0
    while True:
        elapsed += shape.next_delay(elapsed, earliest, webhooks=False)
        if elapsed >= render:
            return elapsed - render


@given(
    render=st.floats(min_value=1, max_value=3600), earliest=st.floats(min_value=0, max_value=600)
)
def test_the_wait_after_completion_is_bounded_once_a_job_could_be_done(
    render: float, earliest: float
) -> None:
    shape = PollShape(interval=4.0, early_interval=30.0)
    lag = lag_of(shape, render, earliest)
    if render >= earliest:
        assert lag <= 4.0 + 1e-9
    else:  # faster than every job of its kind seen: at most one early gap
        assert lag <= 30.0 + 1e-9


def test_p95_wait_stays_under_five_seconds_for_wide_render_times() -> None:
    rng = random.Random(8)
    renders = [math.exp(rng.uniform(math.log(40), math.log(600))) for _ in range(2000)]
    times = RenderTimes()
    times.seed((6, Resolution.P768, r) for r in renders[:200])
    earliest = times.earliest(6, Resolution.P768)
    lags = sorted(lag_of(PollShape(), r, earliest) for r in renders[200:])
    assert lags[int(0.95 * len(lags))] <= 5.0


def test_with_webhooks_checks_are_a_slow_safety_net() -> None:
    shape = PollShape(interval=4.0, webhook_interval=60.0)
    assert shape.next_delay(500.0, 0.0, webhooks=True) == 60.0


def test_render_times_start_from_the_prior_then_learn() -> None:
    times = RenderTimes(typical=180.0)
    assert times.expected(6, Resolution.P768) == 180.0
    assert times.expected(10, Resolution.P768) == 270.0
    assert times.expected(6, Resolution.P1080) == pytest.approx(216.0)
    assert times.earliest(6, Resolution.P768) == 0.0  # no history: check from the start
    for seconds in (100, 110, 120, 130, 140)[: MIN_SAMPLES - 1]:
        times.observe(6, Resolution.P768, seconds)
    assert times.expected(6, Resolution.P768) == 180.0  # too few to trust
    times.observe(6, Resolution.P768, 140)
    assert times.expected(6, Resolution.P768) == 120.0
    assert times.earliest(6, Resolution.P768) == pytest.approx(80.0)  # 0.8 of the fastest
    times.observe(6, Resolution.P768, 50)  # one fast job: later ones are checked sooner
    assert times.earliest(6, Resolution.P768) == pytest.approx(40.0)
    assert times.expected(10, Resolution.P768) == 270.0  # another kind keeps its prior


def test_urgency_puts_jobs_past_their_end_first_and_progress_only_raises_it() -> None:
    assert urgency(200, 180, None) > urgency(100, 180, None)
    assert urgency(10, 180, 90) > urgency(100, 180, None)
    assert urgency(100, 180, 1) == urgency(100, 180, None)  # a stall does not lower it


@pytest.mark.parametrize("failures", [1, 2, 5, 30, 10_000])
def test_backoff_grows_and_is_capped(failures: int) -> None:
    delay = Backoff(floor=4.0, ceiling=60.0).delay(failures)
    top = min(60.0, 4.0 * 2 ** min(failures - 1, 30))
    assert top / 2 <= delay <= top


def test_backoff_spreads_retries_out() -> None:
    delays = {round(Backoff(floor=4.0).delay(3), 3) for _ in range(50)}
    assert len(delays) > 10


async def test_the_budget_is_never_exceeded_in_any_second() -> None:
    budget = RequestBudget(50.0)
    stamps: list[float] = []

    async def request() -> None:
        await budget.acquire()
        stamps.append(time.monotonic())

    await asyncio.gather(*(request() for _ in range(120)))
    stamps.sort()
    busiest = max(sum(1 for t in stamps if start <= t < start + 1.0) for start in stamps)
    assert busiest <= 51  # rate plus the one banked token
    assert stamps[-1] - stamps[0] >= (120 - 1) / 50 * 0.9
    budget.close()


def test_under_a_full_budget_no_job_starves() -> None:
    """Two jobs, one far likelier to be done: when the budget allows one check at a time and
    each job asks again right after its check, both keep being checked."""
    due = {"likely": 0.0, "unlikely": 0.0}
    likelihood = {"likely": 5.0, "unlikely": 0.1}
    served: list[str] = []
    for tick in range(40):
        now = tick * 0.25  # one token every 0.25 s; each job wants a check every 0.05 s
        name = min(due, key=lambda n: check_priority(due[n], 0.05, likelihood[n]))
        served.append(name)
        due[name] = now + 0.05
    assert served.count("unlikely") >= 15


async def test_the_budget_serves_the_most_urgent_first() -> None:
    budget = RequestBudget(1000.0)
    budget._tokens = 0.0  # nothing banked: every waiter queues
    order: list[float] = []

    async def request(priority: float) -> None:
        await budget.acquire(priority)
        order.append(priority)

    await asyncio.gather(*(request(p) for p in (5.0, -1.0, 3.0, -9.0, 0.0)))
    assert order == [-9.0, -1.0, 0.0, 3.0, 5.0]
    budget.close()


async def test_a_429_holds_every_request_until_retry_after() -> None:
    gate = BackoffGate()
    budget = RequestBudget(1000.0, gate=gate)
    gate.close_for(0.3)
    began = time.monotonic()
    stamps: list[float] = []

    async def request() -> None:
        await budget.acquire()
        stamps.append(time.monotonic() - began)

    await asyncio.gather(*(request() for _ in range(5)))
    assert min(stamps) >= 0.29
    budget.close()
