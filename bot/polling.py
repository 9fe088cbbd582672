"""When to ask Apiframe about a job again: shaped by when it can be expected to finish.

Polling at a fixed 5 s costs about 36 calls for a typical 180 s render. Instead, each wait is a
fraction of the time the job still needs: estimated from its progress when Apiframe reports
one, or else from the usual render time for its length and resolution. Far from the end the
waits are long; near it they shrink to the floor, so the result is seen soon after it exists.
Past the expected end with no progress to go on, the waits grow again, gently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.rules import Resolution

# Apiframe's figures: about 180 s for a 6 s clip; 10 s clips and 1080p take longer.
TYPICAL_RENDER_SECONDS: Final = 180.0
LONGER_CLIP_FACTOR: Final = 1.5
HIGHER_RESOLUTION_FACTOR: Final = 1.2
APPROACH: Final = 0.6  # wait this share of the estimated remaining time
OVERDUE_GROWTH: Final = 0.15  # past the estimate, wait this share of the overrun


@dataclass(frozen=True, slots=True)
class PollShape:
    floor: float = 5.0  # never ask about one job more often than this
    ceiling: float = 60.0  # never leave a job unasked for longer than this
    typical_render: float = TYPICAL_RENDER_SECONDS

    def expected_render(self, duration: int, resolution: Resolution) -> float:
        seconds = self.typical_render
        if duration >= 10:
            seconds *= LONGER_CLIP_FACTOR
        if resolution is Resolution.P1080:
            seconds *= HIGHER_RESOLUTION_FACTOR
        return seconds

    def next_delay(self, elapsed: float, progress: int | None, expected: float) -> float:
        """Seconds to wait before the next poll of a job `elapsed` seconds into its render."""
        if progress is not None and 0 < progress < 100 and elapsed > 0:
            remaining = elapsed * (100 - progress) / progress
        else:
            remaining = expected - elapsed
        delay = (remaining * APPROACH if remaining > 0
                 else self.floor + OVERDUE_GROWTH * -remaining)
        return min(self.ceiling, max(self.floor, delay))
