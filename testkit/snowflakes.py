from __future__ import annotations

import itertools
import time

DISCORD_EPOCH_MS = 1420070400000
_counter = itertools.count(1)


def snowflake(at: float | None = None) -> int:
    """A Discord id whose embedded time is `at` (seconds since the Unix epoch), or now."""
    moment_ms = int((time.time() if at is None else at) * 1000)
    return ((moment_ms - DISCORD_EPOCH_MS) << 22) | (next(_counter) % 4096)
