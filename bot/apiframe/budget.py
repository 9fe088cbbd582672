"""One budget for every request to Apiframe, however many jobs are in flight.

A token bucket of `APIFRAME_MAX_REQUESTS_PER_SECOND`: when more requests are due than it
allows, they leave by priority (lower first: a member waiting on a submit, then news from a
webhook, then routine checks in the order `bot/jobs/polling.py` gives them), and a 429 closes
the gate for everyone at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

# Budget priorities: lower goes first.
PRIORITY_ACCOUNT: Final = -3.0e9  # submits and uploads: a member is waiting on the answer
PRIORITY_NEWS: Final = -2.0e9  # a webhook said the job changed
PRIORITY_BACKGROUND: Final = 0.0


class Gate(Protocol):
    """Closed for a while after a 429 (see `bot.apiframe.client.BackoffGate`)."""

    async def wait(self) -> None: ...


class RequestBudget:
    """A token bucket shared by every request to Apiframe, serving waiters by priority.

    `rate` tokens a second, at most `burst` banked: over any second no more than
    `rate + burst - 1` requests leave, and a steady load leaves evenly spaced. While the gate is
    closed (a 429's Retry-After), no token is handed out at all, so the waiting requests do not
    rush out together when it opens.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        gate: Gate | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the request budget must be positive")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._gate = gate
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._stamp = clock()
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self.granted = 0

    @property
    def waiting(self) -> int:
        return sum(1 for *_, future in self._waiters if not future.done())

    async def acquire(self, priority: float = PRIORITY_BACKGROUND) -> None:
        """Wait for this request's turn: lowest `priority` first, then first come."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="apiframe-budget")
        await future

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
        for *_, future in self._waiters:
            future.cancel()
        self._waiters.clear()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def _dispatch(self) -> None:
        while self._waiters:
            if self._gate is not None:
                await self._gate.wait()
            self._refill()
            if self._tokens < 1.0:
                await self._sleep((1.0 - self._tokens) / self.rate)
                continue
            while self._waiters:
                *_, future = heapq.heappop(self._waiters)
                if not future.done():
                    self._tokens -= 1.0
                    self.granted += 1
                    future.set_result(None)
                    break
            # Let the granted request go out before the next grant is weighed.
            await asyncio.sleep(0)
