"""What a video costs members, per model and variant, in the same credits Apiframe charges the
owner: Apiframe's published prices by default, any of them changed by the owner
(`VIDEO_PRICES`).

Hailuo 2.3 Fast has no published Apiframe price: members pay Hailuo 2.3's for it until the
owner says otherwise. Whatever members pay, every finished job also records what Apiframe
billed for it (`creditCost`), so `/quota show` can set one beside the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from bot.requests.rules import Model, Resolution, VideoSpec

Variant = tuple[Model, Resolution, int]  # model, resolution, duration in seconds

APIFRAME_CREDITS: Final[dict[Variant, int]] = {
    (Model.HAILUO_02, Resolution.P768, 6): 5,
    (Model.HAILUO_02, Resolution.P768, 10): 8,
    (Model.HAILUO_02, Resolution.P1080, 6): 10,
    (Model.HAILUO_23, Resolution.P768, 6): 5,
    (Model.HAILUO_23, Resolution.P768, 10): 10,
    (Model.HAILUO_23, Resolution.P1080, 6): 10,
}
DEFAULT_PRICES: Final[dict[Variant, int]] = {
    **APIFRAME_CREDITS,
    **{
        (Model.HAILUO_23_FAST, resolution, duration): price
        for (model, resolution, duration), price in APIFRAME_CREDITS.items()
        if model is Model.HAILUO_23
    },
}
MAX_PRICE: Final = 1000
PRICE_ENTRY: Final = re.compile(
    r"^\s*(?P<model>[a-z0-9.\-]+)\s+(?P<resolution>\d+p)\s+(?P<duration>\d+)\s*s?\s*=\s*"
    r"(?P<credits>\d+)\s*$",
    re.IGNORECASE,
)
PRICE_EXAMPLE: Final = "hailuo-2.3-fast 768p 6s=4, hailuo-02 1080p 6s=12"


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Members' price of every variant offered; a variant not in it is not offered."""

    prices: Mapping[Variant, int] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def of(self, spec: VideoSpec) -> int:
        """The credits a validated request costs. Every valid spec has a price."""
        return self.prices[(spec.model, spec.resolution, spec.duration)]

    def cheapest(self) -> int:
        return min(self.prices.values())

    @classmethod
    def with_overrides(cls, text: str | None) -> PriceTable:
        """The defaults with the owner's changes (`VIDEO_PRICES`); `ValueError` in words that
        name the entry and the fix."""
        return cls({**DEFAULT_PRICES, **parse_prices(text or "")})


def parse_prices(text: str) -> dict[Variant, int]:
    """`"hailuo-2.3-fast 768p 6s=4, hailuo-02 1080p 6s=12"` as prices of variants; a
    `ValueError` names the entry by its place, in words, without repeating it."""
    found: dict[Variant, int] = {}
    for place, entry in enumerate(filter(str.strip, text.split(",")), start=1):
        which = f"its {ordinal(place)} price"
        match = PRICE_ENTRY.match(entry)
        if match is None:
            raise ValueError(
                f"{which} cannot be read: write each price as model resolution "
                f"duration=credits, separated by commas, such as {PRICE_EXAMPLE}"
            )
        try:
            model = Model(match["model"].lower())
        except ValueError:
            names = ", ".join(model.value for model in Model)
            raise ValueError(f"{which} names no model: use one of {names}") from None
        try:
            resolution = Resolution(match["resolution"].lower())
        except ValueError:
            raise ValueError(f"{which} names no resolution: use 768p or 1080p") from None
        variant = (model, resolution, int(match["duration"]))
        if variant not in DEFAULT_PRICES:
            raise ValueError(
                f"{which} is for a video Apiframe does not make: 768p is 6 or 10 s, 1080p 6 s"
            )
        price = int(match["credits"])
        if not 1 <= price <= MAX_PRICE:
            raise ValueError(f"{which} must be from 1 to {MAX_PRICE} credits")
        found[variant] = price
    return found


def ordinal(place: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(place, f"{place}th")


def check_prices(text: str) -> None:
    """For the settings: `VIDEO_PRICES` is readable (a `ValueError` in words if not)."""
    parse_prices(text)


DEFAULT_TABLE: Final = PriceTable()


def price_of(spec: VideoSpec, table: PriceTable = DEFAULT_TABLE) -> int:
    """The credits a validated request costs under `table` (Apiframe's prices by default)."""
    return table.of(spec)
