"""The one backoff policy: how long to wait before trying again after failures.

Exponential from `floor`, capped at `ceiling`, with "equal jitter" (a random wait between half
and all of the step), so that many jobs failing together do not all retry together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    floor: float
    ceiling: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` failed tries in a row (1 or more)."""
        step = min(max(self.floor, self.ceiling), self.floor * 2 ** min(max(failures, 1) - 1, 30))
        return random.uniform(step / 2, step)
