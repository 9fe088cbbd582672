"""When to ask Apiframe about a job again, and how every request shares one rate budget.

Two figures matter, not the number of calls per job: how long a member waits after their video
exists, and how hard the bot leans on Apiframe. So:

- Once a job could plausibly be finished, it is checked every `interval` seconds (4 s by
  default), which bounds the wait after completion to about that, whatever the render time and
  whether Apiframe reports progress or not. Progress is never extrapolated into a longer wait:
  a percentage that stalls and then jumps to done would otherwise leave a finished video unseen.
- Before that moment (learned from the bot's own finished jobs: 80% of the fastest recent render
  of the same resolution and duration), checks are sparse, only to keep the card's progress
  alive.
- Every request to Apiframe passes one `RequestBudget`: a token bucket of
  `APIFRAME_MAX_REQUESTS_PER_SECOND`. When more checks are due than the budget allows, the ones
  most likely to find a finished video (furthest into or past their expected render) go first,
  and a 429 closes the gate for everyone at once.
- With Apiframe's webhooks on, a job is checked right after its news arrives, and otherwise only
  once a minute, as a safety net.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import statistics
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

from bot.rules import Resolution

# Apiframe's figures: about 180 s for a 6 s clip; 10 s clips and 1080p take longer.
TYPICAL_RENDER_SECONDS: Final = 180.0
LONGER_CLIP_FACTOR: Final = 1.5
HIGHER_RESOLUTION_FACTOR: Final = 1.2
# Learned figures need this many finished jobs of a kind before they replace the prior.
MIN_SAMPLES: Final = 5
SAMPLES_KEPT: Final = 200
# A job is first thought finishable at this share of the fastest render of its kind seen lately.
# The fastest, not a percentile: with a wide mix of render times, a percentile would leave the
# jobs faster than it waiting a long gap after they finished.
EARLIEST_SHARE: Final = 0.8

# Budget priorities: lower goes first.
PRIORITY_ACCOUNT: Final = -3.0e9  # submits and uploads: a member is waiting on the answer
PRIORITY_NEWS: Final = -2.0e9  # a webhook said the job changed
PRIORITY_BACKGROUND: Final = 0.0
# A check of a job likely to be done may jump ahead of the queue by this many check intervals.
MAX_HEAD_START: Final = 3.0

RenderKind = tuple[int, Resolution]


class Gate(Protocol):
    """Closed for a while after a 429 (see `bot.apiframe.BackoffGate`)."""

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


@dataclass
class RenderTimes:
    """How long Apiframe takes, per duration and resolution: a prior, then what was seen.

    Seeded at start-up from the bot's own finished jobs (their submit-to-finish times, kept in
    the job rows) and fed each new completion, so the schedule follows Apiframe's real pace.
    """

    typical: float = TYPICAL_RENDER_SECONDS
    samples: dict[RenderKind, deque[float]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=SAMPLES_KEPT))
    )

    def prior(self, duration: int, resolution: Resolution) -> float:
        seconds = self.typical
        if duration >= 10:
            seconds *= LONGER_CLIP_FACTOR
        if resolution is Resolution.P1080:
            seconds *= HIGHER_RESOLUTION_FACTOR
        return seconds

    def observe(self, duration: int, resolution: Resolution, seconds: float) -> None:
        if seconds > 0 and math.isfinite(seconds):
            self.samples[(duration, resolution)].append(seconds)

    def seed(self, finished: Iterable[tuple[int, Resolution, float]]) -> None:
        for duration, resolution, seconds in finished:
            self.observe(duration, resolution, seconds)

    def _seen(self, duration: int, resolution: Resolution) -> list[float] | None:
        seen = self.samples.get((duration, resolution))
        return sorted(seen) if seen is not None and len(seen) >= MIN_SAMPLES else None

    def expected(self, duration: int, resolution: Resolution) -> float:
        """The usual render time: the median of what was seen, else the prior."""
        seen = self._seen(duration, resolution)
        return statistics.median(seen) if seen else self.prior(duration, resolution)

    def earliest(self, duration: int, resolution: Resolution) -> float:
        """From when a job of this kind could plausibly be finished. Zero until enough jobs
        were seen: a bot with no history checks from the start."""
        seen = self._seen(duration, resolution)
        return seen[0] * EARLIEST_SHARE if seen else 0.0


@dataclass(frozen=True, slots=True)
class PollShape:
    """The gaps between checks of one job."""

    interval: float = 4.0  # once the job may be done: this bounds the member's wait
    early_interval: float = 30.0  # before that: only to keep the progress shown fresh
    webhook_interval: float = 60.0  # with webhooks on: a safety net

    def next_delay(self, elapsed: float, earliest: float, *, webhooks: bool) -> float:
        """Seconds from now to the next check of a job `elapsed` seconds into its render."""
        if webhooks:
            return max(self.interval, self.webhook_interval)
        until_plausible = earliest - elapsed
        if until_plausible > self.interval:
            return min(until_plausible, max(self.interval, self.early_interval))
        return self.interval


def check_priority(due: float, interval: float, likelihood: float) -> float:
    """The budget priority of a routine check that fell due at `due` (monotonic seconds).

    Checks are served in the order they fell due, so under a saturated budget every job keeps
    being checked in turn and none starves; a job likely to be done (see `urgency`) gets a head
    start of up to `MAX_HEAD_START` intervals.
    """
    return due - interval * min(max(likelihood, 0.0), MAX_HEAD_START)


def urgency(elapsed: float, expected: float, progress: int | None) -> float:
    """How likely a check is to find the job done; higher goes first when checks must queue.

    Past its expected end a job is the likeliest; a reported percentage only ever raises this.
    """
    share = elapsed / expected if expected > 0 else 1.0
    if progress is not None:
        share = max(share, progress / 100)
    return share
