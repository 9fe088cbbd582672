"""How often anyone may start a login or come back from Discord, per client address and for the
whole bot; and when Discord's token endpoint may be asked again after it said to wait.

Every callback that passes reaches Discord's token endpoint with the application's secret, and
Discord bans an address for a while after too many refused answers, which would take the bot
offline for every server: so callbacks are the scarce thing, counted here before anything else
is done with them, and refusals cost one log line a minute.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

ADDRESSES_KEPT: Final = 4096


@dataclass
class Bucket:
    """`rate` tokens a second, up to `burst`."""

    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def wait(self) -> float:
        """Seconds until the next token."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimit:
    """A bucket per client address and one for everyone."""

    def __init__(
        self,
        *,
        per_minute: float,
        burst: float,
        overall_per_minute: float,
        overall_burst: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate, self._burst = per_minute / 60, burst
        self._clock = clock
        self._addresses: OrderedDict[str, Bucket] = OrderedDict()
        self._overall = Bucket(overall_per_minute / 60, overall_burst, overall_burst, clock())

    def allow(self, address: str) -> float | None:
        """None when this request may go on; else the seconds to wait before trying again."""
        now = self._clock()
        bucket = self._addresses.pop(address, None) or Bucket(
            self._rate, self._burst, self._burst, now
        )
        self._addresses[address] = bucket
        while len(self._addresses) > ADDRESSES_KEPT:
            self._addresses.popitem(last=False)
        if not bucket.take(now):
            return max(1.0, bucket.wait())
        if not self._overall.take(now):
            bucket.tokens += 1  # not this address's fault: its own token back
            return max(1.0, self._overall.wait())
        return None


class Gate:
    """Closed for as long as Discord last said to wait (its Retry-After)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open_at = 0.0

    def wait(self) -> float | None:
        """None when open; else the seconds left."""
        left = self._open_at - self._clock()
        return None if left <= 0 else left

    def close_for(self, seconds: float) -> None:
        self._open_at = max(self._open_at, self._clock() + seconds)


def client_address(request: web.Request) -> str:
    """Who is asking: the peer's address, or, behind a reverse proxy on this machine, the
    address that proxy says it serves (the last one it added)."""
    peer = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and peer in ("127.0.0.1", "::1"):
        return forwarded.rsplit(",", 1)[-1].strip() or peer
    return peer
