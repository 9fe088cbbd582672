"""What a video costs, in the same credits Apiframe charges the owner."""

from __future__ import annotations

from typing import Final

from bot.requests.rules import Resolution, VideoSpec

PRICES: Final[dict[tuple[Resolution, int], int]] = {
    (Resolution.P768, 6): 5,
    (Resolution.P768, 10): 8,
    (Resolution.P1080, 6): 10,
}


def price_of(spec: VideoSpec) -> int:
    """The credits a validated request costs. Every valid spec has a price."""
    return PRICES[(spec.resolution, spec.duration)]
