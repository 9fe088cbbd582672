"""When to ask Apiframe about a job again.

Two figures matter, not the number of calls per job: how long a member waits after their video
exists, and how hard the bot leans on Apiframe. So:

- Once a job could plausibly be finished, it is checked every `interval` seconds (4 s by
  default), which bounds the wait after completion to about that, whatever the render time and
  whether Apiframe reports progress or not. Progress is never extrapolated into a longer wait:
  a percentage that stalls and then jumps to done would otherwise leave a finished video unseen.
- Before that moment (learned from the bot's own finished jobs: 80% of the fastest recent render
  of the same resolution and duration), checks are sparse, only to keep the card's progress
  alive.
- Every request to Apiframe passes one budget (`bot/apiframe/budget.py`). When more checks are
  due than it allows, the ones most likely to find a finished video (furthest into or past
  their expected render) go first: `check_priority` below orders them.
- With Apiframe's webhooks on, a job is checked right after its news arrives, and otherwise only
  once a minute, as a safety net.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from bot.requests.rules import Resolution

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

# A check of a job likely to be done may jump ahead of the queue by this many check intervals.
MAX_HEAD_START: Final = 3.0

RenderKind = tuple[int, Resolution]


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
